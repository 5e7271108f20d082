import json
from pathlib import Path

import pytest

from eval.questions import check_questions, load_questions
from rag.settings import Settings
from tests.helpers import HANDBOOK_FACTS, OUT_OF_CORPUS


def write_set(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_handbook_pages_are_found_and_out_of_corpus_abstains(tmp_path: Path, handbook_settings: Settings) -> None:
    rows: list[dict[str, object]] = [
        {"question": q, "source": "handbook.pdf", "pages": [p]} for q, p, _ in HANDBOOK_FACTS
    ]
    rows += [{"question": q, "pages": []} for q in OUT_OF_CORPUS]
    rows.append({"question": "When does the staff cafeteria close?", "pages": [5]})  # a wrong page: must miss
    report = check_questions(handbook_settings, load_questions(write_set(tmp_path / "set.jsonl", rows)))
    assert report["answerable"] == len(HANDBOOK_FACTS) + 1
    assert report["page_hit_rate"] == round(len(HANDBOOK_FACTS) / (len(HANDBOOK_FACTS) + 1), 3)
    assert report["false_abstention_rate"] == 0.0
    assert (report["unanswerable"], report["abstention_rate"]) == (len(OUT_OF_CORPUS), 1.0)
    assert report["questions"][-1]["page_hit"] is False


def test_a_malformed_line_names_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok", "pages": [1]}\n{"pages": [2]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        load_questions(path)
