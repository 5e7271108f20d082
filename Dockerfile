# CPU image that serves the app. Build: docker build -t docqa .
# Run:   docker run -p 127.0.0.1:8501:8501 -v docqa-data:/data docqa   then open http://127.0.0.1:8501
# Add documents: docker run --rm -v docqa-data:/data -v "$PWD/my-docs:/in:ro" docqa python -m ingest add /in
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAG_DATA_DIR=/data \
    RAG_MODELS_DIR=/opt/models

WORKDIR /app

# Tesseract reads scanned PDF pages (RAG_OCR).
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*

# torch from the PyTorch CPU index first: PyPI's default torch wheel is the multi-GB CUDA build.
# requirements.txt pins torch==2.13.0, which the CPU build (2.13.0+cpu) satisfies, so it is not replaced.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt

COPY . .
# Fetch, verify and convert the bundled generator at build time: the container needs no network at run time.
RUN python -m rag provision

RUN useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
USER app
VOLUME /data
EXPOSE 8501

# Inside the container the app must listen on all interfaces; publish it on 127.0.0.1 (see above) to keep it local.
CMD ["sh", "-c", "python -m ingest add --if-empty docs && exec python -m ui --server.address 0.0.0.0"]
