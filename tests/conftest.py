"""Shared fixtures: real models loaded once per session, a real handbook PDF, a store with it ingested."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.bundled import provision_generator
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import TransformersGenerator
from rag.models import quiet_model_loading
from rag.settings import Settings
from rag.store import open_store
from tests.helpers import make_settings, write_handbook_pdf


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's RAG_* variables or .env (each test builds its own Settings)."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The provisioned models (`make test` provisions them first; this makes plain `pytest` work too)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    quiet_model_loading()
    provision_generator(settings)
    return settings.models_path.resolve()


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path) -> Settings:
    return make_settings(tmp_path / "data", models_dir)


@pytest.fixture(scope="session")
def embedder(models_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder.from_settings(make_settings(Path("unused"), models_dir))


@pytest.fixture(scope="session")
def generator(models_dir: Path) -> TransformersGenerator:
    return TransformersGenerator.from_settings(make_settings(Path("unused"), models_dir))


@pytest.fixture(scope="session")
def handbook_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_handbook_pdf(tmp_path_factory.mktemp("pdf") / "handbook.pdf")


@pytest.fixture(scope="session")
def handbook_settings(
    tmp_path_factory: pytest.TempPathFactory,
    models_dir: Path,
    handbook_pdf: Path,
    embedder: SentenceTransformerEmbedder,
) -> Settings:
    """A data dir holding the ingested handbook, shared read-only by retrieval, pipeline and app tests."""
    from ingest.index import Indexer

    settings = make_settings(tmp_path_factory.mktemp("handbook") / "data", models_dir)
    indexer = Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap)
    indexer.ingest(handbook_pdf, handbook_pdf.name)
    return settings


@pytest.fixture
def handbook_env(handbook_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment variables that point a subprocess or the app at the handbook store."""
    env = {"RAG_DATA_DIR": str(handbook_settings.data_dir), "RAG_MODELS_DIR": str(handbook_settings.models_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
