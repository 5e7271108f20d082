"""The vector store: the `Store` protocol every part programs against, and `ChromaStore`, its implementation on
Chroma (an embedded folder, or a Chroma server with RAG_CHROMA_URL); `open_store(settings)` gives the one the
settings name.

Two collections per Chroma store:
- `<name>-chunks`: one record per chunk (text, vector, source, page, heading, the document's sha256);
- `<name>-docs`: one record per document (source, sha256, pages, chunks, size, time); its vector is the
  mean of its chunks' vectors. This record is the commit point of an ingestion.

Replacing a document writes the new chunks, then the catalog record, then deletes the old chunks. Search only
returns chunks whose sha256 matches the catalog, so a crash between those steps never shows a half-written
or mixed document: leftovers stay invisible and are removed by the next ingestion of that source.
"""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Protocol
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings

from rag.settings import Settings
from rag.types import DEFAULT_COLLECTION, Chunk, Document, Hit

MAX_BATCH = 5000  # Chroma rejects batches over 5,461 records
_WRITTEN_HERE: set[str] = set()  # generations written by this process (not "changes made elsewhere")
OVERFETCH = 10  # extra hits asked for, to make up for stale chunks filtered out after a crash


class StoreMismatchError(RuntimeError):
    """The store was built with another embedder than the settings name."""


def chroma_client(settings: Settings, fresh: bool = False) -> ClientAPI:
    """An embedded client on `data_dir/chroma`, or an HTTP client when `chroma_url` is set. Telemetry off.

    Chroma shares one embedded instance per folder within a process; `fresh` starts a new one, which is how
    a process sees what another process (e.g. `python -m ingest`) wrote to the folder since it opened it.
    """
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        secure = url.scheme == "https"
        port = url.port or (443 if secure else 80)
        return chromadb.HttpClient(host=url.hostname or "localhost", port=port, ssl=secure, settings=chroma_settings)
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        SharedSystemClient.clear_system_cache()  # Store objects already open keep their own instance
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


def document_key(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]


def chunk_id(source: str, sha256: str, index: int) -> str:
    return f"{document_key(source)}-{sha256[:16]}-{index:06d}"


def _chunk_metadata(chunk: Chunk, sha256: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": chunk.source, "index": chunk.index, "sha256": sha256}
    if chunk.page is not None:
        metadata["page"] = chunk.page
    if chunk.heading:
        metadata["heading"] = chunk.heading
    if chunk.context:
        metadata["context"] = chunk.context
    if chunk.injection:
        metadata["injection"] = chunk.injection
        metadata["flagged"] = True  # a key to filter on: Chroma's `where` cannot test for a missing one
    return metadata


def _chunk_from(text: str, metadata: dict[str, Any]) -> Chunk:
    page = metadata.get("page")
    return Chunk(
        text=text,
        source=str(metadata["source"]),
        index=int(metadata["index"]),
        page=int(page) if page is not None else None,
        heading=metadata.get("heading"),
        context=metadata.get("context"),
        injection=metadata.get("injection"),
    )


def _document_from(metadata: dict[str, Any]) -> Document:
    pages = metadata.get("pages")
    return Document(
        source=str(metadata["source"]),
        sha256=str(metadata["sha256"]),
        pages=int(pages) if pages is not None else None,
        chunks=int(metadata["chunks"]),
        size=int(metadata["size"]),
        ingested_at=str(metadata["ingested_at"]),
        kind=metadata.get("kind"),
        ingested_by=metadata.get("ingested_by"),
        title=metadata.get("title"),
        organisation=metadata.get("organisation"),
        doc_type=metadata.get("doc_type"),
        period=metadata.get("period"),
        collection=str(metadata.get("collection") or DEFAULT_COLLECTION),  # none in stores made before collections
    )


def staging_name(name: str) -> str:
    """Where `python -m ingest reembed` builds the re-embedded copy of store `name`."""
    return f"{name}.reembed"


def finish_swap(client: ClientAPI, name: str) -> None:
    """Put a complete re-embedded copy of store `name` in place of the live one (idempotent, so a crash between
    its steps is finished by the next call). An incomplete copy is left alone: the live store stays."""
    names = {c.name for c in client.list_collections()}
    staged = f"{staging_name(name)}-docs"
    if staged not in names or not (client.get_collection(staged).metadata or {}).get("complete"):
        return
    for suffix in ("chunks", "docs"):
        if f"{name}-{suffix}" in names:
            client.delete_collection(f"{name}-{suffix}")
    for suffix in ("chunks", "docs"):
        staged_collection = client.get_collection(f"{staging_name(name)}-{suffix}")
        metadata = {k: v for k, v in (staged_collection.metadata or {}).items() if k != "complete"}
        staged_collection.modify(name=f"{name}-{suffix}", metadata=metadata or None)


class Store(Protocol):
    """Chunks and documents of one knowledge base, written a whole document at a time (a reader sees a document
    fully or not at all). Vectors must all come from one embedder (see `bind`)."""

    def bind(self, embedder_name: str, dimension: int) -> None: ...

    def binding(self) -> tuple[str, int] | None: ...

    def documents(self) -> list[Document]: ...

    def document(self, source: str) -> Document | None: ...

    def is_empty(self) -> bool: ...

    def count_chunks(self) -> int: ...

    def put_documents(self, documents: Sequence[tuple[Document, Sequence[Chunk], np.ndarray]]) -> None: ...

    def document_chunks(self, document: Document) -> list[Chunk]: ...

    def remove_uncommitted(self, source: str) -> None: ...

    def delete_document(self, source: str) -> bool: ...

    def move_document(self, source: str, collection: str) -> bool: ...

    def documents_in(self, collections: Sequence[str]) -> list[Document]: ...

    def search(
        self, vector: np.ndarray, k: int, exclude_sources: Sequence[str] = (), sources: Sequence[str] | None = None
    ) -> list[Hit]: ...

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, tuple[Chunk, np.ndarray]]: ...

    def committed_chunks(self, sources: Sequence[str] | None = None) -> list[tuple[str, Chunk]]: ...

    def committed_chunk_texts(self) -> tuple[list[str], list[str]]: ...

    def flagged_chunks(self) -> list[Chunk]: ...

    def catalog_version(self) -> str: ...

    def changed_elsewhere(self) -> bool: ...

    def generation(self) -> str: ...


