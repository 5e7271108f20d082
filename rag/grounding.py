"""A deterministic grounding check (no judge model): is each sentence of an answer backed by the passages?

A claim (one sentence of the answer) counts as supported when
- every number in it appears in the passages (as a number: "1" is not found in "128"),
- every name in it (a capitalised word not opening the sentence) appears in the passages, and
- it is close in meaning to some passage sentence (embedding cosine >= `min_similarity`) or most of its content
  words occur in one passage sentence.
It is a cheap signal of copying from the context, not a judgement of truth; it is reported as
`grounding_check`, never as faithfulness.
"""

import re

import numpy as np

from rag.embedder import Embedder
from rag.settings import ABSTAIN_ANSWER
from rag.types import Claim, Grounding

MIN_SIMILARITY = 0.6
MIN_WORD_OVERLAP = 0.7
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_CITATION = re.compile(r"\[\d+\]")
_WRAPPED = re.compile(r"(?<=[^\s.!?:])[ \t]*\n[ \t]*(?=[a-z(`'\"])")
_STOP = frozenset(
    re.findall(r"\w+", "the a an of to in on at for and or is are was were be it this that with by as from")
)


def content_words(text: str) -> set[str]:
    """The lower-cased words of a text that carry meaning (the overlap the check compares)."""
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def split_claims(answer: str) -> list[str]:
    cleaned = _CITATION.sub("", answer)
    return [s.strip() for s in SENTENCE_BREAK.split(cleaned) if len(_WORD.findall(s)) >= 2]


def passage_sentences(passage: str) -> list[str]:
    """A passage's sentences, with lines wrapped in mid-sentence (the next line goes on in lower case, as in
    Markdown wrapped at a fixed width) joined again, so that a sentence is compared whole."""
    return split_claims(_WRAPPED.sub(" ", passage))


def _names(sentence: str) -> set[str]:
    words = _WORD.findall(sentence)
    return {w for w in words[1:] if w[0].isupper()}


def grounding_check(answer: str, passages: list[str], embedder: Embedder) -> Grounding:
    """(share of supported claims, the claims); (None, []) for an abstention or an answer without claims."""
    if answer.strip() == ABSTAIN_ANSWER or not passages:
        return None, []
    claims = split_claims(answer)
    if not claims:
        return None, []
    context = "\n".join(passages)
    lowered = context.lower()
    pairs = [(n, s) for n, p in enumerate(passages) for s in passage_sentences(p)] or list(enumerate(passages))
    context_sentences = [sentence for _, sentence in pairs]
    context_numbers = set(_NUMBER.findall(context))
    similarity = embedder.embed(claims) @ embedder.embed(context_sentences).T
    context_words = [{w.lower() for w in _WORD.findall(s)} for s in context_sentences]
    checked = []
    for number, claim in enumerate(claims):
        missing_numbers = [n for n in _NUMBER.findall(claim) if n not in context_numbers]  # "1" is not in "128"
        missing_names = sorted(n for n in _names(claim) if n.lower() not in lowered)
        words = content_words(claim)
        overlaps = np.array([len(words & ws) / len(words) if words else 1.0 for ws in context_words])
        overlap = float(overlaps.max(initial=0.0))
        close = float(np.max(similarity[number])) >= MIN_SIMILARITY or overlap >= MIN_WORD_OVERLAP
        best = pairs[int(np.argmax(np.maximum(similarity[number], overlaps)))][0]  # the passage that backs it most
        if missing_numbers:
            checked.append(Claim(claim, False, f"numbers not in the passages: {', '.join(missing_numbers)}"))
        elif missing_names:
            checked.append(Claim(claim, False, f"names not in the passages: {', '.join(missing_names)}"))
        elif not close:
            checked.append(Claim(claim, False, "no passage sentence says this"))
        else:
            checked.append(Claim(claim, True, "supported", best))
    return sum(c.supported for c in checked) / len(checked), checked
