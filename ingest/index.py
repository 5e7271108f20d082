"""Files -> load -> clean -> chunk -> embed -> store, skipping files whose content has not changed.

Chunks of several small files are embedded together: one large `encode` call is ~10% faster than one per
file, and one store write per batch saves a round trip per file.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from ingest.chunk import Chunker
from ingest.describe import DocumentInfo
from ingest.loaders import LoadedFile, LoadError, kind_of, load
from ingest.originals import remove_originals
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.keyword import KeywordIndex
from rag.safety.injection import detect
from rag.settings import Settings
from rag.store import Store, open_store
from rag.types import DEFAULT_COLLECTION, Chunk, Document, file_sha256

EMBED_BATCH = 128  # chunks per encode call, and how often progress is reported
WRITE_BATCH = 256  # chunks gathered from several files before they are embedded and written together
Progress = Callable[[int, int], None]  # (chunks embedded, chunks in the batch)


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: Literal["added", "updated", "unchanged"]
    pages: int | None
    chunks: int


@dataclass(frozen=True)
class PreparedFile:
    """A file loaded and chunked, ready to embed."""

    document: Document
    chunks: list[Chunk]
    replaces: bool


def flag_injection(chunk: Chunk) -> Chunk:
    """The chunk, marked with the sentence that reads as an instruction to the model, if it has one: the mark is
    kept with the chunk (the Admin page lists them; RAG_INJECTION=drop keeps them from the model)."""
    found = detect(chunk.text)
    return replace(chunk, injection=found.reason) if found.injection else chunk


def delete_document(
    store: Store, source: str, keywords: KeywordIndex | None = None, originals: Path | None = None
) -> bool:
    """Remove a document from the store, the keyword index and the originals kept for it; False when the store
    had no such document."""
    existed = store.delete_document(source)
    if keywords is not None:
        keywords.sync(store)
    if originals is not None:
        remove_originals(originals, source)
    return existed


class Indexer:
    """Puts files into a store. A file that fails to load writes nothing (LoadError)."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        chunk_size: int,
        chunk_overlap: int,
        keywords: KeywordIndex | None = None,
        ocr_language: str | None = None,
        originals: Path | None = None,
    ) -> None:
        if chunk_size > embedder.max_tokens:
            raise ValueError(
                f"RAG_CHUNK_SIZE={chunk_size} is longer than the embedder reads ({embedder.max_tokens} tokens): "
                "the end of every long chunk would be ignored. Lower RAG_CHUNK_SIZE."
            )
        store.bind(embedder.name, embedder.dimension)
        self.store = store
        self.embedder = embedder
        self.keywords = keywords  # brought in step with the store after each ingestion and delete
        self.ocr_language = ocr_language  # None: no OCR of PDF pages without text
        self.originals = originals  # where uploaded files are kept (ingest.originals); None: not kept
        self.chunker = Chunker(embedder.tokenizer(), chunk_size, chunk_overlap, embedder.max_tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Indexer":
        embedder = SentenceTransformerEmbedder.from_settings(settings)
        keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
        ocr_language = settings.ocr_language if settings.ocr else None
        store = open_store(settings)
        return cls(
            store, embedder, settings.chunk_size, settings.chunk_overlap, keywords, ocr_language, settings.originals_dir
        )

    def ingest(
        self,
        path: Path,
        source: str,
        on_progress: Progress | None = None,
        *,
        kind: str | None = None,
        force: bool = False,
        ingested_by: str | None = None,
        collection: str | None = None,
    ) -> IngestResult:
        """Ingest one file (as `kind`, default by extension; `force` re-reads an unchanged file) into
        `collection` (default: the one it is in, or `default`); raises LoadError with a one-line reason."""
        prepared = self.prepare(path, source, kind=kind, force=force, ingested_by=ingested_by, collection=collection)
        if isinstance(prepared, IngestResult):
            return prepared
        (_, outcome), *_ = list(self._write_in_batches([(source, prepared)], on_progress))
        assert isinstance(outcome, IngestResult)
        return outcome

    def ingest_files(
        self, files: Iterable[tuple[Path, str]], on_progress: Progress | None = None, collection: str | None = None
    ) -> Iterator[tuple[str, IngestResult | LoadError]]:
        """Ingest (path, source) pairs, yielding each source's outcome as soon as it is known."""

        def prepared() -> Iterator[tuple[str, PreparedFile | IngestResult | LoadError]]:
            for path, source in files:
                try:
                    yield source, self.prepare(path, source, collection=collection)
                except LoadError as err:
                    yield source, err
                except Exception as err:  # a library failing on one file must not stop the others
                    reason = " ".join(str(err).split())[:200]
                    yield source, LoadError(f"could not be read ({type(err).__name__}: {reason}); check the file")

        yield from self._write_in_batches(prepared(), on_progress)

    def ingest_loaded(
        self, items: Iterable[tuple[LoadedFile, str, str, int]], on_progress: Progress | None = None
    ) -> Iterator[tuple[str, IngestResult | LoadError]]:
        """Ingest already loaded documents, as (loaded, source, sha256 of the content, size in bytes)."""
        outcomes = ((source, self.prepare_loaded(loaded, source, sha, size)) for loaded, source, sha, size in items)
        yield from self._write_in_batches(outcomes, on_progress)

    def _write_in_batches(
        self, outcomes: Iterable[tuple[str, PreparedFile | IngestResult | LoadError]], on_progress: Progress | None
    ) -> Iterator[tuple[str, IngestResult | LoadError]]:
        pending: list[PreparedFile] = []
        for source, outcome in outcomes:
            if not isinstance(outcome, PreparedFile):
                yield source, outcome
                continue
            pending.append(outcome)
            if sum(len(p.chunks) for p in pending) >= WRITE_BATCH:
                yield from self.write(pending, on_progress)
                pending = []
        yield from self.write(pending, on_progress)
        self.sync_keywords()

    def delete(self, source: str) -> bool:
        """Remove a document (see `delete_document`); False when there was no such document."""
        return delete_document(self.store, source, self.keywords, self.originals)

    def sync_keywords(self) -> None:
        if self.keywords is not None:
            self.keywords.sync(self.store)

    def prepare(
        self,
        path: Path,
        source: str,
        *,
        kind: str | None = None,
        force: bool = False,
        ingested_by: str | None = None,
        collection: str | None = None,
    ) -> PreparedFile | IngestResult:
        """Load and chunk a file, or report it unchanged when the store already has this exact content (an
        unchanged file named with another collection is moved there)."""
        sha256 = file_sha256(path)
        existing = self.store.document(source)
        if existing is not None and existing.sha256 == sha256 and not force:
            if collection and collection != existing.collection:
                self.store.move_document(source, collection)
            return IngestResult(source, "unchanged", existing.pages, existing.chunks)
        kind = kind or kind_of(path)
        loaded = load(path, kind, self.ocr_language)
        where = collection or (existing.collection if existing else DEFAULT_COLLECTION)
        return self._chunked(loaded, source, sha256, path.stat().st_size, kind, ingested_by, existing, where)

    def prepare_loaded(
        self,
        loaded: LoadedFile,
        source: str,
        sha256: str,
        size: int,
        *,
        force: bool = False,
        kind: str | None = None,
        ingested_by: str | None = None,
    ) -> PreparedFile | IngestResult:
        existing = self.store.document(source)
        if existing is not None and existing.sha256 == sha256 and not force:
            return IngestResult(source, "unchanged", existing.pages, existing.chunks)
        where = existing.collection if existing else DEFAULT_COLLECTION
        return self._chunked(loaded, source, sha256, size, kind, ingested_by, existing, where)

    def _chunked(
        self,
        loaded: LoadedFile,
        source: str,
        sha256: str,
        size: int,
        kind: str | None,
        ingested_by: str | None,
        existing: Document | None,
        collection: str,
    ) -> PreparedFile:
        chunks = [flag_injection(chunk) for chunk in self.chunker.split(loaded, source)]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        fields = asdict(loaded.info or DocumentInfo())  # title, organisation, doc_type, period
        document = Document(
            source, sha256, loaded.pages, len(chunks), size, now, kind, ingested_by, **fields, collection=collection
        )
        return PreparedFile(document, chunks, replaces=existing is not None)

    def write(
        self, batch: list[PreparedFile], on_progress: Progress | None = None
    ) -> Iterator[tuple[str, IngestResult]]:
        vectors = self.embed([c for p in batch for c in p.chunks], on_progress)
        ends = np.cumsum([len(p.chunks) for p in batch])
        per_file = np.split(vectors, ends[:-1]) if batch else []
        self.store.put_documents([(p.document, p.chunks, v) for p, v in zip(batch, per_file, strict=True)])
        for p in batch:
            status: Literal["added", "updated"] = "updated" if p.replaces else "added"
            yield p.document.source, IngestResult(p.document.source, status, p.document.pages, p.document.chunks)

    def embed(self, chunks: list[Chunk], on_progress: Progress | None = None) -> np.ndarray:
        batches = [np.empty((0, self.embedder.dimension), dtype=np.float32)]
        for start in range(0, len(chunks), EMBED_BATCH):
            batches.append(self.embedder.embed([c.search_text for c in chunks[start : start + EMBED_BATCH]]))
            if on_progress:
                on_progress(min(start + EMBED_BATCH, len(chunks)), len(chunks))
        return np.concatenate(batches)
