"""The reranker wiring, with a real CrossEncoder built from the bundled MiniLM checkpoint (its classification
head is freshly initialised, so its scores mean nothing: what is tested is that they decide the order)."""

from pathlib import Path

import pytest
import torch
from sentence_transformers import CrossEncoder

from rag.embedder import SentenceTransformerEmbedder
from rag.models import ModelNotFoundError, embedding_model_path
from rag.rerank import CrossEncoderReranker
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import open_store

QUESTION = "How many days of paid vacation does a new employee get?"


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    torch.manual_seed(0)
    base = embedding_model_path(Settings(_env_file=None, models_dir=models_dir))  # type: ignore[call-arg]
    folder = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(base, num_labels=1, device="cpu").save(str(folder))
    return folder


def test_reranker_orders_the_fused_candidates_by_its_scores(
    cross_encoder_dir: Path, handbook_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    settings = handbook_settings.model_copy(update={"reranker_model": str(cross_encoder_dir), "rerank_candidates": 6})
    reranker = CrossEncoderReranker.from_settings(settings)
    assert reranker is not None
    store = open_store(settings)
    plain = Retriever.from_settings(settings, store, embedder).retrieve(QUESTION, 6)
    reranked = Retriever.from_settings(settings, store, embedder, reranker).retrieve(QUESTION, 6)

    assert {h.id for h in reranked} == {h.id for h in plain}  # same candidates
    assert [h.id for h in reranked] != [h.id for h in plain]  # in the cross-encoder's order
    independent = CrossEncoder(str(cross_encoder_dir), device="cpu")
    scores = independent.predict([(QUESTION, h.chunk.search_text) for h in reranked], show_progress_bar=False)
    assert list(scores) == sorted(scores, reverse=True)
    assert [h.score for h in reranked] == [  # cosine similarity is kept for the abstention threshold
        next(p.score for p in plain if p.id == h.id) for h in reranked
    ]


def test_no_reranker_unless_configured(handbook_settings: Settings) -> None:
    assert CrossEncoderReranker.from_settings(handbook_settings) is None


def test_missing_reranker_says_what_to_set(tmp_path: Path, handbook_settings: Settings) -> None:
    settings = handbook_settings.model_copy(update={"reranker_model": str(tmp_path / "nowhere")})
    with pytest.raises(ModelNotFoundError, match="RAG_RERANKER_MODEL"):
        CrossEncoderReranker.from_settings(settings)
