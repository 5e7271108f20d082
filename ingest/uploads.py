"""Files uploaded in the browser -> checked, named safely, stored as originals, queued for ingestion.

The type is decided by the content (magic bytes, then whether it decodes as text), never by the extension
alone: a renamed binary is refused, and a PDF named `.txt` is read as the PDF it is.
"""

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.jobs import JobQueue
from ingest.loaders import EXTENSIONS, LoadError, decode_text
from ingest.originals import folder_name, store_original
from rag.store import Store

# Binary formats people upload by mistake, by their first bytes: (magic, what it is, what to do)
KNOWN_BINARIES = [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc/.xls/.ppt)", "save it as .docx or PDF"),
    (b"\x89PNG", "a PNG image", "put it in a PDF and it will be read with OCR"),
    (b"\xff\xd8\xff", "a JPEG image", "put it in a PDF and it will be read with OCR"),
    (b"GIF8", "a GIF image", "convert it to PDF"),
    (b"II*\x00", "a TIFF image", "convert it to PDF"),
    (b"MM\x00*", "a TIFF image", "convert it to PDF"),
    (b"\x1f\x8b", "a gzip archive", "unpack it and upload the files inside"),
    (b"7z\xbc\xaf", "a 7-Zip archive", "unpack it and upload the files inside"),
    (b"Rar!", "a RAR archive", "unpack it and upload the files inside"),
    (b"\x7fELF", "a program (ELF)", "upload documents only"),
    (b"MZ", "a Windows program", "upload documents only"),
    (b"{\\rtf", "an RTF document", "save it as .docx or PDF"),
    (b"%!PS", "a PostScript file", "convert it to PDF"),
]
TEXT_KINDS = {"markdown", "html", "csv", "text"}
MAX_NAME = 120


class UploadError(ValueError):
    """An upload that is refused; the message says why and what to do."""


@dataclass(frozen=True)
class Upload:
    name: str  # sanitised file name, the document's source
    kind: str
    sha256: str
    size: int


def safe_name(name: str) -> str:
    """A plain file name: no folders (so no `../`), no control or reserved characters, no leading dot."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r'[<>:"|?*]', "_", base).strip().lstrip(".").strip()
    if len(base) > MAX_NAME:
        stem, dot, suffix = base.rpartition(".")
        base = (stem[: MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) <= 10 else base[:MAX_NAME]
    if not base or base in {".", ".."}:
        raise UploadError(f"'{name}' is not a usable file name: rename the file and upload it again")
    return base


def detect_kind(data: bytes, name: str) -> str:
    """pdf, docx, html, markdown, csv or text, from the content; UploadError for anything else."""
    head = data[:2048]
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                is_docx = "word/document.xml" in archive.namelist()
        except zipfile.BadZipFile as err:
            raise UploadError(f"{name} is a damaged ZIP archive (a broken DOCX?): save it again and upload it") from err
        if is_docx:
            return "docx"
        raise UploadError(f"{name} is a ZIP archive, not a Word document: unpack it and upload the files inside")
    for magic, what, advice in KNOWN_BINARIES:
        if head.startswith(magic):
            raise UploadError(f"{name} is {what}, which cannot be read as a document: {advice}")
    try:
        text = decode_text(data)
    except LoadError as err:
        raise UploadError(f"{name} {err}") from err
    start = text.lstrip()[:1024].lower()
    if start.startswith(("<!doctype html", "<html")) or "<body" in start:
        return "html"
    by_extension = EXTENSIONS.get(Path(name).suffix.lower())
    if by_extension in TEXT_KINDS:
        return by_extension
    if by_extension is not None:  # e.g. notes.pdf that is plain text
        raise UploadError(f"{name} is named like a {by_extension.upper()} file but contains plain text: fix its name")
    supported = ", ".join(sorted(EXTENSIONS))
    raise UploadError(f"{name} has an unsupported file type '{Path(name).suffix or '(none)'}' ({supported})")


def check_upload(name: str, data: bytes, max_bytes: int) -> Upload:
    """Validate one uploaded file; raises UploadError with a one-line reason."""
    clean = safe_name(name)
    if not data:
        raise UploadError(f"{clean} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise UploadError(
            f"{clean} is {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit (RAG_MAX_UPLOAD_MB)"
        )
    return Upload(clean, detect_kind(data, clean), hashlib.sha256(data).hexdigest(), len(data))


def submit_upload(
    name: str,
    data: bytes,
    *,
    store: Store,
    queue: JobQueue,
    originals: Path,
    max_bytes: int,
    user: str | None,
    collection: str | None = None,
) -> int:
    """Check an upload, keep the original and queue its ingestion; the job's id. UploadError when refused,
    including a file whose exact content is already in the store or queued (under any name)."""
    upload = check_upload(name, data, max_bytes)
    same = [d.source for d in store.documents() if d.sha256 == upload.sha256]
    if same:
        raise UploadError(f"{upload.name} has the same content as '{same[0]}', already in the knowledge base: skipped")
    pending = [j for j in queue.jobs(1000) if j.state in ("queued", "running")]
    queued = [j.source for j in pending if Path(j.path).parent.name == folder_name(upload.sha256)]
    if queued:
        raise UploadError(f"{upload.name} has the same content as '{queued[0]}', already queued: skipped")
    original = store_original(originals, upload.name, upload.sha256, data)
    return queue.submit(upload.name, original, upload.kind, user, collection=collection)
