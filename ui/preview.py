"""Where a cited passage comes from: the PDF page rendered (pypdfium2) with the passage highlighted from the
page's text positions, or, for formats without pages, the passage inside its section with its heading path.

The passage readers are given is cleaned text (ligatures undone, hyphenated breaks joined, running headers
dropped), so it is not searched for verbatim: the page's words and the passage's words are aligned
(difflib), and the words that line up, in runs of at least two, are highlighted line by line. Rendered pages
are cached on disk (RAG_DATA_DIR/previews), named by the document's content, page and passage.
"""

import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

from rag.safety.pii import find_pii
from rag.types import Chunk

SCALE = 1.5  # 108 dpi: a page is readable in the chat column
HIGHLIGHT = (255, 200, 0)  # amber, laid over the text at OPACITY
OPACITY = 0.4
MIN_RUN = 2  # words in a row that must line up (a lone "the" matching somewhere is no evidence)
VERSION = 1  # bumped when rendering changes: older cached pages are not used
_WORD = re.compile(r"\w+")

Box = tuple[int, int, int, int]  # left, top, right, bottom in image pixels


class PreviewError(ValueError):
    """The page cannot be rendered; the message says why."""


@dataclass(frozen=True)
class PagePreview:
    image: Path  # a PNG in the cache
    boxes: list[Box]  # the highlighted rectangles
    page: int  # 1-based


def _normal(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def page_text(textpage: pdfium.PdfTextPage) -> str:
    """The page's characters, one per character index of the text page (what its boxes are looked up by)."""
    return "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage, i)) for i in range(textpage.count_chars()))


def page_words(text: str) -> list[tuple[str, list[int]]]:
    """The page's words, each with the indices of its characters."""
    return [(_normal(m.group()), list(range(m.start(), m.end()))) for m in _WORD.finditer(text)]


def matched_words(page: list[str], passage: list[str]) -> list[int]:
    """Indices of page words that line up with the passage's words in runs of MIN_RUN or more."""
    matcher = difflib.SequenceMatcher(None, page, passage, autojunk=False)
    found: list[int] = []
    for block in matcher.get_matching_blocks():
        if block.size >= min(MIN_RUN, len(passage)):
            found.extend(range(block.a, block.a + block.size))
    return found


def line_boxes(textpage: pdfium.PdfTextPage, words: list[list[int]], page_height: float) -> list[Box]:
    """One rectangle per run of words on one line, in image pixels."""
    boxes: list[list[float]] = []  # left, top, right, bottom in PDF points from the top
    for chars in words:
        edges = [textpage.get_charbox(i) for i in chars]
        left, right = min(e[0] for e in edges), max(e[2] for e in edges)
        top, bottom = page_height - max(e[3] for e in edges), page_height - min(e[1] for e in edges)
        last = boxes[-1] if boxes else None
        if last is not None and abs(last[1] - top) < 0.5 * (bottom - top) and left >= last[0]:
            last[2], last[1], last[3] = max(last[2], right), min(last[1], top), max(last[3], bottom)
        else:
            boxes.append([left, top, right, bottom])
    pad = 1.5
    return [(int((x0 - pad) * SCALE), int((y0 - pad) * SCALE), int((x1 + pad) * SCALE), int((y1 + pad) * SCALE))
            for x0, y0, x1, y1 in boxes]  # fmt: skip


def _cache_name(pdf: Path, page: int, passage: str, pii_region: str | None) -> str:
    # The file by path, size and time, not by reading it: this runs for every cited page at every page run.
    # Originals are kept in folders named by their content (ingest/originals.py), so a path is one version.
    found = pdf.stat()
    key = json.dumps([VERSION, str(pdf.resolve()), found.st_size, found.st_mtime_ns, page, passage, SCALE, pii_region])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def render_page(pdf: Path, page: int, passage: str, cache: Path, pii_region: str | None = None) -> PagePreview:
    """Page `page` (1-based) of `pdf` as a PNG with the words of `passage` highlighted (cached); with
    `pii_region`, personal data on the page (rag/safety/pii.py) is blacked out, as it is redacted in passages."""
    name = _cache_name(pdf, page, passage, pii_region)
    image, boxes_file = cache / f"{name}.png", cache / f"{name}.json"
    if image.is_file() and boxes_file.is_file():
        boxes = [tuple(box) for box in json.loads(boxes_file.read_text(encoding="utf-8"))]
        return PagePreview(image, boxes, page)  # type: ignore[arg-type]
    try:
        document = pdfium.PdfDocument(str(pdf))
    except pdfium.PdfiumError as err:
        raise PreviewError(f"the original cannot be read as a PDF ({err})") from err
    if not 1 <= page <= (pages := len(document)):
        document.close()
        raise PreviewError(f"the original has {pages} pages, not {page} (it changed since this answer)")
    try:
        pdf_page = document[page - 1]
        textpage = pdf_page.get_textpage()
        text = page_text(textpage)
        words = page_words(text)
        wanted = [_normal(w) for w in _WORD.findall(passage)]
        hits = matched_words([word for word, _ in words], wanted)
        boxes = line_boxes(textpage, [words[i][1] for i in hits], pdf_page.get_height())
        found = find_pii(text, pii_region) if pii_region else []
        hidden = line_boxes(textpage, [list(range(f.start, f.end)) for f in found], pdf_page.get_height())
        picture = pdf_page.render(scale=SCALE).to_pil().convert("RGB")
    finally:
        document.close()
    highlighted = highlight(picture, boxes)
    draw = ImageDraw.Draw(highlighted)
    for box in hidden:
        draw.rectangle(box, fill=(0, 0, 0))
    cache.mkdir(parents=True, exist_ok=True)
    partial = image.with_suffix(".partial.png")
    highlighted.save(partial)
    partial.replace(image)
    boxes_file.write_text(json.dumps(boxes), encoding="utf-8")
    return PagePreview(image, boxes, page)


def highlight(picture: Image.Image, boxes: list[Box]) -> Image.Image:
    """The picture with each box tinted (text stays readable: the colour is blended, not painted over)."""
    overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, fill=(*HIGHLIGHT, int(255 * OPACITY)))
    return Image.alpha_composite(picture.convert("RGBA"), overlay).convert("RGB")


