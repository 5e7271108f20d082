"""The bundled embedder: unit vectors, and texts embedded lately are not embedded again."""

from pathlib import Path

import numpy as np
import pytest

from rag.embedder import RECENT_TEXTS, SentenceTransformerEmbedder
from tests.helpers import make_settings


@pytest.fixture
def fresh(models_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder.from_settings(make_settings(Path("unused"), models_dir))


def count_encodes(embedder: SentenceTransformerEmbedder) -> list[int]:
    calls: list[int] = []
    encode = embedder.model.encode

    def counted(texts: list[str], **kwargs: object) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts, **kwargs)  # type: ignore[arg-type]

    embedder.model.encode = counted  # type: ignore[method-assign]
    return calls


def test_recent_texts_are_not_embedded_again(fresh: SentenceTransformerEmbedder) -> None:
    calls = count_encodes(fresh)
    first = fresh.embed(["The cafeteria closes at 15:00.", "Parking costs 40 euros.", "Parking costs 40 euros."])
    again = fresh.embed(["Parking costs 40 euros.", "Laptops are encrypted.", "The cafeteria closes at 15:00."])
    assert calls == [2, 1]  # each text once: repeats in a call and across calls come from the cache
    assert np.allclose(again[0], first[1]) and np.allclose(again[2], first[0])
    assert np.allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    assert fresh.embed([]).shape == (0, fresh.dimension)


def test_a_bulk_embedding_does_not_flush_the_cache(fresh: SentenceTransformerEmbedder) -> None:
    fresh.embed(["kept"])
    calls = count_encodes(fresh)
    fresh.embed([f"chunk {n}" for n in range(RECENT_TEXTS // 4 + 1)])  # an ingestion
    fresh.embed(["kept", "chunk 0"])
    assert calls == [RECENT_TEXTS // 4 + 1, 1]  # "kept" still cached; the ingested chunks were not kept
