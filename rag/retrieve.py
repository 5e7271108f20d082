"""Question -> the top-k chunks: dense, BM25, or both fused by reciprocal rank fusion; optional rerank and MMR.

Every hit carries the cosine similarity of question and chunk, whichever list found it. That similarity is the
"is anything relevant?" signal for abstention in all modes: BM25 scores are unbounded and some term of almost
any question matches something, so they cannot say that nothing relevant was found.
"""

from collections.abc import Sequence

import numpy as np

from rag.embedder import Embedder
from rag.keyword import KeywordIndex
from rag.rerank import Reranker
from rag.scope import EVERYTHING, Scope, scope_question
from rag.settings import RetrievalMode, Settings
from rag.store import Store
from rag.types import Document, Hit


def fusion_scores(rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int) -> dict[str, float]:
    """sum(weight / (k + rank)) per id, rank 1-based, in order of first appearance."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, id_ in enumerate(ranking, start=1):
            scores[id_] = scores.get(id_, 0.0) + weight / (k + rank)
    return scores


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int) -> list[str]:
    """Ids ordered by sum(weight / (k + rank)), rank 1-based; ties keep the order of first appearance."""
    scores = fusion_scores(rankings, weights, k)
    return sorted(scores, key=lambda id_: -scores[id_])  # sorted() is stable


def best_passage_per_page(
    ids: Sequence[str], scores: dict[str, float], hits: dict[str, Hit], others: float = 1.0, k: int = 5
) -> list[str]:
    """Pages ranked by their best passage's score plus `others` times the scores of their other passages, each
    page given by its best passage; passages without a page (Markdown, text) stay on their own.

    In a long report the page that answers ("Consolidated Statement of Cash Flows") is many table chunks that
    each match a little, while a page of prose matches with one chunk: summing finds the page, and one passage
    per page leaves room for four other pages instead of four neighbouring rows of one."""

    def page(id_: str) -> tuple[str, int] | str:
        chunk = hits[id_].chunk
        return (chunk.source, chunk.page) if chunk.page is not None else id_

    known = [id_ for id_ in ids if id_ in hits]
    totals: dict[tuple[str, int] | str, float] = {}
    best: dict[tuple[str, int] | str, str] = {}
    for id_ in known:  # best first, so the first passage of a page is its best
        weight = others if page(id_) in best else 1.0
        totals[page(id_)] = totals.get(page(id_), 0.0) + weight * scores[id_]
        best.setdefault(page(id_), id_)
    ranked = sorted(best.values(), key=lambda id_: -totals[page(id_)])
    # Kept in front: the best passage of all, and the most similar of the k best, as they were without pages:
    # a precise question's answer, and the similarity that "is anything relevant?" is decided on.
    if not known:
        return []
    front = list(dict.fromkeys([known[0], max(known[:k], key=lambda id_: hits[id_].score)]))
    pages_in_front = {page(id_) for id_ in front}
    return front + [id_ for id_ in ranked if page(id_) not in pages_in_front]


def maximal_marginal_relevance(query: np.ndarray, vectors: np.ndarray, k: int, lambda_: float) -> list[int]:
    """Indices of k rows chosen one by one for similarity to the query minus similarity to those already chosen."""
    relevance = vectors @ query
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(vectors)))
    while left and len(chosen) < k:
        redundancy = similarity[np.ix_(left, chosen)].max(axis=1) if chosen else np.zeros(len(left))
        best = int(np.argmax(lambda_ * relevance[left] - (1 - lambda_) * redundancy))
        chosen.append(left.pop(best))
    return chosen


class Retriever:
    """Finds the passages for a question in one store, in one of three modes (see `RetrievalMode`)."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        keywords: KeywordIndex | None = None,
        *,
        mode: RetrievalMode = "hybrid",
        candidates: int = 50,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        bm25_weight: float = 1.0,
        mmr_lambda: float | None = None,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
        scoping: bool = True,
        page_fusion: float = 1.0,
    ) -> None:
        if mode != "dense" and keywords is None:
            raise ValueError(f"retrieval mode '{mode}' needs a keyword index")
        self.store = store
        self.embedder = embedder
        self.keywords = keywords
        self.mode = mode
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.weights = (dense_weight, bm25_weight)
        self.mmr_lambda = mmr_lambda
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self.scoping = scoping
        self.page_fusion = page_fusion
        self._catalog: tuple[str, list[Document]] | None = None  # (store generation, its documents)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        reranker: Reranker | None = None,
        keywords: KeywordIndex | None = None,
    ) -> "Retriever":
        keywords = keywords or KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
        return cls(
            store,
            embedder,
            keywords,
            mode=settings.retrieval_mode,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            bm25_weight=settings.bm25_weight,
            mmr_lambda=settings.mmr_lambda,
            reranker=reranker,
            rerank_candidates=settings.rerank_candidates,
            scoping=settings.scope_questions,
            page_fusion=settings.page_fusion,
        )

    def scope(self, question: str, documents: Sequence[Document] | None = None) -> Scope:
        """The documents the question names (rag/scope.py), among `documents` (default: all); everything when
        scoping is off or it names none."""
        if not self.scoping:
            return EVERYTHING
        if documents is None:
            generation = self.store.generation()
            if self._catalog is None or self._catalog[0] != generation:
                self._catalog = (generation, self.store.documents())
            documents = self._catalog[1]
        return scope_question(question, documents)

    def retrieve(self, question: str, k: int, sources: Sequence[str] | None = None) -> list[Hit]:
        """The k best chunks of committed documents (of `sources` when given), best first."""
        if not question.strip():
            return []
        query = self.embedder.embed_query(question)
        depth = max(self.candidates, k)
        rankings: list[list[str]] = []
        weights: list[float] = []
        found: dict[str, Hit] = {}
        if self.mode in ("dense", "hybrid"):
            dense = self.store.search(query, depth, sources=sources)
            found.update((hit.id, hit) for hit in dense)
            rankings.append([hit.id for hit in dense])
            weights.append(self.weights[0])
        if self.mode in ("bm25", "hybrid") and self.keywords is not None:
            self.keywords.sync(self.store)
            rankings.append([id_ for id_, _ in self.keywords.search(question, depth, sources)])
            weights.append(self.weights[1])
        scores = fusion_scores(rankings, weights, self.rrf_k)
        fused = sorted(scores, key=lambda id_: -scores[id_])
        if self.page_fusion:
            self._hits(fused, found, query)  # every candidate's chunk, for its page
            fused = best_passage_per_page(fused, scores, found, self.page_fusion, k)
        wanted = max(k, self.rerank_candidates if self.reranker else 0, 3 * k if self.mmr_lambda is not None else 0)
        hits, vectors = self._hits(fused[:wanted], found, query)
        if self.reranker is not None:
            hits = self.reranker.rerank(question, hits[: self.rerank_candidates]) + hits[self.rerank_candidates :]
        if self.mmr_lambda is not None and len(hits) > 1:
            matrix = np.stack([vectors[hit.id] for hit in hits])
            hits = [hits[i] for i in maximal_marginal_relevance(query, matrix, k, self.mmr_lambda)]
        return hits[:k]

    def _hits(
        self, ids: list[str], found: dict[str, Hit], query: np.ndarray
    ) -> tuple[list[Hit], dict[str, np.ndarray]]:
        """Hits for ids in order; those only BM25 found (and all, for MMR) are read from the store with their
        vectors, which gives their cosine similarity. Ids of uncommitted chunks are dropped."""
        fetch = ids if self.mmr_lambda is not None else [id_ for id_ in ids if id_ not in found]
        records = self.store.chunks_by_id(fetch)
        for id_, (chunk, vector) in records.items():
            found.setdefault(id_, Hit(chunk, float(vector @ query), id_))
        vectors = {id_: vector for id_, (_, vector) in records.items()}
        return [found[id_] for id_ in ids if id_ in found], vectors
