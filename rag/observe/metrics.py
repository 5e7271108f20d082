"""Prometheus metrics of one process (prometheus-client's default registry): what the answer path, the
generation engine and the ingestion worker did. Served on the API's /metrics and, for the Streamlit process, on
RAG_METRICS_PORT (`serve_metrics`). Names start with `docqa_`; none carries question or document text."""

import logging
import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)
_LATENCY = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

QUESTIONS = Counter("docqa_questions", "Questions answered, by outcome: answered, abstained, refused.", ["outcome"])
CACHE_HITS = Counter("docqa_answer_cache_hits", "API answers served from the answer cache.")
ERRORS = Counter("docqa_errors", "Requests that failed, by kind (invalid_question, busy, not_found, ...).", ["kind"])
RETRIEVAL_SECONDS = Histogram("docqa_retrieval_seconds", "Time to retrieve a question's passages.", buckets=_FAST)
FIRST_TOKEN_SECONDS = Histogram(
    "docqa_first_token_seconds", "From the question to the first piece of the answer.", buckets=_LATENCY
)
ANSWER_SECONDS = Histogram("docqa_answer_seconds", "From the question to the finished answer.", buckets=_LATENCY)
GENERATED_TOKENS = Histogram(
    "docqa_generated_tokens", "Tokens the model generated per answer.", buckets=(0, 16, 32, 64, 128, 256, 512, 1024)
)
ENGINE_WAITING = Gauge("docqa_engine_queue_depth", "Generation requests waiting for the engine.")
ENGINE_RUNNING = Gauge("docqa_engine_running", "Generation requests in the engine's running batch.")
ENGINE_BATCH = Histogram(
    "docqa_engine_batch_size", "Requests generated together, per engine step.", buckets=(1, 2, 4, 8, 16, 32, 64)
)
JOBS = Counter("docqa_ingest_jobs", "Ingestion jobs finished by this process, by state: done, failed.", ["state"])
JOBS_IN_QUEUE = Gauge("docqa_ingest_jobs_in_queue", "Ingestion jobs in the shared queue, by state.", ["state"])
CHUNKS = Counter("docqa_ingest_chunks", "Chunks embedded and stored by this process's worker.")
INGEST_SECONDS = Histogram(
    "docqa_ingest_job_seconds", "Time a worker spent on an ingestion job.", buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300)
)

_served: set[tuple[str, int]] = set()
_lock = threading.Lock()


def outcome(abstained: bool, refused: bool) -> str:
    return "refused" if refused else "abstained" if abstained else "answered"


def serve_metrics(host: str, port: int) -> None:
    """Serve /metrics on host:port from this process (once per address, however often it is called)."""
    with _lock:
        if (host, port) in _served:
            return
        start_http_server(port, addr=host)
        _served.add((host, port))
    log.info("metrics served", extra={"address": f"http://{host}:{port}/metrics"})
