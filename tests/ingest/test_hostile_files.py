"""Malformed and hostile uploads, generated here, each refused (or read) with the message a user needs.

Every file goes through what an upload goes through: `check_upload` (name, size, type by content), then the
loader for the detected type (with OCR on). Nothing is written to a store.
"""

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from PIL import Image

from ingest.loaders import LoadError, load
from ingest.uploads import UploadError, check_upload, safe_name
from tests.helpers import write_text_pdf

MAX_BYTES = 200_000
GERMAN = "Die Größe der Straße ist für alle Bürger schön, übrigens auch im Süden. " * 3


def pdf_bytes(tmp: Path, pages: list[str], **options: str) -> bytes:
    return write_text_pdf(tmp / "made.pdf", pages, **options).read_bytes()  # type: ignore[arg-type]


def docx_bytes(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_bomb() -> bytes:
    good = zipfile.ZipFile(io.BytesIO(docx_bytes(["Hello"])))
    files = {name: good.read(name) for name in good.namelist()}
    files["word/media/padding.bin"] = b"\0" * (20 * 2**20)  # 20 MB of zeros in ~20 KB
    return zip_bytes(files)


def docx_with_broken_xml() -> bytes:
    good = zipfile.ZipFile(io.BytesIO(docx_bytes(["Hello"])))
    files = {name: good.read(name) for name in good.namelist()}
    files["word/document.xml"] = b"<w:document><unclosed"
    return zip_bytes(files)


def blank_page_pdf(tmp: Path, with_image: bool) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    if with_image:
        Image.new("RGB", (400, 200), "white").save(tmp / "blank.png")
        pdf.image(str(tmp / "blank.png"), x=20, y=20, w=100)
    else:
        pdf.line(20, 20, 120, 120)
    return bytes(pdf.output())


def pdf_without_pages() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    body, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    body += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


Make = Callable[[Path], bytes]
CASES: list[tuple[str, Make, str]] = [
    ("empty.txt", lambda t: b"", "is empty (0 bytes)"),
    ("huge.txt", lambda t: b"word " * 50_000, "over the 0 MB limit (RAG_MAX_UPLOAD_MB)"),
    ("renamed-binary.txt", lambda t: bytes(range(256)) * 8, "looks like a binary file"),
    ("photo.pdf", lambda t: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "is a PNG image"),
    ("scan.txt", lambda t: b"\xff\xd8\xff\xe0" + b"\0" * 100, "is a JPEG image"),
    ("anim.md", lambda t: b"GIF89a" + b"\0" * 100, "is a GIF image"),
    ("fax.pdf", lambda t: b"II*\x00" + b"\0" * 100, "is a TIFF image"),
    ("tool.txt", lambda t: b"\x7fELF\x02\x01\x01" + b"\0" * 100, "is a program (ELF)"),
    ("setup.docx", lambda t: b"MZ\x90\x00" + b"\0" * 100, "is a Windows program"),
    ("data.csv", lambda t: b"\x1f\x8b\x08\x00" + b"\0" * 100, "is a gzip archive"),
    ("backup.md", lambda t: b"7z\xbc\xaf\x27\x1c" + b"\0" * 100, "is a 7-Zip archive"),
    ("files.txt", lambda t: b"Rar!\x1a\x07\x00" + b"\0" * 100, "is a RAR archive"),
    ("report.doc", lambda t: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "is an old Office file"),
    ("letter.txt", lambda t: b"{\\rtf1\\ansi Hello}", "is an RTF document"),
    ("figure.pdf", lambda t: b"%!PS-Adobe-3.0\n", "is a PostScript file"),
    ("archive.docx", lambda t: zip_bytes({"notes.txt": b"hello"}), "is a ZIP archive, not a Word document"),
    ("broken.docx", lambda t: b"PK\x03\x04" + b"\x13" * 200, "is a damaged ZIP archive"),
    ("bomb.docx", lambda t: docx_bomb(), "a zip bomb? Refused"),
    ("badxml.docx", lambda t: docx_with_broken_xml(), "is not a readable DOCX"),
    ("empty.docx", lambda t: docx_bytes([]), "contains no text"),
    ("corrupt.pdf", lambda t: b"%PDF-1.7\n" + b"\x00garbage\xff" * 50, "is not a readable PDF"),
    ("truncated.pdf", lambda t: pdf_bytes(t, ["Some text"])[:300], "is not a readable PDF"),
    ("locked.pdf", lambda t: pdf_bytes(t, ["Secret"], user_password="pw"), "is encrypted with a password"),
    ("nopages.pdf", lambda t: pdf_without_pages(), "is a PDF with no pages"),
    ("drawing.pdf", lambda t: blank_page_pdf(t, with_image=False), "OCR found no text"),
    ("blank-scan.pdf", lambda t: blank_page_pdf(t, with_image=True), "OCR found no text"),
    ("spaces.txt", lambda t: b" \n\t\n   \n", "contains no text"),
    ("scripts.html", lambda t: b"<html><body><script>var a=1;</script></body></html>", "contains no text"),
    ("blank.csv", lambda t: b",,,\n,,,\n", "contains no text"),
    ("notes.pdf", lambda t: b"These are plain notes, not a PDF.", "named like a PDF file but contains plain text"),
    ("notes.xyz", lambda t: b"Plain text with an odd extension.", "unsupported file type '.xyz'"),
    ("README", lambda t: b"Plain text without an extension.", "unsupported file type '(none)'"),
    ("....", lambda t: b"text", "is not a usable file name"),
    ("latin1.txt", lambda t: GERMAN.encode("latin-1"), "ok"),
    ("utf16.txt", lambda t: "Grüße aus Köln".encode("utf-16"), "ok"),
    ("../../etc/passwd.txt", lambda t: b"root is the administrator account.", "ok"),
    ("page.txt", lambda t: b"<!DOCTYPE html><html><body><p>Hello there</p></body></html>", "ok"),
    ("real.txt", lambda t: pdf_bytes(t, ["A PDF named .txt is read as a PDF."]), "ok"),
]


def outcome(tmp_path: Path, name: str, data: bytes) -> str:
    max_bytes = 100 if name == "huge.txt" else MAX_BYTES
    try:
        upload = check_upload(name, data, max_bytes)
    except UploadError as err:
        return str(err)
    path = tmp_path / upload.name
    path.write_bytes(data)
    try:
        load(path, upload.kind, ocr_language="eng")
    except LoadError as err:
        return f"{upload.name} {err}"
    return "ok"


@pytest.mark.parametrize(("name", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_file_gets_its_message(tmp_path: Path, name: str, make: Make, expected: str) -> None:
    message = outcome(tmp_path, name, make(tmp_path))
    assert expected in message, message
    assert "\n" not in message  # one line, for the UI and the CLI


def test_there_are_at_least_thirty_hostile_files() -> None:
    assert sum(1 for _, _, expected in CASES if expected != "ok") >= 30


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../etc/passwd.txt", "passwd.txt"), ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
     ("/abs/path/report.pdf", "report.pdf"), ("a\x00b\x1fc.txt", "abc.txt"), (".hidden.md", "hidden.md"),
     ('what?<is>"this".txt', "what__is__this_.txt"), ("x" * 300 + ".pdf", "x" * 116 + ".pdf")],
)  # fmt: skip
def test_names_are_made_safe(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_detected_encoding_keeps_the_characters(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(GERMAN.encode("latin-1"))
    assert load(path, "text").sections[0].text == GERMAN.strip()