@dataclass(frozen=True)
class SectionPreview:
    heading: str | None  # the heading path, "Install > From source"
    before: str  # the passages of the same section around the cited one
    passage: str
    after: str


def section_preview(chunks: list[Chunk], passage: str) -> SectionPreview | None:
    """The cited passage among its section's other passages (same heading path), or None when it is not found
    in the document any more (replaced by a new version)."""
    found = next((c for c in chunks if c.text == passage), None)
    if found is None:
        return None
    section = [c for c in chunks if c.heading == found.heading]
    at = section.index(found)
    before = section[at - 1].text if at > 0 else ""
    after = section[at + 1].text if at + 1 < len(section) else ""
    return SectionPreview(found.heading, unwrap(without_overlap(before, found.text)), unwrap(found.text),
                          unwrap(without_overlap(after, found.text, tail=True)))  # fmt: skip


MIN_OVERLAP = 12  # characters: shorter shared ends are chance ("the ", ". ")


def without_overlap(neighbour: str, passage: str, tail: bool = False) -> str:
    """The neighbouring passage without the text it shares with the cited one (chunks overlap by a sentence or
    two): `neighbour` less its end that the passage begins with, or (`tail`) less its start that the passage
    ends with."""
    for size in range(min(len(neighbour), len(passage)), MIN_OVERLAP - 1, -1):
        if tail and neighbour.startswith(passage[-size:]):
            return neighbour[size:]
        if not tail and neighbour.endswith(passage[:size]):
            return neighbour[:-size]
    return neighbour


def unwrap(text: str) -> str:
    """Lines wrapped inside a paragraph (Markdown at a fixed width) joined; blank lines kept."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text).strip()
