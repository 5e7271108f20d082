"""Re-embed a whole store with a new embedder (e.g. one from `finetune embedder`), without re-reading files.

The stored chunk texts are embedded again into staging collections; only when every document is there are the
staging collections renamed into place (and the old ones dropped). A crash before that leaves the old store as
it was; a crash during the two renames is finished by the next `Store.open` (see `finish_swap`). Chunk ids,
texts and document versions stay the same, so the keyword index stays valid.
"""

from collections.abc import Callable

from chromadb.api import ClientAPI

from rag.embedder import Embedder
from rag.store import ChromaStore, StoreMismatchError, finish_swap, staging_name

PAGE = 2000


def reembed(
    client: ClientAPI,
    name: str,
    embedder: Embedder,
    chunk_size: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, int | str]:
    """Embed every committed chunk of store `name` with `embedder` and make that the store."""
    if embedder.max_tokens < chunk_size:
        raise StoreMismatchError(
            f"The new embedder reads {embedder.max_tokens} tokens but chunks hold up to {chunk_size}: "
            "their ends would be cut. Lower RAG_CHUNK_SIZE and ingest the files again instead."
        )
    finish_swap(client, name)
    live = ChromaStore(client, name)
    old = (live.chunks.metadata or {}).get("embedder")
    staging_base = staging_name(name)
    for suffix in ("chunks", "docs"):
        if any(c.name == f"{staging_base}-{suffix}" for c in client.list_collections()):
            client.delete_collection(f"{staging_base}-{suffix}")  # left by an interrupted run
    staging = ChromaStore(client, staging_base)
    documents = live.documents()
    for done, document in enumerate(documents, start=1):
        chunks = live.document_chunks(document)
        vectors = embedder.embed([chunk.search_text for chunk in chunks])
        staging.put_documents([(document, chunks, vectors)])
        if on_progress:
            on_progress(done, len(documents))
    staging.chunks.modify(metadata={"embedder": embedder.name, "dimension": embedder.dimension})
    staging.docs.modify(metadata={"generation": staging.generation(), "complete": True})
    finish_swap(client, name)
    return {"documents": len(documents), "chunks": staging.chunks.count(), "from": str(old), "to": embedder.name}
