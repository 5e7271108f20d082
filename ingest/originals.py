"""Uploaded files as they were received, kept for download and re-ingestion: `originals/<sha256[:32]>/<source>`.

The folder is named by the content, so two versions of one document never overwrite each other while a new
version is being ingested; once a version is in the store (or fails), the others of that source are removed.
"""

from pathlib import Path

from rag.types import Document


def folder_name(sha256: str) -> str:
    return sha256[:32]


def original_path(originals: Path, document: Document) -> Path:
    return originals / folder_name(document.sha256) / document.source


def store_original(originals: Path, source: str, sha256: str, data: bytes) -> Path:
    """Keep the file as received (written atomically); its path."""
    folder = originals / folder_name(sha256)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source
    partial = folder / f".{source}.partial"
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
