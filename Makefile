# `make run` serves the app, `make test` runs every test (`make test-fast`: the fast unit subset). Both set
# everything up from a clean clone: a virtual environment in .venv with the pinned packages, and the bundled
# models in data/models.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run api worker evaluator test test-fast models lint bench chromium ocr postgres clean

run: models ocr
	$(PY) -m ingest add --if-empty docs
	$(PY) -m ui

# The HTTP API on http://127.0.0.1:8000 (docs at /docs); keys: `.venv/bin/python -m rag keys create USER`.
api: models
	$(PY) -m rag api

# An ingestion worker without the app (several may run, on any host sharing the database and the store).
worker: models
	$(PY) -m ingest worker

# The evaluation service: runs the evaluations the Reports page starts or schedules.
evaluator: models
	$(PY) -m eval scheduler

test: $(VENV)/.dev models chromium ocr postgres
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

# The unit subset for the edit-test loop: no model loads, no subprocesses, no browser (about 30 s on 2 cores).
test-fast: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow"

models: $(VENV)/.runtime
	$(PY) -m rag provision

bench: models
	$(PY) -m eval bench

lint: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# llama-cpp-python builds from source with cmake and g++ (about 3.5 min on 2 cores; LLAVA_BUILD=OFF skips the
# multimodal library). GGML_OPENMP=OFF: llama.cpp's own thread pool, since sharing OpenMP with torch halved its
# decoding speed once torch had run (147 -> 77-86 tokens/s). The build lives in .venv: later runs reuse it.
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Scanned PDF pages are read with Debian's tesseract-ocr (RAG_OCR); without it they are refused with a message.
ocr:
	@command -v tesseract >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tesseract-ocr; }

# The browser test drives Debian's chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The tests of several hosts start a throwaway server from Debian's postgresql package (never the system's own).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq postgresql; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
