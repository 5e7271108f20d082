"""What an admin does with documents, for the Admin page and `python -m ingest` alike: upload (checked, kept as
an original, queued for the worker), delete (chunks, keyword-index entries and the kept original), re-ingest from
the kept original, and find that original."""

from dataclasses import dataclass
from pathlib import Path

from ingest.index import delete_document
from ingest.jobs import JobQueue, Worker
from ingest.originals import original_path
from ingest.uploads import submit_upload
from rag.keyword import KeywordIndex
from rag.settings import Settings
from rag.store import Store, open_store
from rag.types import Document


@dataclass
class DocumentService:
    store: Store
    queue: JobQueue
    originals: Path  # where uploads are kept (ingest/originals.py)
    max_bytes: int
    keywords: KeywordIndex | None = None  # brought in step after a delete

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> "DocumentService":
        keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
        return cls(
            store or open_store(settings), JobQueue.from_settings(settings), settings.originals_dir,
            settings.max_upload_mb * 2**20, keywords,
        )  # fmt: skip

    @classmethod
    def on_worker(cls, settings: Settings, worker: Worker) -> "DocumentService":
        """Uploads, deletes and re-ingests on a worker's view of the store (which sees its own writes at once)."""
        indexer = worker.indexer
        return cls(
            indexer.store, worker.queue, settings.originals_dir, settings.max_upload_mb * 2**20, indexer.keywords
        )

    def documents(self) -> list[Document]:
        return self.store.documents()

    def upload(self, name: str, data: bytes, user: str | None, collection: str | None = None) -> int:
        """Check a file, keep it and queue its ingestion into `collection` (default: the one a document of that
        name is in, or `default`); the job's id (UploadError with the reason if refused)."""
        return submit_upload(
            name, data, store=self.store, queue=self.queue, originals=self.originals, max_bytes=self.max_bytes,
            user=user, collection=collection,
        )  # fmt: skip

    def move(self, source: str, collection: str) -> bool:
        """Put a document in another collection; readers' access follows at once. False: no such document."""
        return self.store.move_document(source, collection)

    def delete(self, source: str) -> bool:
        """Remove a document and everything kept for it; False when there was no such document."""
        return delete_document(self.store, source, self.keywords, self.originals)

    def original(self, document: Document) -> Path | None:
        """The file as uploaded, when it was uploaded (files ingested from the command line are not kept)."""
        path = original_path(self.originals, document)
        return path if path.is_file() else None

    def reingest(self, document: Document, user: str | None) -> int:
        """Queue the kept original again (read anew even though unchanged); the job's id."""
        original = self.original(document)
        if original is None:
            raise ValueError(f"{document.source} was ingested from the command line: there is no original to re-read")
        return self.queue.submit(document.source, original, document.kind, user, force=True)
