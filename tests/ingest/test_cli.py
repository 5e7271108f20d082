"""The `python -m ingest` contract (DESIGN.md), run as a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

from rag.settings import Settings
from tests.helpers import write_image_bomb_pdf, write_scanned_pdf, write_text_pdf

REPO = Path(__file__).resolve().parents[2]


def run_ingest(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    command = [sys.executable, "-m", "ingest", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_add_list_delete(tmp_path: Path, settings: Settings, handbook_pdf: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "guides").mkdir(parents=True)
    (folder / "guides" / "setup.md").write_text("# Setup\n\nInstall the package, then run it.\n")
    (folder / "notes.txt").write_text("Remember to water the plants on Fridays.\n")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n")
    (folder / ".hidden.md").write_text("# Hidden\n")

    added = run_ingest(settings, "add", str(handbook_pdf), str(folder))
    assert added.returncode == 0, added.stderr
    assert "3 added" in added.stdout and "1 unsupported skipped" in added.stdout

    listed = json.loads(run_ingest(settings, "list", "--json").stdout)
    assert sorted(d["source"] for d in listed) == ["guides/setup.md", "handbook.pdf", "notes.txt"]
    for document in listed:
        fields = {"source", "chunks", "pages", "sha256", "title", "organisation", "doc_type", "period", "collection"}
        assert set(document) == fields
        assert document["chunks"] >= 1 and len(document["sha256"]) == 64
    assert {d["source"]: d["pages"] for d in listed}["handbook.pdf"] == 6
    assert {d["source"]: d["pages"] for d in listed}["notes.txt"] is None
    assert {d["source"]: d["period"] for d in listed}["handbook.pdf"] == "2026"  # its title on every page

    again = run_ingest(settings, "add", str(handbook_pdf), str(folder))
    assert again.returncode == 0 and "3 unchanged" in again.stdout

    deleted = run_ingest(settings, "delete", "notes.txt")
    assert deleted.returncode == 0
    assert [d["source"] for d in json.loads(run_ingest(settings, "list", "--json").stdout)] == [
        "guides/setup.md",
        "handbook.pdf",
    ]
    missing = run_ingest(settings, "delete", "notes.txt")
    assert missing.returncode == 1 and "no document named 'notes.txt'" in missing.stderr


def test_bad_files_are_reported_and_the_rest_still_goes_in(tmp_path: Path, settings: Settings) -> None:
    good = write_text_pdf(tmp_path / "good.pdf", ["A perfectly fine page."])
    scan = write_scanned_pdf(tmp_path / "scan.pdf")
    locked = write_text_pdf(tmp_path / "locked.pdf", ["Secret."], user_password="pw")
    empty = tmp_path / "empty.txt"
    empty.write_text("")

    result = run_ingest(settings, "add", str(scan), str(good), str(locked), str(empty), str(tmp_path / "nope.pdf"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    assert any("scan.pdf: has no text layer" in e for e in errors)
    assert any("locked.pdf: is encrypted with a password" in e for e in errors)
    assert any("empty.txt: is empty" in e for e in errors)
    assert any("nope.pdf: no such file or folder" in e for e in errors)
    assert "1 added, 4 failed" in result.stdout
    listed = json.loads(run_ingest(settings, "list", "--json").stdout)
    assert [d["source"] for d in listed] == ["good.pdf"]


def test_an_unexpected_library_error_fails_that_file_only(tmp_path: Path, settings: Settings) -> None:
    bomb = write_image_bomb_pdf(tmp_path / "bomb.pdf")
    good = write_text_pdf(tmp_path / "good.pdf", ["A perfectly fine page."])
    result = run_ingest(settings, "add", str(bomb), str(good))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bomb.pdf: could not be read (DecompressionBombError" in errors[0]
    assert "1 added, 1 failed" in result.stdout
    assert [d["source"] for d in json.loads(run_ingest(settings, "list", "--json").stdout)] == ["good.pdf"]


def test_if_empty_skips_a_store_that_has_documents(tmp_path: Path, settings: Settings) -> None:
    first = write_text_pdf(tmp_path / "first.pdf", ["First."])
    second = write_text_pdf(tmp_path / "second.pdf", ["Second."])
    assert run_ingest(settings, "add", "--if-empty", str(first)).returncode == 0
    skipped = run_ingest(settings, "add", "--if-empty", str(second))
    assert skipped.returncode == 0 and "nothing to do" in skipped.stdout
    assert [d["source"] for d in json.loads(run_ingest(settings, "list", "--json").stdout)] == ["first.pdf"]


def test_a_folder_names_its_files_by_their_path_inside_it_and_the_summary_counts(tmp_path: Path) -> None:
    from ingest.cli import collect, summary
    from ingest.index import IngestResult

    (tmp_path / "docs" / "guides").mkdir(parents=True)
    (tmp_path / "docs" / "guides" / "setup.md").write_text("x")
    (tmp_path / "docs" / ".hidden.md").write_text("x")
    (tmp_path / "docs" / "photo.png").write_bytes(b"x")
    batch = collect([tmp_path / "docs", tmp_path / "missing.pdf"])
    assert [source for _, source in batch.files] == ["guides/setup.md"]
    assert batch.skipped == 1 and batch.problems == [f"{tmp_path / 'missing.pdf'}: no such file or folder"]
    results = [IngestResult("a.pdf", "added", 3, 10), IngestResult("b.md", "unchanged", None, 2)]
    assert summary(results, failed=1, skipped=2, seconds=1.25) == (
        "Ingested 3 files (1 added, 1 unchanged, 1 failed, 2 unsupported skipped): 3 pages, 10 chunks in 1.2 s"
    )
