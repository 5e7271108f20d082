"""DOCX (python-docx: headings, paragraphs, lists and tables in document order) and CSV (one line per row)."""

import csv
import io
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from lxml import etree

from ingest.tables import labelled_rows

MAX_UNZIPPED = 256 * 2**20  # a DOCX whose parts claim more than this is refused (zip bomb)
MAX_RATIO = 200  # nor one whose part expands more than this (text compresses about 5-10x)


class OfficeError(ValueError):
    """The file cannot be read; the message says why."""


def check_zip(path: Path) -> None:
    """Refuse archives that would expand to too much. zipfile never inflates a part past its declared size,
    so bounding the declared sizes bounds the work."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise OfficeError(f"is not a readable DOCX (a damaged ZIP archive: {err})") from err
    total = sum(part.file_size for part in parts)
    worst = max((part.file_size / max(part.compress_size, 1) for part in parts), default=0)
    if total > MAX_UNZIPPED or (worst > MAX_RATIO and total > 10 * 2**20):
        raise OfficeError(
            f"would expand to {total / 2**20:.0f} MB (compression ratio up to {worst:.0f}:1): a zip bomb? Refused"
        )


def _heading_level(style_name: str) -> int | None:
    if style_name == "Title":
        return 1
    if style_name.startswith("Heading "):
        level = style_name.removeprefix("Heading ").strip()
        return min(int(level), 6) if level.isdigit() else None
    return None


def docx_markdown(path: Path) -> str:
    """The document as Markdown: Heading styles become `#` headings, list paragraphs `- ` items, tables rows."""
    check_zip(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, etree.XMLSyntaxError) as err:
        raise OfficeError(f"is not a readable DOCX ({type(err).__name__}: {err})") from err
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = labelled_rows([[cell.text for cell in row.cells] for row in block.rows])
            blocks.append("\n".join(row for row in rows if row.strip(" |")))
            continue
        text = block.text.strip()
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        level = _heading_level(style or "")
        if level:
            blocks.append(f"{'#' * level} {text}")
        elif "List" in (style or ""):
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    return "\n\n".join(blocks)


def csv_text(text: str) -> str:
    """One line per data row, each value named by its column: `name: Ada; role: admin`."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    header, body = [cell.strip() for cell in rows[0]], rows[1:]
    if not body:
        return " | ".join(header)
    lines = []
    for row in body:
        named = enumerate(zip(header, row, strict=False))  # short rows: the missing values are left out
        pairs = [f"{name or f'column {i + 1}'}: {value.strip()}" for i, (name, value) in named]
        pairs += [value.strip() for value in row[len(header) :] if value.strip()]
        lines.append("; ".join(pair for pair in pairs if not pair.endswith(": ")))
    return "\n".join(lines)
