from rag.embedder import SentenceTransformerEmbedder
from rag.retrieve import DenseRetriever, relevant_passages
from rag.settings import Settings
from rag.store import Chunk, Hit, Store
from tests.helpers import HANDBOOK_FACTS, OUT_OF_CORPUS


def retriever(settings: Settings, embedder: SentenceTransformerEmbedder) -> DenseRetriever:
    return DenseRetriever(Store.open(settings), embedder)


def test_questions_about_distinct_facts_find_their_page(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    dense = retriever(handbook_settings, embedder)
    for question, page, expected in HANDBOOK_FACTS:
        hits = dense.retrieve(question, handbook_settings.top_k)
        assert hits[0].chunk.page == page, (question, [(h.chunk.page, round(h.score, 2)) for h in hits])
        assert expected in hits[0].chunk.text
        assert hits[0].chunk.source == "handbook.pdf"
        assert hits[0].score >= handbook_settings.relevance_threshold


def test_out_of_corpus_questions_score_below_the_threshold(
    handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    dense = retriever(handbook_settings, embedder)
    for question in OUT_OF_CORPUS:
        best = dense.retrieve(question, 1)[0]
        assert best.score < handbook_settings.relevance_threshold, (question, best.score)


def test_blank_question_retrieves_nothing(handbook_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    assert retriever(handbook_settings, embedder).retrieve("   ", 5) == []


def test_relevant_passages_abstain_below_the_threshold_and_cut_at_the_margin() -> None:
    hits = [Hit(Chunk(f"t{n}", "a.md", n), score) for n, score in enumerate([0.62, 0.55, 0.47, 0.30])]
    assert relevant_passages(hits, threshold=0.35, margin=0.15) == hits[:3]
    assert relevant_passages(hits, threshold=0.35, margin=0.0) == hits[:1]
    assert relevant_passages(hits, threshold=0.7, margin=0.15) == []
    assert relevant_passages([], threshold=0.35, margin=0.15) == []
