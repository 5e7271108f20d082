"""Files -> cleaned text sections (a PDF page, a Markdown or HTML heading section, a text file), or a one-line
reason."""

import codecs
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import charset_normalizer
import pypdfium2 as pdfium
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from ingest import ocr, office, tables
from ingest.clean import clean_pdf_pages, clean_text, normalize, repeated_edge_lines
from ingest.describe import DocumentInfo, describe

_AGAIN = "ingest it again"
PDFIUM = threading.Lock()  # PDFium is not thread-safe, not even across documents: one call at a time per process
FIRST_CHARS = 2000  # of a document without pages, its start: what is read for its organisation, type and period
OCR_HINT = "run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) and ingest the result"


class LoadError(Exception):
    """A file that cannot be ingested; the message is one line that says why and what to do."""


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None  # 1-based physical page of a PDF
    heading: str | None = None  # heading path, e.g. "Install > From source"
    table: str | None = None  # set for a table's rows (one per line): the table's title, "" when untitled


@dataclass(frozen=True)
class LoadedFile:
    sections: list[Section]
    pages: int | None  # page count of a PDF, None for formats without pages
    markdown: bool = False
    info: DocumentInfo | None = None  # title, organisation, type, period: the context of every chunk


def load_pdf(path: Path, ocr_language: str | None = None) -> LoadedFile:
    """Text page by page, each table of a page as a section of its own (ingest.tables); pages without a text
    layer go through OCR when `ocr_language` is given. pypdf checks the file and reads scanned pages' images;
    PDFium reads the text (with word positions, ~20x faster than pypdf's text extraction)."""
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):  # an empty user password opens "no-copy" PDFs
            raise LoadError(f"is encrypted with a password: remove it (e.g. `qpdf --decrypt`) and {_AGAIN}")
        if len(reader.pages) == 0:
            raise LoadError("is a PDF with no pages")
        with PDFIUM:
            document = pdfium.PdfDocument(path, password="" if reader.is_encrypted else None)
            try:
                page_lines = [tables.page_lines(document[number]) for number in range(len(document))]
                metadata_title = (document.get_metadata_dict().get("Title") or "").strip()
            finally:
                document.close()
        ocr_pages: dict[int, str] = {}
        if ocr_language:
            for number, page in enumerate(reader.pages):
                if number < len(page_lines) and not page_lines[number]:
                    ocr_pages[number] = ocr.page_text(page, ocr_language)
    except (LoadError, ocr.OcrUnavailableError) as err:
        raise LoadError(str(err)) from err
    except (
        PyPdfError,
        pdfium.PdfiumError,
        ValueError,
        KeyError,
        TypeError,
        OSError,
        NotImplementedError,
        ZeroDivisionError,
    ) as err:
        raise LoadError(f"is not a readable PDF ({type(err).__name__}: {_first_line(err)})") from err
    if not page_lines:
        raise LoadError("is a PDF with no pages")
    sections = _pdf_sections(page_lines, ocr_pages)
    if not sections and ocr_language:
        raise LoadError("has no text layer, and OCR found no text on its pages (blank or unreadable scans?)")
    if not sections:
        raise LoadError(f"has no text layer (a scanned PDF?): turn on RAG_OCR, or {OCR_HINT}")
    first_pages = "\n".join(line.text for lines in page_lines[:2] for line in lines)  # as laid out, not re-flowed
    info = describe(normalize(first_pages), metadata_title)
    return LoadedFile(sections, pages=len(page_lines), info=info)


def _pdf_sections(page_lines: list[list[tables.Line]], ocr_pages: dict[int, str]) -> list[Section]:
    """Prose of each page (cleaned as a whole document), then the page's tables."""
    texts = [normalize("\n".join(line.text for line in lines)).split("\n") for lines in page_lines]
    boilerplate = repeated_edge_lines(texts)
    prose: list[str] = []
    page_tables: list[list[tables.Table]] = []
    for number, lines in enumerate(page_lines):
        kept, found = tables.split_page(lines, boilerplate)
        prose.append(ocr_pages.get(number) or "\n".join(kept))
        page_tables.append(found)
    sections = []
    for number, (text, found) in enumerate(zip(clean_pdf_pages(prose), page_tables, strict=True), start=1):
        if text:
            sections.append(Section(text, page=number))
        for table in found:
            rows = clean_text(table.text)
            if rows:
                sections.append(Section(rows, page=number, table=normalize(table.title).strip()))
    return sections


