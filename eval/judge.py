"""The judge for RAGAS's LLM metrics: an OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, a hosted
API) or a local model served in-process by `serving.generator_server` with JSON-schema-constrained decoding.

Its identity goes into every report. No judge, or one that cannot be reached, means the LLM metrics are
reported as not computed; nothing else is put in their place.
"""

import asyncio
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # before ragas is imported: no usage tracking calls

import uvicorn
from openai import AsyncOpenAI, OpenAI
from ragas.embeddings import HuggingFaceEmbeddings
from ragas.llms import llm_factory
from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness

from rag.backends import shared_engine
from rag.models import embedding_model_path
from rag.settings import BUNDLED, Settings, public_url
from serving.generator_server import ServeLimits, make_app

METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall"]


class JudgeUnavailableError(RuntimeError):
    """No judge could be set up; the message says why (it is written into the report)."""


@dataclass
class Judge:
    identity: str  # e.g. "openai-compatible http://127.0.0.1:8001/v1, model SmolLM2-135M-Instruct"
    metrics: dict[str, Any]

    def score(self, question: str, answer: str, contexts: list[str], reference: str | None) -> dict[str, Any]:
        """Each metric's value, or the reason it failed or was skipped for this item."""
        return asyncio.run(self._score(question, answer, contexts, reference))

    async def _score(self, question: str, answer: str, contexts: list[str], reference: str | None) -> dict[str, Any]:
        arguments = {
            "faithfulness": {"user_input": question, "response": answer, "retrieved_contexts": contexts},
            "answer_relevancy": {"user_input": question, "response": answer},
            "context_precision": {"user_input": question, "reference": reference, "retrieved_contexts": contexts},
            "context_recall": {"user_input": question, "retrieved_contexts": contexts, "reference": reference},
        }
        scores: dict[str, Any] = {}
        for name, metric in self.metrics.items():
            if name in ("context_precision", "context_recall") and not reference:
                scores[name] = "skipped: no reference answer"
                continue
            try:
                result = await metric.ascore(**arguments[name])
                scores[name] = round(float(result.value), 4)
            except Exception as err:  # a judge failure is recorded per item, never replaced by a number
                reason = " ".join(str(err).split())[:300]
                scores[name] = f"failed: {type(err).__name__}: {reason}"
        return scores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_local_server(settings: Settings) -> str:
    """Serve the judge model (RAG_JUDGE_MODEL, default the generator) on a free local port; its base URL."""
    model = settings.judge_model or settings.generator_model
    # transformers: JSON replies are constrained by lm-format-enforcer (rag/constrained.py), as tested for RAGAS
    generator = shared_engine(
        settings.model_copy(update={"generator_model": model, "generator_backend": "transformers"})
    )
    limits = ServeLimits.from_settings(settings)
    limits = replace(limits, max_tokens=max(limits.max_tokens, settings.judge_max_tokens))
    port = _free_port()
    config = uvicorn.Config(make_app(generator, limits), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True, name="local-judge").start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"


def make_judge(settings: Settings, kind: str, metrics: list[str] | None = None) -> Judge:
    """kind: `endpoint` (RAG_JUDGE_BASE_URL + RAG_JUDGE_MODEL) or `local`. Raises JudgeUnavailableError."""
    if kind == "endpoint":
        if not settings.judge_base_url or not settings.judge_model:
            raise JudgeUnavailableError("no judge configured (set RAG_JUDGE_BASE_URL and RAG_JUDGE_MODEL)")
        base_url, model = settings.judge_base_url, settings.judge_model
    elif kind == "local":
        base_url = start_local_server(settings)
        model = settings.judge_model or settings.generator_model
    else:
        raise JudgeUnavailableError(f"unknown judge '{kind}' (endpoint or local)")
    key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else "not-needed"
    where = public_url(base_url)
    try:
        OpenAI(base_url=base_url, api_key=key, timeout=10, max_retries=0).models.list()
    except Exception as err:
        raise JudgeUnavailableError(f"judge at {where} unreachable ({type(err).__name__}: {err})") from err
    client = AsyncOpenAI(base_url=base_url, api_key=key, timeout=600, max_retries=0)
    llm = llm_factory(model, client=client, max_tokens=settings.judge_max_tokens)
    embedder = HuggingFaceEmbeddings(model=embedding_model_path(settings), device="cpu")
    available = {
        "faithfulness": lambda: Faithfulness(llm=llm),
        "answer_relevancy": lambda: AnswerRelevancy(llm=llm, embeddings=embedder, strictness=1),
        "context_precision": lambda: ContextPrecision(llm=llm),
        "context_recall": lambda: ContextRecall(llm=llm),
    }
    chosen = metrics or METRICS
    shown_model = "bundled SmolLM2-135M-Instruct" if model == BUNDLED else model
    identity = f"{'local (served in-process)' if kind == 'local' else 'openai-compatible'} {where}, {shown_model}"
    return Judge(identity, {name: available[name]() for name in chosen})
