"""The document service the Admin page and `python -m ingest` share: uploads kept as originals that follow their
document, re-ingestion from the original, and deletes that leave nothing behind."""

from pathlib import Path

import pytest

from ingest.documents import DocumentService
from ingest.index import Indexer
from rag.embedder import Embedder
from rag.settings import Settings
from tests.fakes import embedder, settings  # noqa: F401  (fixtures: the fake embedder, a bare data folder)
from tests.ingest.test_cli import run_ingest
from tests.ingest.test_jobs import make_worker


def test_originals_follow_the_document_a_new_upload_replaces_it_and_delete_removes_it(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    worker = make_worker(settings, embedder)
    worker.indexer.originals = settings.originals_dir
    service = DocumentService.from_settings(settings, worker.indexer.store)

    def upload(data: bytes) -> Path:
        job_id = service.upload("boiler.md", data, user="ada")
        worker.run_one()
        return Path(worker.queue.job(job_id).path)

    first = upload(b"# Boiler\n\nThe boiler is serviced every May.\n")
    second = upload(b"# Boiler\n\nThe boiler is serviced every June.\n")  # same name, new content
    assert not first.exists() and second.read_bytes().endswith(b"June.\n")
    failed = upload(b"   \n\n  ")  # a version that cannot be read: the stored one and its original stay
    assert not failed.exists() and second.exists()
    assert list(settings.originals_dir.rglob("*.md")) == [second]

    document = service.documents()[0]
    assert service.original(document) == second
    job_id = service.reingest(document, user="ada")  # read again from the original, though unchanged
    worker.run_one()
    assert worker.queue.job(job_id).message.startswith("updated: ")

    assert service.delete("boiler.md")
    assert not second.exists() and not list(settings.originals_dir.iterdir())


@pytest.mark.slow  # a subprocess
def test_ingest_delete_on_the_command_line_removes_the_original(settings: Settings, embedder: Embedder) -> None:
    worker = make_worker(settings, embedder)
    worker.indexer.originals = settings.originals_dir
    service = DocumentService.from_settings(settings, worker.indexer.store)
    job_id = service.upload("boiler.md", b"# Boiler\n\nThe boiler is serviced every May.\n", user="ada")
    worker.run_one()
    original = Path(service.queue.job(job_id).path)
    assert original.is_file() and service.documents()
    result = run_ingest(settings, "delete", "boiler.md")
    assert result.returncode == 0, result.stderr
    assert not original.exists() and DocumentService.from_settings(settings).documents() == []


def test_a_document_from_the_command_line_has_no_original_to_reingest(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe boiler is serviced every May.\n")
    indexer = Indexer.from_settings(settings)
    indexer.ingest(note, "note.md")
    service = DocumentService.from_settings(settings, indexer.store)
    document = service.documents()[0]
    assert service.original(document) is None
    with pytest.raises(ValueError, match="no original to re-read"):
        service.reingest(document, user=None)
    assert service.delete("note.md") and service.documents() == [] and not service.delete("note.md")