def markdown_sections(text: str) -> list[Section]:
    """Split Markdown at its headings; each section keeps its heading path and its own heading line."""
    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").parse(text)
    starts: list[tuple[int, int, str]] = []  # (first line, level, title)
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "heading_open" and opening.map:
            starts.append((opening.map[0], int(opening.tag[1]), inline.content.strip()))
    sections: list[Section] = []
    if not starts or starts[0][0] > 0:
        preamble = "\n".join(lines[: starts[0][0] if starts else len(lines)]).strip()
        if preamble:
            sections.append(Section(preamble))
    path: list[tuple[int, str]] = []
    for number, (first, level, title) in enumerate(starts):
        path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
        end = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
        body = "\n".join(lines[first:end]).strip()
        if body:
            sections.append(Section(body, heading=" > ".join(t for _, t in path)))
    return sections


def decode_text(data: bytes) -> str:
    """Text in UTF-8 (with or without BOM), UTF-16 with a BOM, or an encoding charset-normalizer recognises."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise LoadError("looks like a binary file, not text: check the file type")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.encoding is None:
        raise LoadError(
            f"is neither UTF-8 nor text in an encoding that can be recognised: convert it to UTF-8 and {_AGAIN}"
        )
    return str(best)


def read_text(path: Path) -> str:
    return decode_text(path.read_bytes())


def load_markdown(path: Path) -> LoadedFile:
    return LoadedFile(markdown_sections(clean_text(read_text(path))), pages=None, markdown=True)


_HTML_DROPPED = ["head", "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg", "iframe"]
_HTML_BLOCKS = ["p", "div", "pre", "blockquote", "dd", "dt", "section", "article", "ul", "ol", "figure"]


def html_to_markdown(html: bytes | str) -> str:
    """The readable text of a page, its headings as Markdown headings (so sections get heading paths like
    Markdown's), list items as `- ` lines and table rows as `a | b` lines; menus, footers and scripts dropped."""
    soup = BeautifulSoup(html, "html.parser")  # bytes: the encoding is detected (meta charset, BOM, guessing)
    for tag in soup(_HTML_DROPPED):
        tag.decompose()
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for table in soup.find_all("table")[::-1]:  # innermost first: a nested table becomes text of its cell
        rows = [[cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])] for row in table.find_all("tr")]
        table.replace_with("\n\n" + "\n".join(tables.labelled_rows(rows)) + "\n\n")
    for item in soup.find_all("li"):
        item.replace_with(f"\n- {item.get_text(' ', strip=True)}\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    lines = [" ".join(line.split()) for line in soup.get_text().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def load_html(path: Path) -> LoadedFile:
    data = path.read_bytes()
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("looks like a binary file, not HTML: check the file type")
    return LoadedFile(markdown_sections(clean_text(html_to_markdown(data))), pages=None, markdown=True)


def load_text(path: Path) -> LoadedFile:
    text = clean_text(read_text(path))
    return LoadedFile([Section(text)] if text else [], pages=None)


def load_docx(path: Path) -> LoadedFile:
    try:
        markdown = office.docx_markdown(path)
    except office.OfficeError as err:
        raise LoadError(str(err)) from err
    return LoadedFile(markdown_sections(clean_text(markdown)), pages=None, markdown=True)


def load_csv(path: Path) -> LoadedFile:
    text = clean_text(office.csv_text(read_text(path)))
    return LoadedFile([Section(text)] if text else [], pages=None)


LOADERS: dict[str, Callable[[Path], LoadedFile]] = {
    "pdf": load_pdf,
    "markdown": load_markdown,
    "html": load_html,
    "docx": load_docx,
    "csv": load_csv,
    "text": load_text,
}
EXTENSIONS = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
}


def kind_of(path: Path) -> str | None:
    """The format a file's extension names (None when unsupported)."""
    return EXTENSIONS.get(path.suffix.lower())


def is_supported(path: Path) -> bool:
    return kind_of(path) is not None


def load(path: Path, kind: str | None = None, ocr_language: str | None = None) -> LoadedFile:
    """Load and clean one file as `kind` (default: by its extension); PDF pages without text go through OCR
    when `ocr_language` is set. Raises LoadError with a one-line reason for anything it cannot use."""
    kind = kind or kind_of(path)
    if kind is None or kind not in LOADERS:
        supported = ", ".join(sorted(EXTENSIONS))
        raise LoadError(f"has an unsupported file type '{path.suffix or '(none)'}' (supported: {supported})")
    if not path.is_file():
        raise LoadError("is not a readable file")
    if path.stat().st_size == 0:
        raise LoadError("is empty (0 bytes)")
    loaded = load_pdf(path, ocr_language) if kind == "pdf" else LOADERS[kind](path)
    if not any(section.text.strip() for section in loaded.sections):
        raise LoadError("contains no text")
    if loaded.info is None:  # the title of these formats is their first heading, which chunks carry already
        loaded = replace(loaded, info=describe("\n".join(s.text for s in loaded.sections)[:FIRST_CHARS]))
    return loaded


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "no details"
