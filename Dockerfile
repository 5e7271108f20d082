# CPU image that serves the app (default) or the HTTP API. Build: docker build -t docqa .
# App:   docker run -p 127.0.0.1:8501:8501 -v docqa-data:/data docqa   then open http://127.0.0.1:8501
# API:   docker run -p 127.0.0.1:8000:8000 -v docqa-data:/data docqa python -m rag api --host 0.0.0.0
# Add documents: docker run --rm -v docqa-data:/data -v "$PWD/my-docs:/in:ro" docqa python -m ingest add /in
# Several services (app, API, a Chroma server, a model server): see compose.yaml.

# llama-cpp-python builds from source: compile it once in a stage with the compilers, keep only the wheel.
FROM python:3.11-slim AS wheels
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
# GGML_NATIVE=OFF: the wheel runs on any x86-64 CPU, not only the build machine's; no OpenMP (see Makefile).
RUN CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF -DGGML_NATIVE=OFF" \
    pip wheel --no-deps --wheel-dir /wheels llama-cpp-python==0.3.36

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAG_DATA_DIR=/data \
    RAG_MODELS_DIR=/opt/models

WORKDIR /app

# Tesseract reads scanned PDF pages (RAG_OCR); curl is for health checks.
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr curl \
    && rm -rf /var/lib/apt/lists/*

# torch from the PyTorch CPU index first: PyPI's default torch wheel is the multi-GB CUDA build.
# requirements.txt pins torch==2.13.0, which the CPU build (2.13.0+cpu) satisfies, so it is not replaced.
COPY requirements.txt .
COPY --from=wheels /wheels /wheels
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --find-links /wheels -r requirements.txt && rm -rf /wheels

COPY . .
# Fetch, verify and convert the bundled generator at build time: the container needs no network at run time.
RUN python -m rag provision

RUN useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
USER app
VOLUME /data
EXPOSE 8501 8000

# Inside the container the app must listen on all interfaces; publish it on 127.0.0.1 (see above) to keep it local.
CMD ["sh", "-c", "python -m ingest add --if-empty docs && exec python -m ui --server.address 0.0.0.0"]
