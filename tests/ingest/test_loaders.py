from pathlib import Path

import pytest

from ingest.loaders import LoadError, load, markdown_sections
from tests.helpers import HANDBOOK_SECTIONS, write_docx, write_scanned_pdf, write_text_pdf


def test_pdf_sections_carry_one_based_physical_pages(handbook_pdf: Path) -> None:
    loaded = load(handbook_pdf)
    assert loaded.pages == 6
    assert [s.page for s in loaded.sections] == [2, 3, 4, 5, 6]  # page 1 is only title and contents
    for section, (title, fact, _) in zip(loaded.sections, HANDBOOK_SECTIONS, strict=True):
        assert section.text.startswith(title)
        assert fact in section.text


def test_pdf_cleaning_removes_headers_footers_and_joins_hyphenation(handbook_pdf: Path) -> None:
    text = "\n".join(s.text for s in load(handbook_pdf).sections)
    assert "ACME Employee Handbook" not in text
    assert "Page 3 of 6" not in text
    assert "collects information from staff" in text


def test_markdown_sections_keep_heading_paths() -> None:
    text = "Intro line.\n\n# Guide\nWelcome.\n\n## Install\nRun it.\n\n```\n# not a heading\n```\n\n# FAQ\nAsk."
    sections = markdown_sections(text)
    assert [(s.heading, s.text.splitlines()[0]) for s in sections] == [
        (None, "Intro line."),
        ("Guide", "# Guide"),
        ("Guide > Install", "## Install"),
        ("FAQ", "# FAQ"),
    ]
    assert "# not a heading" in sections[2].text


def test_html_sections_keep_heading_paths_lists_and_tables(tmp_path: Path) -> None:
    page = tmp_path / "guide.html"
    page.write_bytes(
        "<html><head><title>Site</title><meta charset='latin-1'><style>p {color: red}</style></head><body>"
        "<nav><a href='/'>Home</a> <a href='/x'>Menu item</a></nav>"
        "<h1>Guide</h1><p>Welcome to the caf\xe9.</p>"
        "<h2>Install</h2><p>Run <b>make</b> first.<br>Then wait.</p><ul><li>one</li><li>two</li></ul>"
        "<table><tr><th>Setting</th><th>Default</th></tr><tr><td>port</td><td>8501</td></tr></table>"
        "<h2>Use</h2><div>Ask questions.</div><footer>Copyright 2026</footer><script>var x = 1;</script>"
        "</body></html>".encode("latin-1")
    )
    sections = load(page).sections
    assert [s.heading for s in sections] == ["Guide", "Guide > Install", "Guide > Use"]
    assert "café" in sections[0].text
    install = sections[1].text
    assert "Run make first.\nThen wait." in install
    assert "- one" in install and "- two" in install
    assert "Setting | Default" in install and "port | Default: 8501" in install  # each value named by its column
    everything = " ".join(s.text for s in sections)
    for dropped in ("Menu item", "Copyright", "var x", "color: red", "Site"):
        assert dropped not in everything


def test_text_file_is_one_section(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("\ufeffFirst line.\n\n\n\nSecond line.\n", encoding="utf-8")
    loaded = load(path)
    assert [s.text for s in loaded.sections] == ["First line.\n\nSecond line."]
    assert loaded.pages is None


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = write_text_pdf(tmp_path / "protected.pdf", ["Copying is restricted, reading is not."], user_password="")
    assert "reading is not" in load(path).sections[0].text


BAD_FILES = [
    ("empty.pdf", lambda p: p.write_bytes(b""), "is empty"),
    ("empty.md", lambda p: p.write_bytes(b""), "is empty"),
    ("blank.txt", lambda p: p.write_text("   \n\n  "), "contains no text"),
    ("corrupt.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8), "not a readable PDF"),
    ("not-a-pdf.pdf", lambda p: p.write_text("just some words"), "not a readable PDF"),
    ("locked.pdf", lambda p: write_text_pdf(p, ["Secret plans."], user_password="s3cret"), "encrypted with a password"),
    ("scan.pdf", lambda p: write_scanned_pdf(p), "no text layer"),
    ("binary.txt", lambda p: p.write_bytes(b"\x7fELF\x00\x00\x01binary"), "binary file"),
    ("report.docx", lambda p: p.write_bytes(b"PK\x03\x04"), "is not a readable DOCX"),
    ("slides.pptx", lambda p: p.write_bytes(b"PK\x03\x04"), "unsupported file type '.pptx'"),
    ("README", lambda p: p.write_text("no extension"), "unsupported file type '(none)'"),
]


@pytest.mark.parametrize(("name", "make", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_get_a_one_line_reason(tmp_path: Path, name: str, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    make(path)
    with pytest.raises(LoadError) as caught:
        load(path)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_docx_sections_keep_headings_lists_and_tables_in_order(tmp_path: Path) -> None:
    loaded = load(write_docx(tmp_path / "guide.docx"))
    assert [s.heading for s in loaded.sections] == ["Office guide", "Office guide > Keys"]
    keys = loaded.sections[1].text
    assert keys.index("red box") < keys.index("- Ask the caretaker first") < keys.index("Room | Floor")
    assert "Library | Floor: 3" in keys  # each value named by its column


def test_csv_rows_name_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "rooms.csv"
    path.write_text("room;floor;note\nLibrary;3;quiet\nCanteen;0;\n", encoding="utf-8")
    text = load(path).sections[0].text
    assert text.splitlines() == ["room: Library; floor: 3; note: quiet", "room: Canteen; floor: 0"]


def test_scanned_pages_are_read_with_ocr(tmp_path: Path) -> None:
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1400, 300), "white")
    font = ImageFont.load_default(size=56)
    ImageDraw.Draw(image).text((40, 100), "The archive opens at nine.", fill="black", font=font)
    image.save(tmp_path / "scan.png")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(tmp_path / "scan.png"), x=10, y=20, w=190)
    pdf.output(str(tmp_path / "scan.pdf"))

    with pytest.raises(LoadError, match="turn on RAG_OCR"):
        load(tmp_path / "scan.pdf")
    loaded = load(tmp_path / "scan.pdf", ocr_language="eng")
    assert loaded.sections[0].page == 1
    assert "archive opens at nine" in loaded.sections[0].text


def test_pdfs_loaded_from_several_threads_at_once_read_the_same(handbook_pdf: Path) -> None:
    """PDFium is not thread-safe (the app ingests in a worker thread while pages load PDFs): calls are serialised."""
    from concurrent.futures import ThreadPoolExecutor

    expected = load(handbook_pdf).sections
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: load(handbook_pdf).sections, range(16)))
    assert all(sections == expected for sections in results)
