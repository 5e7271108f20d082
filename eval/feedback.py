"""Readers' ratings (records/activity.py) as an eval set and fine-tuning seed examples.

    rated up                 the question, with the answer it got as the reference ("feedback:up")
    rated down + correction  the question, with the reader's correction as the reference ("feedback:corrected"),
                             and a seed example {instruction: question, output: correction} for `finetune`
    rated down, no correction  the question alone, to watch ("feedback:down")

Ratings kept without their text (RAG_FEEDBACK_TEXT=off) cannot be used and are counted as skipped. Each
question appears once: its latest rating wins.
"""

import json
from pathlib import Path
from typing import Any

from eval.sets import EvalItem, save_set


def from_ratings(ratings: list[dict[str, Any]]) -> tuple[list[EvalItem], list[dict[str, str]], int]:
    """(eval items, seed examples, ratings skipped for want of a question) from ratings, oldest first."""
    latest: dict[str, dict[str, Any]] = {}
    skipped = 0
    for row in ratings:
        question = row["question"].strip()
        if not question:
            skipped += 1
            continue
        latest[question.casefold()] = row
    items, seeds = [], []
    for row in latest.values():
        question, correction = row["question"].strip(), row["correction"].strip()
        if row["rating"] > 0 and row["answer"].strip():
            items.append(EvalItem(question, row["answer"].strip(), list(row["sources"]), "feedback:up"))
        elif correction:
            items.append(EvalItem(question, correction, list(row["sources"]), "feedback:corrected"))
            seeds.append({"instruction": question, "output": correction, "made_by": "feedback"})
        else:
            items.append(EvalItem(question, None, [], "feedback:down"))
    return items, seeds, skipped


def write_feedback_set(ratings: list[dict[str, Any]], out: Path, seed_out: Path | None) -> dict[str, int]:
    items, seeds, skipped = from_ratings(ratings)
    save_set(items, out)
    if seed_out is not None:
        seed_out.parent.mkdir(parents=True, exist_ok=True)
        seed_out.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in seeds), encoding="utf-8")
    kinds = {kind: sum(item.made_by == f"feedback:{kind}" for item in items) for kind in ("up", "corrected", "down")}
    return {"questions": len(items), **kinds, "seed_examples": len(seeds), "skipped_without_text": skipped}
