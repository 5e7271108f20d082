"""Retrieval check on a question set against the current store: do questions about a fact get the page it is
on among their sources, and do questions the documents cannot answer abstain?

A question set is JSONL, one object per line:
    {"question": "Why is R named R?", "source": "R-FAQ.pdf", "pages": [14]}   answerable, on page 14
    {"question": "What is the capital of Peru?", "pages": []}                 not in the documents
`source` is optional (any document counts then). A follow-up question lists the earlier questions of its chat:
    {"history": ["How do I install add-on packages?"], "question": "And how do I remove them?", "pages": [28]}
The check runs retrieval exactly as the pipeline does (follow-up rewriting per RAG_FOLLOWUP, top-k, then the
relevance threshold and margin), without answering, so it takes seconds (the generator is only loaded when
RAG_FOLLOWUP=model has follow-ups to rewrite).
"""

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.components import Components
from rag.condense import standalone_query
from rag.decide import Decider
from rag.jsonl import read_jsonl
from rag.settings import Settings
from rag.types import Turn


@dataclass(frozen=True)
class Question:
    question: str
    pages: list[int] = field(default_factory=list)  # empty: the documents do not answer it
    source: str | None = None
    history: list[str] = field(default_factory=list)  # earlier questions of the same chat


def _question(row: dict[str, Any]) -> Question:
    pages = [int(p) for p in row.get("pages", [])]
    return Question(str(row["question"]), pages, row.get("source"), [str(h) for h in row.get("history", [])])


def load_questions(path: Path) -> list[Question]:
    return read_jsonl(path, _question, expected="expected {'question': str, 'pages': [int]}: ")


def check_questions(settings: Settings, questions: list[Question]) -> dict[str, Any]:
    parts = Components(settings)  # the app's retriever (reranker included) and decide stage
    rewrites = settings.followup == "model" and any(q.history for q in questions)
    generator = parts.generator if rewrites else None
    # The relevance part of the decide stage (the head, if any, needs answer prompts: `finetune evaluate`).
    relevance = Decider(settings.relevance_threshold, settings.relevance_margin)
    rows = []
    for q in questions:
        turns: list[Turn] = []
        for earlier in q.history:  # earlier questions are condensed in turn, as in a chat (answers unknown here)
            turns.append(Turn(earlier, standalone_query(settings.followup, generator, turns, earlier)))  # type: ignore[arg-type]
        query = standalone_query(settings.followup, generator, turns, q.question)  # type: ignore[arg-type]
        hits = parts.retriever.retrieve(query, settings.top_k)
        sources = relevance.relevant(hits)  # as cited
        found = [(h.chunk.source, h.chunk.page) for h in sources]
        hit = any(p in q.pages and (q.source is None or s == q.source) for s, p in found)
        best = round(max(h.score for h in hits), 4) if hits else None
        rows.append({"question": q.question, "query": query, "expected_pages": q.pages, "sources": found,
                     "best_score": best, "abstained": not sources, "page_hit": hit})  # fmt: skip
    answerable = [r for r in rows if r["expected_pages"]]
    unanswerable = [r for r in rows if not r["expected_pages"]]

    def rate(part: list[dict[str, Any]], key: str) -> float | None:
        return round(sum(r[key] for r in part) / len(part), 3) if part else None

    def median_best(part: list[dict[str, Any]]) -> float | None:
        scores = [r["best_score"] for r in part if r["best_score"] is not None]
        return round(statistics.median(scores), 3) if scores else None

    return {
        "top_k": settings.top_k,
        "retrieval_mode": settings.retrieval_mode,
        "followup": settings.followup,
        "relevance_threshold": settings.relevance_threshold,
        "answerable": len(answerable),
        "page_hit_rate": rate(answerable, "page_hit"),
        "false_abstention_rate": rate(answerable, "abstained"),
        "unanswerable": len(unanswerable),
        "abstention_rate": rate(unanswerable, "abstained"),
        "median_best_score": {"answerable": median_best(answerable), "unanswerable": median_best(unanswerable)},
        "questions": rows,
    }
