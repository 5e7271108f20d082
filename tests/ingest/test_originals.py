"""Where uploaded files are kept, and that only the version in the store keeps its original."""

from pathlib import Path

from ingest.originals import folder_name, original_path, remove_originals, store_original
from rag.types import Document


def test_originals_are_kept_by_content_and_removed_by_name(tmp_path: Path) -> None:
    first = store_original(tmp_path, "guide.pdf", "a" * 64, b"one")
    second = store_original(tmp_path, "guide.pdf", "b" * 64, b"two")
    other = store_original(tmp_path, "notes.md", "c" * 64, b"three")
    assert first.parent.name == folder_name("a" * 64) and first.read_bytes() == b"one"
    assert original_path(tmp_path, Document("guide.pdf", "b" * 64, 1, 1, 3, "now")) == second
    assert not list(tmp_path.rglob(".*.partial"))  # written atomically
    assert remove_originals(tmp_path, "guide.pdf", keep=folder_name("b" * 64)) == 1
    assert not first.exists() and not first.parent.exists() and second.exists() and other.exists()
    assert remove_originals(tmp_path, "guide.pdf") == 1 and not second.exists()
    assert remove_originals(tmp_path / "missing", "guide.pdf") == 0


def test_a_name_cannot_reach_outside_the_originals_folder(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("keep me")
    originals = tmp_path / "originals"
    store_original(originals, "a.md", "d" * 64, b"x")
    assert remove_originals(originals, "../../secret.txt") == 0 and outside.exists()
