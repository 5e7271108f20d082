"""Uploaded files as they were received, kept for download and re-ingestion: `originals/<sha256[:32]>/<source>`.

The folder is named by the content, so two versions of one document never overwrite each other while a new
version is being ingested; once a version is in the store (or fails), the others of that source are removed.
"""

import hashlib
from pathlib import Path

from rag.types import Document


def folder_name(sha256: str) -> str:
    return sha256[:32]


def original_path(originals: Path, document: Document) -> Path:
    return originals / folder_name(document.sha256) / document.source


def store_original(originals: Path, source: str, sha256: str, data: bytes) -> Path:
    """Keep the file as received (written atomically); its path."""
    target = originals / folder_name(sha256) / source  # a source from a folder keeps its path: "guides/a.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def remove_originals(originals: Path, source: str, keep: str | None = None) -> int:
    """Delete the stored originals of `source` (all but the one in folder `keep`); how many were removed."""
    if not originals.is_dir():
        return 0
    removed = 0
    for folder in originals.iterdir():
        target = folder / source
        if folder.name == keep or not target.is_file() or not target.resolve().is_relative_to(originals.resolve()):
            continue
        target.unlink()
        removed += 1
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


def keep_original(originals: Path, source: str, path: Path, document: Document | None) -> None:
    """Keep a file ingested from the command line as the original of `document` (its committed version), the
    other versions of that source removed; nothing when the store holds another version than the file."""
    if document is None or original_path(originals, document).is_file():
        return
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != document.sha256:
        return  # changed since it was read
    store_original(originals, source, document.sha256, data)
    remove_originals(originals, source, keep=folder_name(document.sha256))
