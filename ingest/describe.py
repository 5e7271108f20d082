"""What a document is, read from its first pages: title, organisation, document type and period.

These fields give every chunk its document's context (`rag.types.Chunk.search_text`, in the spirit of
contextual retrieval: "Capital expenditure 2018: (1,577)" alone does not say whose), and they let a question
that names an organisation or a year be scoped to the documents it is about (rag/scope.py).
"""

import re
from collections import Counter
from dataclasses import dataclass

REGISTRANT = re.compile(r"^(.{2,80}?)\s*\n?\s*\(exact name of registrant", re.IGNORECASE | re.MULTILINE)
PERIOD_ENDED = re.compile(
    r"(?:fiscal year|year|quarterly period|period|quarter)\s+ended:?\s+(\w+\s+\d{1,2})\s*,?\s*((?:19|20)\d\d)",
    re.IGNORECASE,
)
DATE_OF_REPORT = re.compile(r"date of report[^\n]{0,80}?((?:19|20)\d\d)", re.IGNORECASE)
YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
# (pattern, name), the first one found on the first pages wins
DOCUMENT_TYPES = [
    (re.compile(r"\bform\s+10-?k\b", re.IGNORECASE), "10-K annual report"),
    (re.compile(r"\bform\s+10-?q\b", re.IGNORECASE), "10-Q quarterly report"),
    (re.compile(r"\bform\s+8-?k\b", re.IGNORECASE), "8-K current report"),
    (re.compile(r"\bform\s+20-?f\b", re.IGNORECASE), "20-F annual report"),
    (re.compile(r"\bannual report\b", re.IGNORECASE), "annual report"),
    (re.compile(r"\bquarterly report\b", re.IGNORECASE), "quarterly report"),
    (re.compile(r"\b(?:earnings|press) release\b", re.IGNORECASE), "earnings release"),
    (re.compile(r"\bproxy statement\b", re.IGNORECASE), "proxy statement"),
]
LEGAL_NAME = re.compile(
    r"^(?:the\s+)?[A-Za-z0-9][\w.&,'\u2019 -]{0,60}?,?\s+(?:inc|incorporated|corporation|corp|company|co|ltd|limited"
    r"|plc|llc|group|holdings|ag|se|n\.v|s\.a)\.?$",
    re.IGNORECASE,
)
TICKER = re.compile(
    r"common (?:stock|shares)[^\n]{0,80}?\b([A-Z]{1,5})\s+(?:The\s+)?(?:New York|NYSE|Nasdaq|NASDAQ)", re.IGNORECASE
)
RULE = re.compile(r"_{3,}")
NOT_A_NAME = re.compile(r"file number|^\W|\d{3}-\d", re.IGNORECASE)
MAX_FIELD = 120
MIN_YEAR_MENTIONS = 3  # a year named less often on the first pages is not taken for the document's period


@dataclass(frozen=True)
class DocumentInfo:
    title: str | None = None
    organisation: str | None = None
    doc_type: str | None = None
    period: str | None = None  # a year, e.g. "2018": the fiscal year or the end of the period reported on

    def header(self) -> str:
        """One line for the chunks' context: "3M COMPANY | 10-K annual report | 2018 | 10-K - 3M Company"."""
        fields = [self.organisation, self.doc_type, self.period, self.title]
        seen: list[str] = []
        for value in fields:
            if value and not any(value.lower() in other.lower() for other in seen):
                seen.append(value)
        return " | ".join(seen)


def describe(first_pages: str, title: str | None = None) -> DocumentInfo:
    """The fields found in the text of a document's first pages (and its metadata title)."""
    first_pages = RULE.sub("\n", first_pages)  # "____ BEST BUY CO., INC." on a form's blank line
    return DocumentInfo(
        title=_clip(title) if title and re.search(r"[A-Za-z]{3}", title) else None,  # not "0001018724-18-000005"
        organisation=_clip(_with_ticker(_organisation(first_pages, title), first_pages)),
        doc_type=next((name for pattern, name in DOCUMENT_TYPES if pattern.search(first_pages)), None),
        period=_period(first_pages),
    )


def _organisation(text: str, title: str | None) -> str | None:
    """The registrant of an SEC filing ("3M COMPANY (Exact name of registrant as specified in its charter)"),
    else the first short line of the first pages (or part of the title) that is a legal name ("Adobe Inc.")."""
    match = REGISTRANT.search(text)
    if match:
        name = re.sub(r"^(?:[\d-]+\s+)+", "", match.group(1)).strip(" ,.:;-")  # not a file number before it
        if re.search(r"[A-Za-z]", name) and len(name.split()) <= 8 and not NOT_A_NAME.search(name):
            return name
    candidates = [line.strip() for line in text.split("\n")] + [part.strip() for part in (title or "").split(" - ")]
    names = [re.sub(r"^(?:[\d-]+\s+)+", "", line) for line in candidates if len(line.split()) <= 8]
    return next((name for name in names if LEGAL_NAME.match(name) and not NOT_A_NAME.search(name)), None)


def _with_ticker(organisation: str | None, text: str) -> str | None:
    """The organisation with the stock symbol of its common stock, as a listed company's filings give it:
    "JPMorgan Chase & Co (JPM)"."""
    ticker = TICKER.search(text)
    if organisation is None or ticker is None or not ticker.group(1).isupper():
        return organisation
    return f"{organisation} ({ticker.group(1)})"


def _period(text: str) -> str | None:
    """The year the document reports on: of "fiscal year ended December 31, 2018" and the like, else the year
    its first pages name most often."""
    ended = PERIOD_ENDED.search(text)
    if ended:
        year = int(ended.group(2))
        # A 52/53-week year that ends in the first days of January is named for the year before
        # ("fiscal year ended January 1, 2023" is fiscal 2022).
        early_january = ended.group(1).lower().startswith("jan") and int(ended.group(1).split()[-1]) <= 7
        return str(year - 1 if early_january else year)
    dated = DATE_OF_REPORT.search(text)
    if dated:
        return dated.group(1)
    years = Counter(YEAR.findall(text)).most_common(1)
    return years[0][0] if years and years[0][1] >= MIN_YEAR_MENTIONS else None


def _clip(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value[:MAX_FIELD] or None
