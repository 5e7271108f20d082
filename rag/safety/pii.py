"""Personal data in text: found, then redacted with its type shown ("[email removed]").

Numbers are validated, not just matched: payment cards by the Luhn checksum and IBANs by their mod-97 checksum
(python-stdnum), US social security numbers by stdnum's rules, phone numbers by libphonenumber's metadata
(`phonenumbers`: valid numbers written in their country's digit groups, so "2,345,678,901" in a balance sheet or
an article number "2045-3701-3-2" is not one). A 16-digit number that fails Luhn is left alone.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from stdnum import iban, luhn
from stdnum.gb import nhs
from stdnum.us import ssn

LABELS = {
    "email": "[email removed]",
    "phone": "[phone number removed]",
    "card": "[card number removed]",
    "iban": "[IBAN removed]",
    "national_id": "[national ID removed]",
}
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_NHS = re.compile(r"(?<![\d-])\d{3} \d{3} \d{4}(?![\d-])")
# UK National Insurance number: two letters (not D, F, I, Q, U, V; not BG, GB, NK, KN, TN, NT, ZZ), six digits,
# A-D; stdnum has no module for it.
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")


@dataclass(frozen=True)
class Found:
    kind: str  # a key of LABELS
    start: int
    end: int
    text: str


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _cards(text: str) -> Iterator[Found]:
    for m in _CARD.finditer(text):
        digits = _digits(m.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits) and len(set(digits)) > 1:
            yield Found("card", m.start(), m.end(), m.group())


def _ibans(text: str) -> Iterator[Found]:
    for m in _IBAN.finditer(text):
        if iban.is_valid(m.group()):
            yield Found("iban", m.start(), m.end(), m.group())


def _national_ids(text: str) -> Iterator[Found]:
    for m in _SSN.finditer(text):
        if ssn.is_valid(m.group()):
            yield Found("national_id", m.start(), m.end(), m.group())
    for m in _NHS.finditer(text):
        if nhs.is_valid(m.group()):
            yield Found("national_id", m.start(), m.end(), m.group())
    for m in _NINO.finditer(text):
        yield Found("national_id", m.start(), m.end(), m.group())


def _phones(text: str, region: str) -> Iterator[Found]:
    for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING):
        if "," not in m.raw_string and len(_digits(m.raw_string)) >= 7:  # "2,345,678" is an amount
            yield Found("phone", m.start, m.end, m.raw_string)


def find_pii(text: str, region: str = "US") -> list[Found]:
    """Personal data in `text`, in order, without overlaps (the more specific kind wins: a card number is not
    also reported as a phone number)."""
    found: list[Found] = []
    emails = [Found("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    for candidate in [*emails, *_ibans(text), *_cards(text), *_national_ids(text), *_phones(text, region)]:
        if all(candidate.end <= f.start or candidate.start >= f.end for f in found):
            found.append(candidate)
    return sorted(found, key=lambda f: f.start)


def redact(text: str, region: str = "US") -> tuple[str, list[str]]:
    """`text` with each piece of personal data replaced by its label, and the kinds replaced (in order)."""
    found = find_pii(text, region)
    for f in reversed(found):
        text = text[: f.start] + LABELS[f.kind] + text[f.end :]
    return text, [f.kind for f in found]


def as_allowed(text: str, mode: str, region: str = "US") -> str:
    """`text` as a privacy setting (RAG_LOG_INTERACTIONS, RAG_FEEDBACK_TEXT) lets it be kept: "" when `off`, with
    personal data removed when `redacted`, whole when `full`."""
    if mode == "off":
        return ""
    return redact(text, region)[0] if mode == "redacted" else text


def redact_stream(pieces: Iterable[str], region: str, kinds: list[str], enabled: bool = True) -> Iterator[str]:
    """Redact streamed text as it goes. Words are given out as soon as they are complete, except a trailing run
    of words that could be part of an entity still arriving (ones with digits, "@" or "+", short capital groups
    as in IBANs): those wait for the next plain word. With `enabled=False` only the holding back is done. The
    kinds redacted are appended to `kinds`."""
    pending = ""
    for piece in pieces:
        pending += piece
        cut = _safe_cut(pending, region, enabled)
        if cut:
            text, found = redact(pending[:cut], region) if enabled else (pending[:cut], [])
            kinds.extend(found)
            pending = pending[cut:]
            yield text
    if pending:
        text, found = redact(pending, region) if enabled else (pending, [])
        kinds.extend(found)
        yield text


_WORD = re.compile(r"\S+")
_ENTITY_LIKE = re.compile(r"\S*[\d@+]\S*|[A-Z0-9]{1,4}[.,;:]?|[-(/]")


def _safe_cut(pending: str, region: str, enabled: bool = True) -> int:
    """Where the text that can be given out now ends (0: nothing yet)."""
    words = list(_WORD.finditer(pending))
    held = len(words) if pending[-1:].isspace() else len(words) - 1  # the last word may still be growing
    while held > 0 and _ENTITY_LIKE.fullmatch(words[held - 1].group()):
        held -= 1
    if held <= 0:
        return 0
    cut = words[held].start() if held < len(words) else len(pending)
    for found in find_pii(pending, region) if enabled else []:
        if found.start < cut < found.end:
            cut = found.start
    return cut


def redact_all(value: Any, region: str = "US") -> Any:
    """A JSON-like value (dicts, lists, strings) with personal data redacted in every string."""
    if isinstance(value, str):
        return redact(value, region)[0]
    if isinstance(value, dict):
        return {key: redact_all(item, region) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_all(item, region) for item in value]
    return value


def redact_jsonl(path: Path, region: str = "US") -> None:
    """Rewrite a JSONL file with personal data redacted in every string of every record."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.dumps(redact_all(json.loads(line), region), ensure_ascii=False) for line in lines if line.strip()]
    path.write_text("".join(record + "\n" for record in records), encoding="utf-8")