def open_store(settings: Settings, fresh: bool = False) -> "ChromaStore":
    """The store the settings name: embedded in RAG_DATA_DIR, or on the Chroma server at RAG_CHROMA_URL."""
    return ChromaStore(chroma_client(settings, fresh), settings.collection)


class ChromaStore:
    """`Store` on Chroma."""

    def __init__(self, client: ClientAPI, name: str) -> None:
        # No embedding function: vectors are always passed in, so Chroma never downloads its ONNX model.
        options: dict[str, Any] = {"embedding_function": None, "configuration": {"hnsw": {"space": "cosine"}}}
        self.client = client
        finish_swap(client, name)
        self.chunks = client.get_or_create_collection(f"{name}-chunks", **options)
        self.docs = client.get_or_create_collection(f"{name}-docs", **options)
        self._generation_seen = self.generation()

    def catalog_version(self) -> str:
        """A fingerprint of which documents, in which versions, the store holds."""
        records = self.docs.get(include=["metadatas"])
        versions = sorted(f"{m['source']}\x00{m['sha256']}" for m in records["metadatas"] or [])
        return hashlib.sha256("\n".join(versions).encode("utf-8")).hexdigest()

    def generation(self) -> str:
        """A marker that changes with every write of the catalog: a cheap "did anything change?" check."""
        metadata = self.client.get_collection(self.docs.name).metadata or {}
        return str(metadata.get("generation", ""))

    def _bump_generation(self) -> None:
        generation = uuid.uuid4().hex
        _WRITTEN_HERE.add(generation)
        self.docs.modify(metadata={"generation": generation})
        self._generation_seen = generation

    def changed_elsewhere(self) -> bool:
        """True when another process changed the documents since this store was opened (or last wrote);
        writes by this process (e.g. the app's ingestion worker) are seen without reopening."""
        generation = self.generation()
        return generation != self._generation_seen and generation not in _WRITTEN_HERE

    def bind(self, embedder_name: str, dimension: int) -> None:
        """Record the embedder in a new store, or refuse one whose vectors came from another embedder."""
        found = self.chunks.metadata or {}
        if "embedder" not in found:
            self.chunks.modify(metadata={"embedder": embedder_name, "dimension": dimension})
        elif found.get("embedder") != embedder_name or found.get("dimension") != dimension:
            raise StoreMismatchError(
                f"This store was built with embedder '{found.get('embedder')}' ({found.get('dimension')} dims), "
                f"but the settings use '{embedder_name}' ({dimension} dims). Set RAG_EMBEDDING_MODEL back, "
                "or re-embed the stored chunks with the new one: `python -m ingest reembed`."
            )

    def binding(self) -> tuple[str, int] | None:
        """The embedder (name, dimension) the stored vectors came from; None for a store never written to."""
        found = self.chunks.metadata or {}
        return (str(found["embedder"]), int(found["dimension"])) if "embedder" in found else None

    # Catalog ---------------------------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        records = self.docs.get(include=["metadatas"])
        found = [_document_from(dict(m)) for m in records["metadatas"] or []]
        return sorted(found, key=lambda d: d.source)

    def document(self, source: str) -> Document | None:
        records = self.docs.get(ids=[document_key(source)], include=["metadatas"])
        metadatas = records["metadatas"] or []
        return _document_from(dict(metadatas[0])) if metadatas else None

    def is_empty(self) -> bool:
        return self.docs.count() == 0

    def count_chunks(self) -> int:
        """Chunk records, leftovers of interrupted ingestions included."""
        return self.chunks.count()

    # Writes ----------------------------------------------------------------------------------------------

    def put_documents(self, documents: Sequence[tuple[Document, Sequence[Chunk], np.ndarray]]) -> None:
        """Add or replace documents with their chunks; each becomes visible whole (see the module docstring)."""
        if not documents:
            return
        for document, chunks, vectors in documents:
            if not chunks or len(chunks) != len(vectors) or document.chunks != len(chunks):
                raise ValueError(f"{document.source}: {len(chunks)} chunks, {len(vectors)} vectors")
        records = [(d.source, d.sha256, c) for d, chunks, _ in documents for c in chunks]
        all_vectors = np.concatenate([vectors for _, _, vectors in documents])
        for start in range(0, len(records), MAX_BATCH):
            batch = records[start : start + MAX_BATCH]
            self.chunks.upsert(
                ids=[chunk_id(source, sha256, chunk.index) for source, sha256, chunk in batch],
                embeddings=all_vectors[start : start + MAX_BATCH],
                documents=[chunk.text for _, _, chunk in batch],
                metadatas=[_chunk_metadata(chunk, sha256) for _, sha256, chunk in batch],  # type: ignore[misc]
            )
        centroids = np.stack([vectors.mean(axis=0) for _, _, vectors in documents])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        self.docs.upsert(  # the commit point
            ids=[document_key(d.source) for d, _, _ in documents],
            embeddings=centroids,
            metadatas=[{k: v for k, v in asdict(d).items() if v is not None} for d, _, _ in documents],
        )
        self._bump_generation()
        for document, _, _ in documents:
            self.chunks.delete(where={"$and": [{"source": document.source}, {"sha256": {"$ne": document.sha256}}]})
            surplus = [{"source": document.source}, {"sha256": document.sha256}, {"index": {"$gte": document.chunks}}]
            self.chunks.delete(where={"$and": surplus})  # a re-ingestion of the same file into fewer chunks

    def document_chunks(self, document: Document) -> list[Chunk]:
        """The chunks of a committed document version, in order."""
        where = {"$and": [{"source": document.source}, {"sha256": document.sha256}]}
        records = self.chunks.get(where=where, include=["documents", "metadatas"])  # type: ignore[arg-type]
        pairs = zip(records["documents"] or [], records["metadatas"] or [], strict=True)
        return sorted((_chunk_from(text, dict(meta)) for text, meta in pairs), key=lambda c: c.index)

    def remove_uncommitted(self, source: str) -> None:
        """Delete chunks of `source` that belong to no committed version (left by an interrupted ingestion)."""
        document = self.document(source)
        if document is None:
            self.chunks.delete(where={"source": source})
        else:
            self.chunks.delete(where={"$and": [{"source": source}, {"sha256": {"$ne": document.sha256}}]})

    def delete_document(self, source: str) -> bool:
        """Remove a document and all its chunks. False when there was no such document."""
        existed = self.document(source) is not None
        self.docs.delete(ids=[document_key(source)])  # first: its chunks become invisible at once
        self._bump_generation()
        self.chunks.delete(where={"source": source})
        return existed

    def move_document(self, source: str, collection: str) -> bool:
        """Put a document in another collection (one catalog write: who may read it changes at once).
        False when there is no such document."""
        document = self.document(source)
        if document is None:
            return False
        if document.collection != collection:
            self.docs.update(ids=[document_key(source)], metadatas=[{"collection": collection}])
            self._bump_generation()
        return True

    def documents_in(self, collections: Sequence[str]) -> list[Document]:
        """The documents of these collections: what a reader of them may search."""
        wanted = set(collections)
        return [document for document in self.documents() if document.collection in wanted]

    # Search ----------------------------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray, k: int, exclude_sources: Sequence[str] = (), sources: Sequence[str] | None = None
    ) -> list[Hit]:
        """The k chunks nearest to a unit vector, best first, from committed documents only: of `sources` when
        given (the filter is part of the query), and none of `exclude_sources`."""
        available = self.chunks.count()
        if available == 0 or (sources is not None and not sources):
            return []
        filters: list[dict[str, Any]] = []
        if exclude_sources:
            filters.append({"source": {"$nin": list(exclude_sources)}})
        if sources is not None:
            filters.append({"source": {"$in": list(sources)}})
        result = self.chunks.query(
            query_embeddings=vector[None, :],
            n_results=min(k + OVERFETCH, available),
            where=(filters[0] if len(filters) == 1 else {"$and": filters}) if filters else None,  # type: ignore[arg-type]
            include=["documents", "metadatas", "distances"],
        )
        texts = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        committed = self._committed_versions({str(m["source"]) for m in metadatas})
        ids = (result["ids"] or [[]])[0]
        hits = [
            Hit(_chunk_from(text, dict(meta)), 1.0 - float(distance), id_)
            for id_, text, meta, distance in zip(ids, texts, metadatas, distances, strict=True)
            if committed.get(str(meta["source"])) == meta["sha256"]
        ]
        return hits[:k]

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """The chunks (with their vectors) of these ids that belong to committed documents."""
        if not ids:
            return {}
        records = self.chunks.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        metadatas = records["metadatas"] or []
        committed = self._committed_versions({str(m["source"]) for m in metadatas})
        found: dict[str, tuple[Chunk, np.ndarray]] = {}
        for id_, text, meta, vector in zip(
            records["ids"], records["documents"] or [], metadatas, records["embeddings"], strict=True
        ):
            if committed.get(str(meta["source"])) == meta["sha256"]:
                found[id_] = (_chunk_from(text, dict(meta)), np.asarray(vector, dtype=np.float32))
        return found

    def flagged_chunks(self) -> list[Chunk]:
        """Chunks of committed documents flagged as prompt injections at ingestion, by document and position."""
        committed = {d.source: d.sha256 for d in self.documents()}
        records = self.chunks.get(where={"flagged": True}, include=["documents", "metadatas"])
        pairs = zip(records["documents"] or [], records["metadatas"] or [], strict=True)
        chunks = [
            _chunk_from(text, dict(meta))
            for text, meta in pairs
            if committed.get(str(meta["source"])) == meta["sha256"]
        ]
        return sorted(chunks, key=lambda c: (c.source, c.index))

    def committed_chunks(self, sources: Sequence[str] | None = None) -> list[tuple[str, Chunk]]:
        """(id, chunk) of every chunk of a committed document (of `sources`, or of all), read page by page."""
        committed = {d.source: d.sha256 for d in self.documents() if sources is None or d.source in sources}
        where = {"source": {"$in": list(sources)}} if sources else None
        found: list[tuple[str, Chunk]] = []
        offset = 0
        while True:
            page = self.chunks.get(where=where, include=["documents", "metadatas"], limit=MAX_BATCH, offset=offset)
            for id_, text, meta in zip(page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True):
                if committed.get(str(meta["source"])) == meta["sha256"]:
                    found.append((id_, _chunk_from(text, dict(meta))))
            if len(page["ids"]) < MAX_BATCH:
                return found
            offset += MAX_BATCH

    def committed_chunk_texts(self) -> tuple[list[str], list[str]]:
        """Ids and search texts of every chunk of a committed document (what a keyword index is built from)."""
        pairs = self.committed_chunks()
        return [id_ for id_, _ in pairs], [chunk.search_text for _, chunk in pairs]

    def _committed_versions(self, sources: set[str]) -> dict[str, str]:
        if not sources:
            return {}
        records = self.docs.get(ids=[document_key(s) for s in sources], include=["metadatas"])
        return {str(m["source"]): str(m["sha256"]) for m in records["metadatas"] or []}
