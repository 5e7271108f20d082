"""`eval answers`: its sets, metrics and table, on fake models (the command's real run is measured, not tested)."""

import json
from pathlib import Path

from eval.answers import AnswerSet, covid_sets, docs_sets, key_recall, run_sets
from eval.sets import EvalItem
from rag.settings import Settings
from tests.fakes import FakeEmbedder, FakeGenerator

PARKING = "A monthly parking permit costs 40 euros and is sold at the front desk on the ground floor."
RULES = "Permits are valid for one calendar month, must be shown behind the windscreen and cannot be transferred."


def test_key_recall_is_the_share_of_the_references_content_words_said() -> None:
    assert key_recall("It costs 40 euros [1].", "40 euros") == 1.0
    assert key_recall("It is sold at the desk.", "the front desk") == 0.5  # "the" does not count
    assert key_recall("I don't know.", "40 euros") == 0.0


def test_the_docs_set_has_an_untouched_heldout_part_and_unanswerable_questions() -> None:
    tune, heldout = docs_sets()
    assert (tune.part, heldout.part) == ("tune", "heldout")
    assert not {i.question for i in tune.items} & {i.question for i in heldout.items}
    for part in (tune, heldout):
        assert any(i.reference is None for i in part.items) and any(i.reference for i in part.items)
    assert {name for _, name in tune.files} >= {"adding-documents.md", "getting-started.md"}


def test_covid_parts_are_different_articles(tmp_path: Path) -> None:
    articles = [
        {"paragraphs": [{"document_id": n, "context": f"Article {n} text.", "qas": [
            {"question": f"Q{n}.{q}?", "answers": [{"text": "text"}]} for q in range(12)
        ]}]}
        for n in range(10)
    ]  # fmt: skip
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": articles}))
    tune, heldout = covid_sets(squad, tmp_path / "texts")
    assert len(tune.files) == len(heldout.files) == 4 and not set(tune.files) & set(heldout.files)
    assert len(tune.items) == 40  # ten questions per article
    assert all(i.reference_sources[0] in {name for _, name in tune.files} for i in tune.items)


def run(tmp_path: Path, settings: Settings, reply: str) -> dict:
    (tmp_path / "parking.md").write_text(f"# Parking\n\n{PARKING} {RULES}\n")
    items = [EvalItem("How much does a monthly parking permit cost?", "40 euros", []),
             EvalItem("Who won the 2018 FIFA World Cup?", None, [])]  # fmt: skip
    answer_set = AnswerSet("handbook", "tune", items, [(tmp_path / "parking.md", "parking.md")])
    [report] = run_sets(settings, [answer_set], FakeEmbedder(), FakeGenerator(reply), tmp_path / "work")
    return report


def test_a_run_scores_every_answer_and_counts_echoes_and_abstentions(tmp_path: Path, data_settings: Settings) -> None:
    generate = data_settings.model_copy(update={"answer_mode": "generate"})
    report = run(tmp_path, generate, "The answer is:\n<passage 1: parking.md> A monthly parking permit costs")
    assert report["questions"] == 2 and report["modes"] == {"generated": 1, "quoted": 0, "abstained": 1}
    assert report["abstention"] == 1.0 and report["false_abstention"] == 0.0
    assert report["echo"] == 0.0  # the cut at the passage tag leaves "The answer is:"
    assert report["grounded"] == 0.0 and report["f1"] == 0.0

    report = run(tmp_path, generate, "It is " + PARKING.lower())
    assert report["echo"] == 0.0 and report["grounded"] == 1.0 and report["key"] == 1.0
    report = run(tmp_path, generate, f"{PARKING} {RULES}")  # the passage restated wholesale: 37 words in a row
    assert report["echo"] == 1.0


def test_auto_mode_rows_say_which_answers_were_quoted(tmp_path: Path, data_settings: Settings) -> None:
    report = run(tmp_path, data_settings.model_copy(update={"answer_mode": "auto"}), "It costs 50 euros [1].")
    [answered, _] = report["items"]
    assert answered["mode"] == "quoted" and answered["answer"] == f"{PARKING} [1]"
    assert report["grounded"] == 1.0 and report["key"] == 1.0
