"""Text for PDF pages that have none: Tesseract OCR (pytesseract + Debian's `tesseract-ocr`) of the page images.

A scanned page is one or more embedded images; they are read with pypdf and passed to Tesseract one by one,
so no PDF renderer is needed.
"""

import pytesseract
from pypdf import PageObject


class OcrUnavailableError(RuntimeError):
    """The tesseract program (or the language data asked for) is missing."""


def page_text(page: PageObject, language: str) -> str:
    """The OCR text of all images on a page, top to bottom as pypdf lists them; '' for a page without images."""
    texts = []
    for image in page.images:
        try:
            texts.append(pytesseract.image_to_string(image.image, lang=language))
        except pytesseract.TesseractNotFoundError as err:
            raise OcrUnavailableError(
                "OCR needs the tesseract program: `apt-get install tesseract-ocr` (`make` does it), "
                "or set RAG_OCR=false"
            ) from err
        except pytesseract.TesseractError as err:
            reason = err.message.strip()[:200]
            raise OcrUnavailableError(f"Tesseract failed ({reason}): check RAG_OCR_LANGUAGE") from err
    return "\n\n".join(text.strip() for text in texts if text.strip())
