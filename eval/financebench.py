"""`python -m eval financebench`: retrieval (and optionally answers) on FinanceBench's open-source questions.

FinanceBench (Islam et al. 2023, github.com/patronus-ai/financebench, CC BY-NC 4.0) asks 150 questions about
public SEC filings: annual and quarterly reports and earnings releases of 32 companies, 100-200 pages each,
several years of the same company side by side. A clone of that repository gives the PDFs (pdfs/) and the
questions with their evidence pages (data/financebench_open_source.jsonl; pages there are 0-based).

Parts: "tune" holds the companies whose names start with a digit or A-L, "heldout" those from M to Z; only
the tune part may guide a choice. Each part is ingested into its own store (all of its filings together, as
a finance team would keep them) under <data-dir>/<part>; questions about filings missing from the clone are
left out and counted.

Per question: page hit@5 and @10 (a passage of an evidence page among the first k), the right document
among the first 5, the scope the question was given (rag/scope.py); with --answers, whether the answer
states the gold answer's number (within 1%, or to the shown precision). All per question type.
"""

import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.index import Indexer, IngestResult
from rag.components import Components
from rag.settings import Settings

QUESTIONS = Path("data") / "financebench_open_source.jsonl"
NUMBER = re.compile(r"-?\(?\$?\d[\d,]*(?:\.\d+)?\)?")


@dataclass(frozen=True)
class FinanceQuestion:
    id: str
    company: str
    document: str  # the PDF's file name, e.g. "3M_2018_10K.pdf"
    pages: frozenset[int]  # 1-based physical pages of the evidence
    kind: str  # question type: metrics-generated, domain-relevant, novel-generated
    question: str
    answer: str

    @property
    def part(self) -> str:
        first = self.company[:1].upper()
        return "tune" if first.isdigit() or first <= "L" else "heldout"


def load_questions(repo: Path) -> list[FinanceQuestion]:
    questions = []
    for line in (repo / QUESTIONS).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pages = frozenset(int(e["evidence_page_num"]) + 1 for e in row["evidence"] if e["doc_name"] == row["doc_name"])
        document = f"{row['doc_name']}.pdf"
        kind, text, answer = row["question_type"], row["question"], str(row["answer"])
        questions.append(FinanceQuestion(row["financebench_id"], row["company"], document, pages, kind, text, answer))
    return questions


def available(repo: Path, questions: Iterable[FinanceQuestion]) -> tuple[list[FinanceQuestion], list[str]]:
    """(the questions whose filing is in the clone, the file names of the missing filings)."""
    present, missing = [], set()
    for question in questions:
        path = repo / "pdfs" / question.document
        if path.is_file() and path.stat().st_size > 0:
            present.append(question)
        else:
            missing.add(question.document)
    return present, sorted(missing)


def ingest_part(settings: Settings, repo: Path, questions: list[FinanceQuestion]) -> dict[str, int]:
    """Ingest the filings of these questions (unchanged files are skipped); counts per outcome."""
    indexer = Indexer.from_settings(settings)
    names = sorted({q.document for q in questions})
    outcomes: dict[str, int] = {}
    for _, outcome in indexer.ingest_files((repo / "pdfs" / name, name) for name in names):
        key = outcome.status if isinstance(outcome, IngestResult) else "failed"
        outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes


def numbers(text: str) -> list[float]:
    """The numbers a text states: "$1,577.00" -> 1577.0, "(370)" -> -370.0."""
    found = []
    for token in NUMBER.findall(text):
        negative = token.startswith(("-", "(")) and (token.endswith(")") or token.startswith("-"))
        digits = token.strip("-()$").replace(",", "")
        try:
            value = float(digits)
        except ValueError:
            continue
        found.append(-value if negative else value)
    return found


def states_number(answer: str, gold: str) -> bool | None:
    """Whether the answer states the gold answer's first number (sign ignored, within 1% or rounding); None
    when the gold answer has no number (a yes/no or an explanation)."""
    expected = numbers(gold)
    if not expected:
        return None
    target = abs(expected[0])
    return any(abs(abs(value) - target) <= max(0.01 * target, 0.5) for value in numbers(answer))


def score_question(parts: Components, question: FinanceQuestion, answers: bool) -> dict[str, Any]:
    scope = parts.retriever.scope(question.question)
    hits = parts.retriever.retrieve(question.question, 10, scope.sources)
    found = [(hit.chunk.source, hit.chunk.page) for hit in hits]
    on_page = [source == question.document and page in question.pages for source, page in found]
    row: dict[str, Any] = {
        "id": question.id,
        "kind": question.kind,
        "document": question.document,
        "page_hit_5": any(on_page[:5]),
        "page_hit_10": any(on_page[:10]),
        "document_top_5": any(source == question.document for source, _ in found[:5]),
        "scoped": scope.restricted,
        "scope_has_document": scope.sources is None or question.document in scope.sources,
        "sources": [f"{source} p{page}" for source, page in found[:5]],
    }
    if answers:
        result = parts.pipeline().answer(question.question).result()
        row["answer"] = result["answer"]
        row["states_number"] = states_number(result["answer"], question.answer)
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates over all rows and per question type."""

    def rates(part: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ["page_hit_5", "page_hit_10", "document_top_5", "scoped", "scope_has_document"]
        result: dict[str, Any] = {"questions": len(part)}
        for key in keys:
            result[key] = round(statistics.fmean(float(r[key]) for r in part), 3) if part else None
        numeric = [r["states_number"] for r in part if r.get("states_number") is not None]
        if numeric:
            result["states_number"] = round(statistics.fmean(float(v) for v in numeric), 3)
            result["numeric_questions"] = len(numeric)
        return result

    kinds = sorted({r["kind"] for r in rows})
    return {"all": rates(rows), **{kind: rates([r for r in rows if r["kind"] == kind]) for kind in kinds}}


def run_financebench(
    settings: Settings, repo: Path, part: str, *, ingest: bool = True, answers: bool = False
) -> dict[str, Any]:
    """Ingest the part's filings into settings.data_dir (unless `ingest` is False) and score its questions."""
    questions = [q for q in load_questions(repo) if q.part == part]
    present, missing = available(repo, questions)
    ingested = ingest_part(settings, repo, present) if ingest else {}
    parts = Components(settings)
    rows = [score_question(parts, question, answers) for question in present]
    return {
        "part": part,
        "questions": len(questions),
        "left_out": len(questions) - len(present),
        "missing_filings": missing,
        "documents": len(parts.store.documents()),
        "chunks": parts.store.count_chunks(),
        "ingested": ingested,
        "scope_questions": settings.scope_questions,
        "summary": summarise(rows),
        "rows": rows,
    }
