"""Ingestion writes whole documents and only when the content changed (fake embedder: the vectors do not matter
here; tests/rag/test_pipeline.py ingests with the real one)."""

import shutil
from pathlib import Path

import pytest

from ingest.index import Indexer
from ingest.loaders import LoadError
from rag.embedder import Embedder
from rag.settings import Settings
from rag.store import Store, open_store
from rag.types import file_sha256
from tests.fakes import embedder, settings  # noqa: F401  (fixtures: the fake embedder, a bare data folder)
from tests.helpers import write_text_pdf


def make_indexer(settings: Settings, embedder: Embedder) -> Indexer:
    return Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap)


def all_chunk_ids(store: Store) -> list[str]:
    return sorted(store.chunks.get(include=[])["ids"])


def test_ingest_then_reingest_unchanged_changes_nothing(
    settings: Settings, embedder: Embedder, handbook_pdf: Path
) -> None:
    indexer = make_indexer(settings, embedder)
    first = indexer.ingest(handbook_pdf, "handbook.pdf")
    assert (first.status, first.pages) == ("added", 6)
    ids = all_chunk_ids(indexer.store)
    assert len(ids) == first.chunks > 0
    before = indexer.store.document("handbook.pdf")

    again = indexer.ingest(handbook_pdf, "handbook.pdf")
    assert again.status == "unchanged"
    assert all_chunk_ids(indexer.store) == ids
    assert indexer.store.document("handbook.pdf") == before  # not even the timestamp moved


def test_changed_file_replaces_its_chunks_without_duplicates(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    indexer = make_indexer(settings, embedder)
    path = write_text_pdf(tmp_path / "policy.pdf", ["Old rule: badges are blue.", "Second page, old version."])
    indexer.ingest(path, "policy.pdf")
    write_text_pdf(path, ["New rule: badges are green.", "Second page.", "A third page."])
    result = indexer.ingest(path, "policy.pdf")
    assert (result.status, result.pages) == ("updated", 3)

    stored = indexer.store.chunks.get(include=["documents", "metadatas"])
    texts = " ".join(stored["documents"] or [])
    assert "badges are green" in texts and "badges are blue" not in texts
    assert len(stored["ids"]) == len(set(stored["ids"])) == result.chunks
    assert {m["sha256"] for m in stored["metadatas"] or []} == {indexer.store.document("policy.pdf").sha256}  # type: ignore[union-attr]
    assert [d.source for d in indexer.store.documents()] == ["policy.pdf"]


def test_ids_are_deterministic_across_stores(tmp_path: Path, embedder: Embedder, handbook_pdf: Path) -> None:
    from tests.helpers import make_settings

    stores = []
    for name in ("a", "b"):
        indexer = make_indexer(make_settings(tmp_path / name, tmp_path / "no-models"), embedder)
        indexer.ingest(handbook_pdf, "handbook.pdf")
        stores.append(all_chunk_ids(indexer.store))
    assert stores[0] == stores[1]


def test_a_file_that_fails_writes_nothing_and_keeps_the_old_version(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    indexer = make_indexer(settings, embedder)
    path = write_text_pdf(tmp_path / "manual.pdf", ["The manual says hello."])
    indexer.ingest(path, "manual.pdf")
    ids = all_chunk_ids(indexer.store)
    shutil.copy(path, tmp_path / "backup.pdf")
    path.write_bytes(b"%PDF-1.4 truncated garbage")
    with pytest.raises(LoadError):
        indexer.ingest(path, "manual.pdf")
    assert all_chunk_ids(indexer.store) == ids
    assert indexer.store.document("manual.pdf").sha256 == file_sha256(tmp_path / "backup.pdf")  # type: ignore[union-attr]


def test_chunk_size_beyond_the_embedder_is_refused(settings: Settings, embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="longer than the embedder reads"):
        Indexer(open_store(settings), embedder, 300, 20)
