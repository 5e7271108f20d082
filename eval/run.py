"""Run an evaluation set through the real answer pipeline and score every answer.

Scores that need no judge model: exact match and token F1 against the reference (SQuAD normalisation),
whether a reference source was cited, abstention, latency, and the deterministic `grounding_check`.
"""

import re
import statistics
import string
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from eval.sets import EvalItem
from rag.pipeline import RagPipeline
from rag.settings import Settings

if TYPE_CHECKING:
    from eval.judge import Judge

VERSIONS = ["torch", "transformers", "sentence-transformers", "chromadb", "bm25s", "ragas", "streamlit"]


def normalise(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def exact_match(answer: str, reference: str) -> float:
    return float(normalise(answer) == normalise(reference))


def token_f1(answer: str, reference: str) -> float:
    predicted, truth = normalise(answer), normalise(reference)
    common = sum((Counter(predicted) & Counter(truth)).values())
    if not predicted or not truth or common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(truth)
    return 2 * precision * recall / (precision + recall)


def score_item(pipeline: RagPipeline, item: EvalItem) -> dict[str, Any]:
    started = time.perf_counter()
    answer = pipeline.answer(item.question)
    result = answer.result()
    seconds = time.perf_counter() - started
    grounding, claims = answer.grounding
    cited = {source["source"] for source in result["sources"]}
    row: dict[str, Any] = {
        "question": item.question,
        "reference": item.reference,
        "reference_sources": item.reference_sources,
        "made_by": item.made_by,
        "answer": result["answer"],
        "abstained": result["abstained"],
        "mode": result["mode"],
        "sources": result["sources"],
        "seconds": round(seconds, 3),
        "first_token_s": round(answer.first_token_s, 3) if answer.first_token_s is not None else None,
        "scores": {
            "grounding_check": round(grounding, 4) if grounding is not None else None,
            "exact_match": exact_match(result["answer"], item.reference) if item.reference else None,
            "token_f1": round(token_f1(result["answer"], item.reference), 4) if item.reference else None,
            "source_hit": float(bool(cited & set(item.reference_sources))) if item.reference_sources else None,
        },
        "claims": [asdict(claim) for claim in claims],
    }
    return row


def mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sorted(row["seconds"] for row in rows)
    metrics = sorted({name for row in rows for name in row["scores"]})
    summary: dict[str, Any] = {name: mean([row["scores"].get(name) for row in rows]) for name in metrics}
    summary["abstention_rate"] = round(sum(row["abstained"] for row in rows) / len(rows), 4) if rows else None
    summary["latency_p50_s"] = round(statistics.median(seconds), 3) if seconds else None
    summary["latency_p95_s"] = round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 3) if seconds else None
    summary["questions"] = len(rows)
    return summary


def versions() -> dict[str, str]:
    found = {}
    for package in VERSIONS:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def add_llm_scores(rows: list[dict[str, Any]], judge: "Judge") -> dict[str, Any]:
    """RAGAS scores per answered item (numbers, or the reason each one failed); their means and failures."""
    for row in rows:
        if row["abstained"]:
            row["llm_scores"] = {name: "skipped: abstained" for name in judge.metrics}
            continue
        contexts = [source["text"] for source in row["sources"]]
        row["llm_scores"] = judge.score(row["question"], row["answer"], contexts, row["reference"])
    summary: dict[str, Any] = {}
    for name in judge.metrics:
        values = [row["llm_scores"][name] for row in rows]
        summary[name] = mean([v for v in values if isinstance(v, float)])
        summary[f"{name}_failed"] = sum(isinstance(v, str) and v.startswith("failed") for v in values)
    return summary


def run_set(
    settings: Settings,
    pipeline: RagPipeline,
    items: list[EvalItem],
    set_name: str,
    judge: "Judge | None" = None,
    judge_problem: str = "no judge configured",
) -> dict[str, Any]:
    """Answer and score every item; the report's content (see `eval.report` for the files)."""
    started = datetime.now(UTC)
    rows = [score_item(pipeline, item) for item in items]
    summary = summarise(rows)
    if judge is not None:
        summary |= add_llm_scores(rows, judge)
    recorded = settings.public_dump()
    return {
        "run_id": f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        "created_at": started.isoformat(timespec="seconds"),
        "set": set_name,
        "settings": recorded,
        "generator": pipeline.generator.name,
        "embedder": pipeline.embedder.name,
        "versions": versions(),
        "judge": judge.identity if judge else None,
        "llm_metrics": f"RAGAS {', '.join(judge.metrics)}" if judge else f"not computed: {judge_problem}",
        "summary": summary,
        "items": rows,
    }
