"""Before/after scoring of an adapter: the scoring rules, and a real comparison on a few examples."""

from pathlib import Path

from finetune.data import Example
from finetune.evaluate import (
    Scored,
    abstain_probability,
    abstention_auc,
    compare,
    markdown,
    metrics,
    score,
    set_names,
)
from rag.decide import Decider
from rag.generator import TransformersGenerator
from rag.prompt import context_block, grounded_messages
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Chunk, Hit

PROMPT = grounded_messages(
    "q?", [context_block(1, Hit(Chunk("X", "a.txt", 0), 0.5)), context_block(2, Hit(Chunk("Y", "b.txt", 0), 0.5))]
)  # two passages, as the app writes them


def example(kind: str, reference: str) -> Example:
    return Example(PROMPT, reference, {"kind": kind, "reference": reference})


def test_sets_sharing_a_file_name_keep_apart() -> None:
    assert set_names([Path("a/heldout.jsonl"), Path("b/other.jsonl")]) == ["heldout", "other"]
    assert set_names([Path("a/heldout.jsonl"), Path("b/heldout.jsonl")]) == ["a/heldout", "b/heldout"]


def test_answers_are_scored_without_their_citations() -> None:
    right = score(example("answerable", "40 euros"), "40 euros [2].", 1.0)
    assert right.f1 == 1.0 and right.exact == 1.0 and right.cites and not right.abstained
    bad_number = score(example("answerable", "40 euros"), "It costs 40 euros [7].", 1.0)
    assert not bad_number.cites and 0 < (bad_number.f1 or 0) < 1
    wrong_abstention = score(example("answerable", "40 euros"), ABSTAIN_ANSWER, 1.0)
    assert wrong_abstention.abstained and wrong_abstention.f1 == 0.0
    abstained = score(example("unanswerable", ABSTAIN_ANSWER), ABSTAIN_ANSWER + " Sorry.", 2.0)
    assert abstained.abstained and abstained.f1 is None


def test_metrics_split_answerable_and_unanswerable() -> None:
    scored = [
        score(example("answerable", "40 euros"), "40 euros [1]", 1.0),
        score(example("answerable", "28 days"), ABSTAIN_ANSWER, 3.0),
        score(example("unanswerable", ABSTAIN_ANSWER), ABSTAIN_ANSWER, 1.0),
        score(example("unanswerable", ABSTAIN_ANSWER), "Maybe 12.", 1.0),
    ]
    result = metrics(scored)
    assert result["token_f1"] == 0.5 and result["abstention_on_unanswerable"] == 0.5
    assert result["false_abstention_on_answerable"] == 0.5 and result["citation_rate"] == 1.0
    assert result["latency_p50_s"] == 1.0


def test_abstention_auc_says_whether_the_probability_tells_the_kinds_apart() -> None:
    def rated(kind: str, probability: float) -> Scored:
        return score(example(kind, "x"), "x", 1.0, probability)

    apart = [rated("unanswerable", 0.9), rated("unanswerable", 0.7), rated("answerable", 0.2), rated("answerable", 0.6)]
    assert abstention_auc(apart) == 1.0
    flat = [rated("unanswerable", 0.5), rated("answerable", 0.5)]
    assert abstention_auc(flat) == 0.5
    backwards = [rated("unanswerable", 0.1), rated("answerable", 0.8)]
    assert abstention_auc(backwards) == 0.0
    assert abstention_auc([rated("answerable", 0.3)]) is None


def test_the_abstain_probability_follows_the_prompt(generator: TransformersGenerator) -> None:
    asked = [{"role": "user", "content": "Repeat this sentence exactly: I don't know based on the provided documents."}]
    other = [{"role": "user", "content": "Repeat this sentence exactly: Paris is the capital of France."}]
    asking = abstain_probability(generator, Example(asked, ABSTAIN_ANSWER))
    not_asking = abstain_probability(generator, Example(other, ABSTAIN_ANSWER))
    assert 0.0 <= not_asking < asking <= 1.0


def test_base_and_adapted_models_answer_the_same_held_out_prompts(
    trained_adapter: Path, handbook_settings: Settings, generator: TransformersGenerator, short_examples: list[Example]
) -> None:
    with_adapter = handbook_settings.model_copy(update={"adapter": trained_adapter})
    adapted = TransformersGenerator.from_settings(with_adapter)
    held = [short_examples[0], short_examples[-1]]
    base_model = (generator, Decider.from_settings(handbook_settings))
    adapted_model = (adapted, Decider.from_settings(with_adapter, adapted))
    report = compare(base_model, adapted_model, {"heldout": held}, max_new_tokens=16)
    result = report["sets"]["heldout"]
    assert result["before"]["answerable"] == 1 and result["before"]["unanswerable"] == 1
    assert set(result["before"]) == set(result["after"])
    assert [s["reference"] for s in result["samples"]] == [e.completion for e in held]
    text = markdown(report)
    assert "| abstention_on_unanswerable |" in text and "## heldout" in text
    assert result["after"]["abstention_auc"] in (0.0, 0.5, 1.0)  # one example of each kind
