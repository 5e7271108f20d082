"""Text cleaning for extracted PDF pages and plain text."""

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

HYPHENATED_BREAK = re.compile(r"(\w)[-\u00ad]\n(?=[a-z])")  # "informa-\ntion" -> "information"
DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlc]+)\s*$", re.IGNORECASE)  # "Introduction ..... 3"
PAGE_NUMBER = re.compile(
    r"^\s*(?:page\s+)?[-\u2013]?\s*(?:\d+|[ivxlc]+)\s*[-\u2013]?\s*(?:(?:of|/)\s*\d+)?\s*$", re.IGNORECASE
)
SENTENCE_END = re.compile(r"[.!?:;)\]\"'\u201d]$")
SPACES = re.compile(r"[ \t\u00a0]+")
SHORT_LINE = 0.7  # a line shorter than this share of the page's full lines ends its paragraph
EDGE_LINES = 2  # how many lines at the top and bottom of a page may be running headers or footers


def normalize(text: str) -> str:
    """NFKC (ligatures, full-width forms), unified newlines, no control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return "\n".join(SPACES.sub(" ", line).strip() for line in text.split("\n"))


def line_signature(line: str) -> str:
    """Lines that differ only by their numbers ("Page 3", "Page 4") count as the same line."""
    return re.sub(r"\d+", "#", line.lower()).strip()


def _edge_indexes(lines: list[str]) -> set[int]:
    """Where running headers and footers can be: the first and last lines, never the middle of a short page."""
    depth = min(EDGE_LINES, len(lines) // 3 or 1)
    return set(range(depth)) | set(range(len(lines) - depth, len(lines)))


def repeated_edge_lines(pages: Sequence[list[str]], min_pages: int = 3) -> set[str]:
    """Signatures of lines found at the top or bottom of at least `min_pages` pages.

    Running headers often change per chapter ("Chapter 2: R Basics 7"), so a line need not repeat on most
    pages, only on a few.
    """
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({line_signature(lines[i]) for i in _edge_indexes(lines) if lines[i]})
    return {signature for signature, n in counts.items() if n >= min_pages}


def _join_lines(lines: list[str]) -> str:
    """Re-flow PDF lines into paragraphs: a line break inside a sentence becomes a space.

    A break is kept after a line that ends a sentence or that is clearly shorter than the page's full lines
    (a heading, the last line of a paragraph, a list item).
    """
    lengths = sorted(len(line) for line in lines if line)
    full_width = lengths[int(len(lengths) * 0.8)] if lengths else 0
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        previous = paragraphs[-1][-1] if paragraphs[-1] else ""
        if not line:
            paragraphs.append([])
        elif previous and len(previous) >= SHORT_LINE * full_width and not SENTENCE_END.search(previous):
            paragraphs[-1].append(line)
        else:
            paragraphs.append([line])
    return "\n".join(" ".join(p) for p in paragraphs if p)


def clean_pdf_pages(raw_pages: Sequence[str]) -> list[str]:
    """Clean the text of every page of one PDF; page i of the result is page i of the input."""
    pages = [HYPHENATED_BREAK.sub(r"\1", normalize(text)).split("\n") for text in raw_pages]
    boilerplate = repeated_edge_lines(pages)
    cleaned = []
    for lines in pages:
        kept = []
        edges = _edge_indexes(lines)
        for number, line in enumerate(lines):
            if number in edges and (line_signature(line) in boilerplate or PAGE_NUMBER.match(line)):
                continue
            if DOT_LEADER.search(line):
                continue  # table-of-contents entry: only noise for retrieval
            kept.append(line)
        cleaned.append(_join_lines(kept).strip())
    return cleaned


def clean_text(text: str) -> str:
    """Plain text and Markdown: normalise, but keep line structure (lists, code, tables)."""
    return re.sub(r"\n{3,}", "\n\n", normalize(text)).strip()
