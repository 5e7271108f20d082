import gzip
import json
from pathlib import Path

import pytest

from eval.run import exact_match, token_f1
from eval.sets import EvalItem, SetError, load_set, load_squad, make_set, save_set
from rag.embedder import SentenceTransformerEmbedder
from rag.grounding import grounding_check, split_claims
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import open_store

PASSAGE = "A monthly parking permit costs 40 euros and is sold at the front desk on the ground floor."


def test_set_round_trip_and_clear_errors(tmp_path: Path) -> None:
    items = [EvalItem("Q1?", "A1", ["a.pdf"]), EvalItem("Q2?")]
    save_set(items, tmp_path / "set.jsonl")
    assert load_set(tmp_path / "set.jsonl") == items
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine?"}\n{"reference": "no question"}\n')
    with pytest.raises(SetError, match=r"bad\.jsonl:2"):
        load_set(bad)
    bad.write_text('{"question": "x?", "reference_sources": "a.pdf"}\n')
    with pytest.raises(SetError, match="must be a list"):
        load_set(bad)


def test_squad_files_give_documents_and_questions(tmp_path: Path) -> None:
    squad = {"data": [{"paragraphs": [{"document_id": 7, "context": "Bees make honey.", "qas": [
        {"question": "What do bees make?", "answers": [{"text": "honey", "answer_start": 10}]},
        {"question": "Unanswered?", "answers": []}]}]}]}  # fmt: skip
    path = tmp_path / "squad.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(squad, handle)
    documents, items = load_squad(path)
    assert documents == {"7": "Bees make honey."}
    assert items[0] == EvalItem("What do bees make?", "honey", ["7.txt"], "squad:squad.json.gz")
    assert items[1].reference is None
    _, sample = load_squad(path, limit=1)
    assert len(sample) == 1


def test_make_set_builds_items_from_the_store(handbook_settings: Settings) -> None:
    items = make_set(open_store(handbook_settings), 3)
    assert len(items) == 3
    for item in items:
        assert item.reference_sources == ["handbook.pdf"] and item.reference
        assert item.made_by.startswith("deterministic: sentence of chunk")


def test_squad_answer_scores() -> None:
    assert exact_match("The 40 euros.", "40 euros") == 1.0
    assert token_f1("It costs 40 euros", "40 euros") == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert token_f1("nothing alike", "40 euros") == 0.0


def test_grounding_check_flags_what_the_passages_do_not_say(embedder: SentenceTransformerEmbedder) -> None:
    score, claims = grounding_check(
        "The permit costs 40 euros [1]. It costs 55 euros on Sundays. Oliver sells it in Paris.", [PASSAGE], embedder
    )
    assert [c.supported for c in claims] == [True, False, False]
    assert "55" in claims[1].reason and "Paris" in claims[2].reason  # a sentence-opening word is not a name
    assert score == pytest.approx(1 / 3)
    assert grounding_check(ABSTAIN_ANSWER, [PASSAGE], embedder) == (None, [])
    unrelated = grounding_check("Cats sleep on warm roofs all afternoon.", [PASSAGE], embedder)
    assert unrelated[0] == 0.0
    assert split_claims("One claim here [2].\nAnother one there!") == ["One claim here .", "Another one there!"]


def test_a_runs_summary_averages_what_was_scored_and_gives_latency_percentiles() -> None:
    from eval.run import summarise

    rows = [
        {"abstained": False, "seconds": s, "scores": {"token_f1": f, "grounding_check": g}}
        for s, f, g in [(1.0, 1.0, 0.5), (2.0, 0.0, None), (3.0, None, None), (10.0, 0.5, 1.0)]
    ]
    rows[2]["abstained"] = True
    summary = summarise(rows)
    assert summary["token_f1"] == 0.5 and summary["grounding_check"] == 0.75  # unscored items left out
    assert summary["abstention_rate"] == 0.25 and summary["questions"] == 4
    assert summary["latency_p50_s"] == 2.5 and summary["latency_p95_s"] == 10.0
