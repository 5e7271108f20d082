import json
from pathlib import Path

from eval.feedback import write_feedback_set


def rating(question: str, value: int, answer: str = "An answer.", correction: str = "", at: str = "1") -> dict:
    return {"question": question, "rating": value, "answer": answer, "correction": correction,
            "sources": ["hb.pdf"], "at": at}  # fmt: skip


def test_ratings_become_references_questions_to_watch_and_seed_examples(tmp_path: Path) -> None:
    ratings = [
        rating("How long is the notice period?", -1),  # superseded by the later rating below
        rating("How long is the notice period?", 1, answer="Three months."),
        rating("Who signs expenses?", -1, correction="Your manager signs them."),
        rating("Where is parking?", -1),
        rating("", 1),  # kept without text (RAG_FEEDBACK_TEXT=off): unusable
    ]
    counts = write_feedback_set(ratings, tmp_path / "set.jsonl", tmp_path / "seed.jsonl")
    assert counts == {"questions": 3, "up": 1, "corrected": 1, "down": 1, "seed_examples": 1,
                      "skipped_without_text": 1}  # fmt: skip
    items = [json.loads(line) for line in (tmp_path / "set.jsonl").read_text().splitlines()]
    assert items == [
        {"question": "How long is the notice period?", "reference": "Three months.", "reference_sources": ["hb.pdf"],
         "made_by": "feedback:up"},
        {"question": "Who signs expenses?", "reference": "Your manager signs them.", "reference_sources": ["hb.pdf"],
         "made_by": "feedback:corrected"},
        {"question": "Where is parking?", "reference": None, "reference_sources": [], "made_by": "feedback:down"},
    ]  # fmt: skip
    seeds = [json.loads(line) for line in (tmp_path / "seed.jsonl").read_text().splitlines()]
    assert seeds == [
        {"instruction": "Who signs expenses?", "output": "Your manager signs them.", "made_by": "feedback"}
    ]
