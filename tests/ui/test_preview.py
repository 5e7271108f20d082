"""Source previews: a real PDF rendered by pypdfium2, the cited passage's words found on the page and tinted."""

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from fpdf import FPDF
from PIL import Image

from rag.types import Chunk
from tests.helpers import HANDBOOK_SECTIONS, write_handbook_pdf
from ui.preview import SCALE, PreviewError, render_page, section_preview

VACATION = HANDBOOK_SECTIONS[2][1]  # "Every new employee receives 28 days of paid vacation ..." on page 4


def word_box(pdf: Path, page: int, phrase: str) -> tuple[int, int, int, int]:
    """Where `phrase` is drawn on the page, in the preview's pixels (found independently of ui.preview)."""
    document = pdfium.PdfDocument(str(pdf))
    textpage = document[page - 1].get_textpage()
    height = document[page - 1].get_height()
    start, count = textpage.search(phrase).get_next()
    boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
    document.close()
    left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
    top, bottom = height - max(b[3] for b in boxes), height - min(b[1] for b in boxes)
    return int(left * SCALE), int(top * SCALE), int(right * SCALE), int(bottom * SCALE)


def share(image: Path, box: tuple[int, int, int, int], test: str) -> float:
    """The share of the box's pixels that are tinted amber (the highlight on white) or black."""
    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=int)[box[1] : box[3], box[0] : box[2]]
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    chosen = (red > 200) & (green > 190) & (blue < 190) if test == "amber" else (red + green + blue < 60)
    return float(chosen.mean())


def test_the_cited_passage_is_highlighted_on_its_page_and_nothing_else(tmp_path: Path) -> None:
    pdf = write_handbook_pdf(tmp_path / "handbook.pdf")
    preview = render_page(pdf, 4, VACATION, tmp_path / "cache")
    assert preview.image.is_file() and preview.boxes
    inside = word_box(pdf, 4, "28 days of paid vacation")
    assert share(preview.image, inside, "amber") > 0.4
    boxes_hit = [
        b for b in preview.boxes if b[0] < inside[2] and inside[0] < b[2] and b[1] < inside[3] and inside[1] < b[3]
    ]
    assert boxes_hit  # a highlighted rectangle overlaps the passage's words
    for outside in ("Holidays and leave", "Leave requests are entered"):  # the heading, the next sentence
        assert share(preview.image, word_box(pdf, 4, outside), "amber") < 0.02
    with Image.open(preview.image) as picture:
        assert picture.size == (round(595.28 * SCALE), round(841.89 * SCALE))


def test_rendered_pages_come_from_the_cache_the_second_time(tmp_path: Path) -> None:
    pdf = write_handbook_pdf(tmp_path / "handbook.pdf")
    first = render_page(pdf, 4, VACATION, tmp_path / "cache")
    written = first.image.stat().st_mtime_ns
    again = render_page(pdf, 4, VACATION, tmp_path / "cache")
    assert again == first and again.image.stat().st_mtime_ns == written
    other = render_page(pdf, 3, HANDBOOK_SECTIONS[1][1], tmp_path / "cache")
    assert other.image != first.image


def test_personal_data_on_the_page_is_blacked_out_when_redaction_is_on(tmp_path: Path) -> None:
    pdf_file = tmp_path / "contacts.pdf"
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Questions about payroll go to the payroll office. Write to jane.doe@example.com for help.")
    pdf.output(str(pdf_file))
    passage = "Questions about payroll go to the payroll office."
    shown = render_page(pdf_file, 1, passage, tmp_path / "cache", pii_region="US")
    plain = render_page(pdf_file, 1, passage, tmp_path / "cache", pii_region=None)
    email = word_box(pdf_file, 1, "jane.doe@example.com")
    assert share(shown.image, email, "black") > 0.9
    assert share(plain.image, email, "black") < 0.3


def test_a_passage_without_pages_is_shown_inside_its_section() -> None:
    chunks = [
        Chunk("Intro text.", "guide.md", 0, heading="Guide"),
        Chunk("Step one.", "guide.md", 1, heading="Guide > Install"),
        Chunk("Step two.", "guide.md", 2, heading="Guide > Install"),
        Chunk("Step three.", "guide.md", 3, heading="Guide > Install"),
        Chunk("Other.", "guide.md", 4, heading="Guide > Use"),
    ]
    found = section_preview(chunks, "Step two.")
    assert found is not None
    assert (found.heading, found.before, found.passage, found.after) == (
        "Guide > Install",
        "Step one.",
        "Step two.",
        "Step three.",
    )
    assert section_preview(chunks, "A passage of an older version.") is None


def test_a_sections_neighbours_leave_out_what_they_share_with_the_passage_and_lines_are_unwrapped() -> None:
    first = "Choose files and press\nIngest. Each file is checked first: its type is recognised from its content."
    cited = "Each file is checked first: its type is recognised from its content. Accepted files are queued."
    last = "Accepted files are queued. The job list shows each one.\n\nA new paragraph."
    chunks = [Chunk(text, "a.md", i, heading="Uploads") for i, text in enumerate((first, cited, last))]
    found = section_preview(chunks, cited)
    assert found is not None
    assert found.before == "Choose files and press Ingest."
    assert found.after == "The job list shows each one.\n\nA new paragraph."


def test_a_page_that_is_not_there_or_a_broken_file_says_why(tmp_path: Path) -> None:
    pdf = write_handbook_pdf(tmp_path / "handbook.pdf")
    with pytest.raises(PreviewError, match="has 6 pages, not 9"):
        render_page(pdf, 9, VACATION, tmp_path / "cache")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(PreviewError, match="cannot be read as a PDF"):
        render_page(broken, 1, VACATION, tmp_path / "cache")
