from pathlib import Path

import numpy as np
import pytest

from ingest.index import Indexer
from rag.components import Components
from rag.decide import relevant_passages
from rag.embedder import SentenceTransformerEmbedder
from rag.retrieve import Retriever, maximal_marginal_relevance, reciprocal_rank_fusion
from rag.settings import Settings
from rag.store import open_store
from rag.types import Hit
from tests.fakes import FakeEmbedder
from tests.helpers import HANDBOOK_FACTS, OUT_OF_CORPUS

MODES = ["dense", "bm25", "hybrid"]
# Out of the corpus, yet sharing words with it ("days", "paid", "opening"): BM25 alone finds "matches".
OFF_TOPIC_WITH_SHARED_WORDS = [
    "How many days does the Moon take to orbit the Earth?",
    "Which football players are paid the most?",
    "What is the opening day of the football season?",
]


def retriever(settings: Settings, embedder: SentenceTransformerEmbedder, mode: str, **overrides: object) -> Retriever:
    chosen = settings.model_copy(update={"retrieval_mode": mode, **overrides})
    return Retriever.from_settings(chosen, open_store(chosen), embedder)


@pytest.mark.parametrize("mode", MODES)
def test_questions_about_distinct_facts_find_their_page(
    mode: str, handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    found = retriever(handbook_settings, embedder, mode)
    for question, page, expected in HANDBOOK_FACTS:
        hits = found.retrieve(question, handbook_settings.top_k)
        assert hits[0].chunk.page == page, (question, [(h.chunk.page, round(h.score, 2)) for h in hits])
        assert expected in hits[0].chunk.text
        assert hits[0].chunk.source == "handbook.pdf"
        assert relevant_passages(hits, handbook_settings.relevance_threshold, handbook_settings.relevance_margin)


@pytest.mark.parametrize("mode", MODES)
def test_out_of_corpus_questions_abstain_in_every_mode(
    mode: str, handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    found = retriever(handbook_settings, embedder, mode)
    s = handbook_settings
    for question in OUT_OF_CORPUS + OFF_TOPIC_WITH_SHARED_WORDS:
        hits = found.retrieve(question, s.top_k)
        assert relevant_passages(hits, s.relevance_threshold, s.relevance_margin) == [], (question, hits[:1])


def test_bm25_alone_would_not_abstain_on_shared_words(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    """Why the threshold is on cosine similarity: BM25 returns scored hits for these off-topic questions."""
    keywords = retriever(handbook_settings, embedder, "bm25").keywords
    assert keywords is not None
    keywords.sync(open_store(handbook_settings))
    for question in OFF_TOPIC_WITH_SHARED_WORDS:
        assert keywords.search(question, 5), question


def test_every_hit_carries_its_cosine_similarity(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    question = "What is the phone extension of the IT helpdesk?"
    query = embedder.embed_query(question)
    for mode in MODES:
        for hit in retriever(handbook_settings, embedder, mode).retrieve(question, 5):
            expected = float(embedder.embed([hit.chunk.search_text])[0] @ query)
            assert hit.score == pytest.approx(expected, abs=1e-3), (mode, hit.id)


def test_hybrid_finds_an_exact_number_dense_ranks_lower(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    """A bare identifier is what keyword search is for; fusion keeps it at the top."""
    bm25 = retriever(handbook_settings, embedder, "bm25").retrieve("4321", 3)
    hybrid = retriever(handbook_settings, embedder, "hybrid").retrieve("4321", 3)
    assert bm25[0].chunk.page == 5
    assert hybrid[0].chunk.page == 5


def test_blank_question_retrieves_nothing(handbook_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    for mode in MODES:
        assert retriever(handbook_settings, embedder, mode).retrieve("   ", 5) == []


def test_mmr_keeps_relevance_first_and_returns_k(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    question = "When does the staff cafeteria close?"
    plain = retriever(handbook_settings, embedder, "hybrid").retrieve(question, 3)
    diverse = retriever(handbook_settings, embedder, "hybrid", mmr_lambda=0.5).retrieve(question, 3)
    assert len(diverse) == 3
    assert diverse[0].id == max(plain, key=lambda h: h.score).id
    assert len({h.id for h in diverse}) == 3


def test_reciprocal_rank_fusion() -> None:
    # a: 1/61 + 1/63; b: 1/62 + 1/61; c: 1/63; d: 1/62
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "a"]], [1.0, 1.0], k=60)
    assert fused == ["b", "a", "d", "c"]
    assert reciprocal_rank_fusion([["a", "b"], ["b", "a"]], [1.0, 0.0], k=60) == ["a", "b"]
    assert reciprocal_rank_fusion([["a", "b"], ["b", "a"]], [0.2, 1.0], k=60) == ["b", "a"]
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]], [1.0, 1.0], k=60) == ["x", "y"]  # tie: first seen
    assert reciprocal_rank_fusion([[], []], [1.0, 1.0], k=60) == []


def test_maximal_marginal_relevance_skips_near_duplicates() -> None:
    query = np.array([1.0, 0.0, 0.0])
    vectors = np.array([[0.9, 0.436, 0.0], [0.9, 0.436, 0.0], [0.8, 0.0, 0.6]])
    assert maximal_marginal_relevance(query, vectors, 2, lambda_=1.0) == [0, 1]  # relevance only
    assert maximal_marginal_relevance(query, vectors, 2, lambda_=0.5) == [0, 2]  # the copy is skipped
    assert maximal_marginal_relevance(query, vectors, 5, lambda_=0.5) == [0, 2, 1]


# Fast: the same retriever on a fake embedder (bag of words), with real Chroma and bm25s. -----------------------

TEXTS = {
    "kayak.md": "The rowing club keeps its kayaks in the boathouse by the river.",
    "kayak-copy.md": "The rowing club keeps its kayaks in the boathouse by the river.",
    "honey.md": "The beekeepers harvest honey every August from the hives.",
    "boathouse.md": "Boathouse opening hours are posted on the door.",
}


class Reversing:
    """A reranker that puts the fused order upside down and remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        self.seen.append([h.chunk.source for h in hits])
        return hits[::-1]


def fake_retriever(tmp_path: Path, settings: Settings, **update: object) -> Retriever:
    chosen = settings.model_copy(update=update)
    embedder = FakeEmbedder()
    parts = Components(chosen, embedder=embedder)
    indexer = Indexer(parts.store, embedder, chosen.chunk_size, chosen.chunk_overlap, parts.keywords)
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        indexer.ingest(tmp_path / name, name)
    return parts.retriever


def test_each_mode_finds_by_its_own_signal_and_every_hit_has_a_cosine(tmp_path: Path, data_settings: Settings) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        hits = fake_retriever(tmp_path / mode, data_settings, retrieval_mode=mode).retrieve("honey harvest", 2)
        assert hits[0].chunk.source == "honey.md", mode
        assert all(-1.0 <= h.score <= 1.0 for h in hits) and hits[0].score > 0.3
    assert fake_retriever(tmp_path / "empty", data_settings).retrieve("   ", 3) == []


def test_the_reranker_reorders_only_its_candidates(tmp_path: Path, data_settings: Settings) -> None:
    retriever = fake_retriever(tmp_path, data_settings, rerank_candidates=2)
    plain = [h.chunk.source for h in retriever.retrieve("kayaks in the boathouse", 4)]
    retriever.reranker = reranker = Reversing()
    reranked = [h.chunk.source for h in retriever.retrieve("kayaks in the boathouse", 4)]
    assert reranker.seen == [plain[:2]]
    assert reranked == plain[:2][::-1] + plain[2:]


def test_mmr_trades_a_duplicate_for_something_new(tmp_path: Path, data_settings: Settings) -> None:
    relevance_only = fake_retriever(tmp_path / "a", data_settings, retrieval_mode="dense")
    assert {h.chunk.source for h in relevance_only.retrieve("kayaks boathouse", 2)} == {"kayak.md", "kayak-copy.md"}
    varied = fake_retriever(tmp_path / "b", data_settings, retrieval_mode="dense", mmr_lambda=0.5)
    sources = [h.chunk.source for h in varied.retrieve("kayaks boathouse", 2)]
    assert sources[0] in {"kayak.md", "kayak-copy.md"} and sources[1] == "boathouse.md"


def test_pages_are_ranked_by_all_their_passages_and_given_once() -> None:
    """A statement page of many weakly matching rows beats a prose page with one good chunk, after the best
    passage of all and the most similar one, which stay in front."""
    from rag.retrieve import best_passage_per_page
    from rag.types import Chunk

    def hit(id_: str, page: int | None, cosine: float) -> Hit:
        return Hit(Chunk(id_, "report.pdf", 0, page=page), cosine, id_)

    hits = {h.id: h for h in [
        hit("prose", 3, 0.50), hit("row1", 60, 0.40), hit("row2", 60, 0.39), hit("row3", 60, 0.38),
        hit("similar", 9, 0.70), hit("other", 12, 0.30), hit("markdown", None, 0.45),
    ]}  # fmt: skip
    order = ["prose", "other", "row1", "row2", "similar", "row3", "markdown", "uncommitted"]
    scores = {id_: 1 / (60 + rank) for rank, id_ in enumerate(order, start=1)}
    ranked = best_passage_per_page(order, scores, hits, others=1.0, k=5)
    assert ranked == ["prose", "similar", "row1", "other", "markdown"]
    assert best_passage_per_page(order, scores, hits, others=0.0, k=5)[2:4] == ["other", "row1"]  # best alone
    assert best_passage_per_page([], {}, {}) == []
