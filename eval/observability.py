"""What structured logs and metrics add to one answer (`eval bench`): everything the answer path does for them,
repeated and timed with JSON lines written at INFO to /dev/null, as a share of the measured answer time.

Per answer: the finished answer's counters, histograms and its "answered" log line (RagPipeline.observe), the
retrieval histogram, one batch-size observation per generated token (the engine's step), and the API's
"request" log line. The answer path has no other logging or metrics work.
"""

import logging
import os
import statistics
import time
from typing import Any

from rag.observe import metrics
from rag.observe.logs import remove_logging, request_scope, setup_logging
from rag.pipeline import RagPipeline
from rag.types import Answer


def observability_cost(pipeline: RagPipeline, answer: Answer, answer_s: float, repeats: int = 300) -> dict[str, Any]:
    api_log = logging.getLogger("api")
    steps = max(answer.new_tokens, 1)
    timings = []
    with open(os.devnull, "w", encoding="utf-8") as sink:
        setup_logging(pipeline.settings, "bench", "INFO", stream=sink)
        try:
            for _ in range(repeats):
                started = time.perf_counter()
                with request_scope():
                    metrics.RETRIEVAL_SECONDS.observe(0.01)
                    for _ in range(steps):
                        metrics.ENGINE_BATCH.observe(1)
                    pipeline.observe(answer)
                    api_log.info("request", extra={"method": "POST", "route": "/v1/ask", "status": 200,
                                                   "seconds": answer_s})  # fmt: skip
                timings.append(time.perf_counter() - started)
        finally:
            remove_logging()
    per_answer = statistics.median(timings)
    return {"per_answer_ms": round(per_answer * 1000, 3), "answer_s": round(answer_s, 3),
            "share_of_answer": round(per_answer / answer_s, 6), "observations_per_answer": steps + 6}  # fmt: skip
