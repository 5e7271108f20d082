"""Quoted evidence: the one to three sentences of the passages that best answer a question, each with its
citation, used as the answer when RAG_ANSWER_MODE=quote, and in `auto` when the model's answer is not backed by
the passages or echoes them.

A sentence's score is its embedding similarity to the question plus LEXICAL_WEIGHT times the share of the
question's content words it contains (the overlap the grounding check computes). Questions are not answers: a
sentence that asks something is skipped, and a question quoted inside a sentence (`for example "How do I ...?"`)
is left out before scoring, so a passage that only mentions the question does not win over one that answers it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embedder import Embedder
from rag.grounding import content_words
from rag.settings import ABSTAIN_ANSWER
from rag.types import without_quoted_questions

MAX_QUOTES = 3
LEXICAL_WEIGHT = 0.5
MARGIN = 0.12  # sentences within this of the best one are quoted too
MIN_WORDS = 4
_SENTENCE_END = re.compile(r"(?<=[.!;])\s+(?=[A-Z0-9`\"“(])")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Quote:
    text: str
    passage: int  # 1-based, as the answer cites it
    position: int  # order of the sentence in its passage
    score: float


def sentences(passage: str) -> list[str]:
    """The passage's declarative sentences: line-wrapped text joined, headings, questions and fragments left out."""
    paragraphs = [" ".join(line.strip() for line in block.splitlines() if not line.lstrip().startswith("#"))
                  for block in re.split(r"\n\s*\n", passage)]  # fmt: skip
    found = []
    for paragraph in paragraphs:
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = sentence.strip().lstrip("-*• ").strip()
            if len(_WORDS.findall(sentence)) >= MIN_WORDS and not sentence.endswith("?"):
                found.append(sentence)
    return found


def pick_quotes(question: str, passages: Sequence[str], embedder: Embedder) -> list[Quote]:
    """The best sentences for the question, in the order they appear in the passages."""
    candidates = [(n, i, s) for n, p in enumerate(passages, start=1) for i, s in enumerate(sentences(p))]
    if not candidates:
        return []
    scored_text = [without_quoted_questions(s) for _, _, s in candidates]
    similarity = embedder.embed(scored_text) @ embedder.embed_query(question)
    asked = content_words(question)
    lexical = np.array([len(asked & content_words(t)) / len(asked) if asked else 0.0 for t in scored_text])
    scores = similarity + LEXICAL_WEIGHT * lexical
    best = float(scores.max())
    order = [i for i in np.argsort(-scores) if scores[i] >= best - MARGIN][:MAX_QUOTES]
    quotes = [Quote(candidates[i][2], candidates[i][0], candidates[i][1], float(scores[i])) for i in order]
    return sorted(quotes, key=lambda q: (q.passage, q.position))


def quoted_answer(quotes: Sequence[Quote]) -> str:
    """The quotes as the answer's text, each followed by its citation."""
    return " ".join(f"{q.text} [{q.passage}]" for q in quotes) or ABSTAIN_ANSWER
