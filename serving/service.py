"""What the HTTP API serves from, built once per process: the answer pipeline (with the process's generation
engine), the documents and their ingestion worker, API keys and the answer cache."""

from dataclasses import dataclass
from typing import Any

from accounts.keys import KeyStore
from ingest.documents import DocumentService
from ingest.index import Indexer
from ingest.jobs import JobQueue, Worker
from rag.models import quiet_model_loading
from rag.pipeline import RagPipeline
from rag.settings import Settings
from rag.store import open_store
from serving.cache import AnswerCache


@dataclass
class Service:
    settings: Settings
    pipeline: RagPipeline
    documents: DocumentService
    jobs: JobQueue
    keys: KeyStore
    cache: AnswerCache
    worker: Worker | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, worker: bool = True) -> "Service":
        """Load the models; with `worker`, run an ingestion worker in this process for uploads (any number of
        processes may each run one: jobs are claimed from the shared queue)."""
        quiet_model_loading()
        pipeline = RagPipeline.from_settings(settings)
        jobs = JobQueue(settings.app_db)
        running = None
        if worker:
            indexer = Indexer.from_settings(settings)  # its own embedder: one per thread that embeds
            running = Worker(jobs, indexer, reopen=lambda: open_store(settings, fresh=True))
            running.start()
            documents = DocumentService(
                indexer.store, jobs, settings.originals_dir, settings.max_upload_mb * 2**20, indexer.keywords
            )
        else:
            documents = DocumentService.from_settings(settings)
        keys = KeyStore(settings.app_db)
        return cls(settings, pipeline, documents, jobs, keys, AnswerCache(settings.cache_ttl_s), running)

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
