"""Query latency at scale: a store of N synthetic chunks, queried through the product's `Retriever`.

Embedding 100,000 real chunks takes about half an hour on two cores and is not what is measured here, so the
chunks are synthetic: ~100-word texts drawn from a Zipf-distributed vocabulary (BM25 posting lists as skewed as
in real text) with random unit vectors (no cluster structure, the hard case for the HNSW index). The queries
are embedded by the real embedder, so query latency includes the embedding, as in the app.
"""

import time
from collections.abc import Iterator

import numpy as np

from eval.retrieval import latency_ms
from rag.components import Components
from rag.embedder import SentenceTransformerEmbedder
from rag.keyword import KeywordIndex
from rag.retrieve import Retriever
from rag.settings import RetrievalMode, Settings
from rag.store import Store, open_store
from rag.types import Chunk, Document, Hit

CHUNKS_PER_DOCUMENT = 50
VOCABULARY = 50_000
WORDS_PER_CHUNK = 100
QUERIES = 200
COLLECTIONS = ("even", "odd")  # documents alternate between two collections
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "pa", "zu", "ge", "ho", "bi", "fe", "jo"]


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """Distinct pronounceable words of 2-5 syllables."""
    words: set[str] = set()
    while len(words) < size:
        count = int(rng.integers(2, 6))
        words.add("".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), count)))
    return sorted(words)


def zipf_words(words: list[str], count: int, rng: np.random.Generator) -> list[str]:
    ranks = rng.zipf(1.2, size=count)
    return [words[(rank - 1) % len(words)] for rank in ranks]


def synthetic_documents(
    total: int, dimension: int, words: list[str], rng: np.random.Generator
) -> Iterator[tuple[Document, list[Chunk], np.ndarray]]:
    for first in range(0, total, CHUNKS_PER_DOCUMENT):
        source = f"synthetic-{first // CHUNKS_PER_DOCUMENT:06d}.txt"
        count = min(CHUNKS_PER_DOCUMENT, total - first)
        chunks = [Chunk(" ".join(zipf_words(words, WORDS_PER_CHUNK, rng)), source, i) for i in range(count)]
        vectors = rng.standard_normal((count, dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        collection = COLLECTIONS[(first // CHUNKS_PER_DOCUMENT) % 2]
        document = Document(source, f"{first:064x}", None, count, count * WORDS_PER_CHUNK * 6, "synthetic",
                            collection=collection)  # fmt: skip
        yield document, chunks, vectors


def fill_store(store: Store, total: int, dimension: int, words: list[str], rng: np.random.Generator) -> None:
    batch: list[tuple[Document, list[Chunk], np.ndarray]] = []
    for item in synthetic_documents(total, dimension, words, rng):
        batch.append(item)
        if len(batch) * CHUNKS_PER_DOCUMENT >= 5000:
            store.put_documents(batch)
            batch = []
    store.put_documents(batch)


def run_synthetic(settings: Settings, total: int, modes: list[RetrievalMode]) -> Iterator[dict]:
    """Fill the store of `settings` with `total` synthetic chunks (reused when already there), then time
    `retrieve` with the settings' top-k in each mode."""
    rng = np.random.default_rng(0)
    words = vocabulary(VOCABULARY, rng)
    embedder = SentenceTransformerEmbedder.from_settings(settings)
    store = open_store(settings)
    store.bind(embedder.name, embedder.dimension)
    started = time.perf_counter()
    if store.count_chunks() != total:
        fill_store(store, total, embedder.dimension, words, rng)
    store_seconds = round(time.perf_counter() - started, 1)
    keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
    started = time.perf_counter()
    keywords.sync(store)
    keyword_seconds = round(time.perf_counter() - started, 1)
    queries = [" ".join(zipf_words(words, int(rng.integers(4, 10)), rng)) for _ in range(QUERIES)]
    for mode in modes:
        chosen = settings.model_copy(update={"retrieval_mode": mode})
        retriever = Components(chosen, embedder=embedder, store=store, keywords=keywords).retriever
        for searched, timed in (("all", retriever), ("one of two", OneCollection(retriever, store, COLLECTIONS[0]))):
            yield {
                "mode": mode,
                "collections": searched,
                "chunks": store.count_chunks(),
                "queries": len(queries),
                "top_k": settings.top_k,
                "candidates": settings.candidates,
                **latency_ms(timed, queries, settings.top_k),  # type: ignore[arg-type]
                "hits_outside_the_collection": getattr(timed, "outside", 0),
                "store_write_seconds": store_seconds,
                "keyword_index_seconds": keyword_seconds,
            }


class OneCollection:
    """Retrieval as a reader of one collection gets it: that collection's documents looked up in the catalog,
    then searched inside the store query (dense) and the BM25 scores (keyword), as `RagPipeline.answer` does."""

    def __init__(self, retriever: Retriever, store: Store, collection: str) -> None:
        self.retriever, self.store, self.collection = retriever, store, collection
        self.outside = 0  # hits from documents of the other collection (must stay 0)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        sources = [document.source for document in self.store.documents_in([self.collection])]
        hits = self.retriever.retrieve(question, k, sources)
        allowed = set(sources)
        self.outside += sum(hit.chunk.source not in allowed for hit in hits)
        return hits
