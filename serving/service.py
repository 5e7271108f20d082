"""What the HTTP API serves from, built once per process: the answer pipeline (with the process's generation
engine), the documents and their ingestion worker, API keys and the answer cache."""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from cachetools import TTLCache

from accounts.audit import AuditLog, record_settings, this_host
from accounts.collections import CollectionError, Collections
from accounts.keys import Caller, KeyStore
from ingest.documents import DocumentService
from ingest.jobs import JobQueue, Worker
from rag.engine import EngineBusyError
from rag.models import quiet_model_loading
from rag.pipeline import QuestionError, RagPipeline
from rag.settings import Settings
from rag.types import Answer, Document, Turn
from records.activity import ActivityLog
from serving.cache import AnswerCache
from serving.errors import api_error, busy_error

log = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    pipeline: RagPipeline
    documents: DocumentService
    jobs: JobQueue
    keys: KeyStore
    cache: AnswerCache
    collections: Collections
    worker: Worker | None = None
    audit: AuditLog = field(init=False)
    activity: ActivityLog = field(init=False)
    # the exchanges answered lately by this process, by answer id: what a rating of one of them keeps
    exchanges: TTLCache = field(default_factory=lambda: TTLCache(maxsize=10_000, ttl=24 * 3600))

    def __post_init__(self) -> None:
        s = self.settings
        self.audit = AuditLog(s.database)
        self.activity = ActivityLog(s.database, s.activity_days, s.feedback_text, s.pii_region)

    @classmethod
    def from_settings(cls, settings: Settings, *, worker: bool = True) -> "Service":
        """Load the models; with `worker`, run an ingestion worker in this process for uploads (any number of
        processes may each run one: jobs are claimed from the shared queue)."""
        quiet_model_loading()
        record_settings(AuditLog(settings.database), this_host(), settings.public_dump(), "api")
        pipeline = RagPipeline.from_settings(settings)
        jobs = JobQueue.from_settings(settings)
        running = None
        if worker:
            running = Worker.from_settings(settings, jobs)
            running.start()
            documents = DocumentService.on_worker(settings, running)
        else:
            documents = DocumentService.from_settings(settings)
        keys = KeyStore(settings.database)
        cache, collections = AnswerCache(settings.cache_ttl_s), Collections(settings.database)
        return cls(settings, pipeline, documents, jobs, keys, cache, collections, running)

    def answer(self, question: str, history: list[dict[str, str]], **options: Any) -> Answer:
        """The pipeline's answer (`history`: earlier {question, answer} turns), or the HTTP error that says why
        there is none: an unknown document in `sources`, a question that cannot be asked, a full engine."""
        sources = options.get("sources")
        if sources:
            unknown = sorted(set(sources) - {document.source for document in self.documents_for(options)})
            if unknown:
                raise api_error(
                    422, f"No document named {', '.join(unknown)}: see GET /v1/documents.", "unknown_source"
                )
        turns = [Turn(turn["question"], turn["question"], turn["answer"]) for turn in history]
        try:
            return self.pipeline.answer(question, history=turns, **options)
        except QuestionError as err:
            raise api_error(422, str(err), "invalid_question") from err
        except EngineBusyError as err:
            raise busy_error(err) from err

    def served(self, question: str, result: dict[str, Any], answer: Answer | None, user: str | None) -> None:
        """Record an answer given (`answer` None: from the cache) for the Admin page's figures and for ratings."""
        timing = {"seconds": answer.elapsed_s() if answer else 0.0, "cached": answer is None,
                  "first_token_s": answer.first_token_s if answer else None,
                  "tokens": answer.new_tokens if answer else 0}  # fmt: skip
        try:
            self.activity.answered(result, "api", user, timing)
        except Exception:  # the figures miss one answer; the caller still gets it
            log.warning("could not record an answer's timings", exc_info=True)
        sources = sorted({s["source"] for s in result["sources"]})
        self.exchanges[result["id"]] = {"question": question, "answer": result["answer"], "sources": sources}

    def collections_for(self, caller: Caller, requested: list[str] | None = None) -> list[str]:
        """The collections this caller's question searches (404 for one it may not read, as for a missing one)."""
        try:
            return self.collections.allowed(caller.user, caller.role, requested)
        except CollectionError as err:
            raise api_error(404, f"{err}: see GET /v1/collections.", "unknown_collection") from err

    def documents_for(self, options: dict[str, Any]) -> list[Document]:
        """The documents of the collections in `options` (all when it names none)."""
        collections = options.get("collections")
        if collections is None:
            return self.pipeline.store.documents()
        return self.pipeline.store.documents_in(collections)

    def generation(self) -> str:
        """The store's change marker (part of the cache key): any ingestion or delete changes it."""
        return self.pipeline.store.generation()

    def health(self) -> dict[str, Any]:
        engine = getattr(self.pipeline.generator, "stats", None)
        return {
            "ready": True,
            "documents": len(self.documents.documents()),
            "generator": self.pipeline.generator.name,
            "engine": engine() if engine else None,
        }


async def stream_pieces(answer: Answer) -> AsyncIterator[str]:
    """The answer's pieces, read in a worker thread; leaving early stops the generation."""
    pieces = answer.stream()
    try:
        while (piece := await anyio.to_thread.run_sync(next, pieces, None)) is not None:
            yield piece
    finally:
        pieces.close()
