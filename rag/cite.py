"""Inline citations: which numbered sources back each sentence of an answer.

The prompt asks the model to cite passages by number ([1], [2]); a small model often does not, or cites a
passage that does not say what the sentence says. So the markers shown are not the model's: each sentence the
grounding check backs (rag/grounding.py) is cited with the passage that backs it best, and a sentence the check
does not back carries no citation, whatever the model wrote after it.
"""

import re

from rag.grounding import SENTENCE_BREAK
from rag.types import Citation, Claim

MARKER = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[A-Za-z0-9]")


def sentences_with_markers(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences with the markers written in each (markers opening a sentence belong to the one
    before: "... in 2019. [2] Next ...")."""
    found: list[tuple[str, list[int]]] = []
    for part in SENTENCE_BREAK.split(text):
        markers = [int(n) for n in MARKER.findall(part)]
        sentence = MARKER.sub("", part).strip()
        leading = re.match(r"^(\s*\[\d+\])+", part)
        if found and leading:
            opening = [int(n) for n in MARKER.findall(leading.group(0))]
            found[-1] = (found[-1][0], found[-1][1] + opening)
            markers = markers[len(opening) :]
        if sentence and _WORD.search(sentence):
            found.append((sentence, markers))
    return found


def tidy(sentence: str) -> str:
    """A sentence with its markers taken out, without the space they leave before punctuation."""
    return re.sub(r"\s+([.,;:!?])", r"\1", sentence)


def cite(text: str, claims: list[Claim], count: int) -> list[Citation]:
    """A citation per sentence of `text`, given the grounding check's claims and how many sources there are."""
    backing = {claim.text: claim for claim in claims}
    citations = []
    for sentence, _ in sentences_with_markers(text):
        claim = backing.get(sentence)
        if claim is None or not claim.supported:
            citations.append(Citation(tidy(sentence), []))
            continue
        best = [claim.passage + 1] if claim.passage is not None and claim.passage < count else []
        citations.append(Citation(tidy(sentence), best))
    return citations


def with_markers(text: str, citations: list[Citation]) -> str:
    """The answer's text, line breaks kept, each sentence followed by its citation's markers (and by no other):
    "The fee is 5 EUR. [2]"."""
    parts = re.split(f"({SENTENCE_BREAK.pattern})", text)
    pending = iter(citations)
    out = []
    for position, part in enumerate(parts):
        if position % 2:  # a break between sentences, as written
            out.append(part)
            continue
        if not _WORD.search(MARKER.sub("", part)):  # markers alone: they were given to the sentence before
            continue
        citation = next(pending, None)
        markers = "".join(f" [{n}]" for n in citation.sources) if citation else ""
        out.append(tidy(MARKER.sub("", part).strip()) + markers)
    return "".join(out).strip()
