"""Which documents a question is about, when it names them: "What was 3M's FY2018 capital expenditure?" is
about 3M's documents, and of those, the one for 2018.

In a store of look-alike documents (each year's annual report of several companies) the passages of the
wrong company or year match a question as well as the right ones: the same line items, the same wording.
A question that names an organisation is therefore restricted to the documents of that organisation (read
from each document at ingestion, ingest/describe.py), and, when it also names years, to those of the latest
year named that has a document (a report for 2019 also gives the figures of 2018 and 2017). The restriction
is applied inside the searches (a Chroma `where` and the BM25 scores), so the top-k are the best passages of
those documents, not what is left of the best passages of all.

A question that names no organisation of the store is not restricted: a year alone is too weak a hint. Nor
are documents whose organisation could not be read ever left out.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.types import Document

LEGAL_WORDS = frozenset(
    {"the", "and", "inc", "incorporated", "corporation", "corp", "company", "co", "ltd", "limited", "plc", "llc"}
    | {"group", "holdings", "ag", "se", "nv", "sa"}
)
DOT_COM = re.compile(r"\.com\b", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z0-9]+(?:&[A-Za-z0-9]+)*")
TICKER = re.compile(r"\s*\(([A-Z]{1,5})\)$")
QUARTER = re.compile(r"\bQ[1-4]\b|\b[1-4]Q\b|\bquarter", re.IGNORECASE)
YEARS = re.compile(r"\b(?:FY|fiscal\s+(?:year\s+)?)?'?((?:19|20)\d\d)\b|\bFY\s?'?(\d\d)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Scope:
    sources: list[str] | None  # the documents to search; None: all of them
    names: list[str]  # what the question named: organisations and years, for showing the reader

    @property
    def restricted(self) -> bool:
        return self.sources is not None


EVERYTHING = Scope(None, [])


def _words(text: str) -> list[str]:
    """Words for matching, ".com" and hyphens dropped: "Amazon.com, Inc." -> amazon com inc -> amazon ..."""
    return WORD.findall(DOT_COM.sub(" ", text))


def organisation_words(organisation: str) -> list[str]:
    """The words that name an organisation, legal forms and stock symbol left out: "The Boeing Company" ->
    ["boeing"]."""
    name = TICKER.sub("", organisation)
    return [w.lower() for w in _words(name) if w.lower() not in LEGAL_WORDS]


def ticker(organisation: str) -> str | None:
    """The stock symbol of "JPMorgan Chase & Co (JPM)"."""
    found = TICKER.search(organisation)
    return found.group(1) if found else None


def named_years(question: str) -> list[str]:
    """Years a question names: "FY2018", "fiscal 2019", "2020", "FY22"."""
    years = []
    for full, short in YEARS.findall(question):
        years.append(full or f"20{short}")
    return years


def _match_strength(organisation: str, question: list[str], raw: set[str]) -> int:
    """How well a question names an organisation: the length of its name found in a row ("American Express":
    2), its initials ("AMD" for Advanced Micro Devices: 2), or its first word when written as a name
    ("Adobe", "3M": 1, but not "best" for Best Buy) or its stock symbol ("JPM", "JnJ": 2); 0 when not named."""
    name = organisation_words(organisation)
    symbol = ticker(organisation)
    if symbol and any(w.upper() == symbol and sum(c.isupper() for c in w) >= 2 for w in question):
        return 2
    if not name:
        return 0
    lowered = [w.lower() for w in question]
    if len(name) >= 2 and _contains(lowered, name):
        return len(name)
    if len(name) >= 3 and "".join(w[0] for w in name).upper() in raw:
        return 2
    first = name[0]
    written = {w for w in question if w.lower() == first}
    if any(w[:1].isupper() or w[:1].isdigit() for w in written):
        return _prefix(lowered, name)
    return 0


def _contains(words: list[str], name: list[str]) -> bool:
    return any(words[i : i + len(name)] == name for i in range(len(words) - len(name) + 1))


def _prefix(words: list[str], name: list[str]) -> int:
    """The longest start of `name` found in a row in `words`."""
    best = 0
    for i in range(len(words)):
        length = 0
        while length < len(name) and i + length < len(words) and words[i + length] == name[length]:
            length += 1
        best = max(best, length)
    return best


def scope_question(question: str, documents: Sequence[Document]) -> Scope:
    """The documents a question names (see the module docstring); EVERYTHING when it names none."""
    words = _words(question)
    raw = set(words)
    strength: dict[str, int] = {}
    for document in documents:
        if document.organisation:
            strength[document.source] = _match_strength(document.organisation, words, raw)
    best = max(strength.values(), default=0)
    if best == 0:
        return EVERYTHING
    # Documents whose organisation could not be read stay in: the question may well be about them.
    named = [d for d in documents if strength.get(d.source, best) == best]
    quarterly = [d for d in named if d.doc_type and "quarterly" in d.doc_type]
    kind = []
    if QUARTER.search(question) and quarterly:
        named = quarterly  # "Q2 of FY2023": a quarterly report, whose fiscal year may differ from its date
        kind = ["quarterly reports"]
    for year in sorted(set(named_years(question)), reverse=True):
        of_year = [d for d in named if d.period == year]
        if any(d.organisation for d in of_year):
            return Scope(sorted(d.source for d in of_year), [*_organisations(of_year), *kind, year])
    return Scope(sorted(d.source for d in named), [*_organisations(named), *kind])


def _organisations(documents: Sequence[Document]) -> list[str]:
    """The organisations of these documents, each once (its name with a stock symbol, when one document has it)."""
    names = sorted({d.organisation for d in documents if d.organisation})
    return [name for name in names if not any(other != name and other.startswith(f"{name} (") for other in names)]
