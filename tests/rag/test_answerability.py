"""The answerability head: its arithmetic, its file, and the generator serving it (it decides when to abstain)."""

import copy
import json
from pathlib import Path

import pytest
import torch

from rag.adapter import AdapterError, adapter_head
from rag.answerability import HEAD_FILE, AnswerabilityHead, load_head
from rag.generator import TransformersGenerator, checked_head
from rag.settings import ABSTAIN_ANSWER

PROMPT = [
    {"role": "system", "content": "Answer from the context only."},
    {"role": "user", "content": "Context:\n[1] (a.txt)\nParking costs 40 euros.\n\nQuestion: What is the cost?"},
]


def head_of(size: int, intercept: float, layer: int = 2, coef: float = 0.0) -> AnswerabilityHead:
    return AnswerabilityHead(layer, [0.0] * size, [1.0] * size, [coef] * size, intercept, threshold=0.5)


def test_the_probability_is_a_standardised_logistic_regression() -> None:
    head = AnswerabilityHead(0, mean=[1.0, 0.0], scale=[2.0, 1.0], coef=[1.0, -1.0], intercept=0.5, threshold=0.5)
    z = (3.0 - 1.0) / 2.0 * 1.0 + (2.0 - 0.0) / 1.0 * -1.0 + 0.5
    assert head.probability(torch.tensor([3.0, 2.0])) == pytest.approx(torch.sigmoid(torch.tensor(z)).item())
    assert head.unanswerable(torch.tensor([9.0, 0.0])) and not head.unanswerable(torch.tensor([1.0, 5.0]))
    with pytest.raises(ValueError, match="expects hidden size 2"):
        head.probability(torch.zeros(3))


def test_bad_heads_are_refused_on_creation_and_on_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="of one length"):
        AnswerabilityHead(0, [0.0], [1.0, 1.0], [0.0], 0.0, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        AnswerabilityHead(0, [0.0], [1.0], [0.0], 0.0, 1.5)
    assert load_head(tmp_path) is None
    (tmp_path / HEAD_FILE).write_text(json.dumps({"layer": 1}))
    with pytest.raises(ValueError, match="refit it with `finetune head`"):
        load_head(tmp_path)
    with pytest.raises(AdapterError, match="is not an answerability head"):  # what the app and Admin page catch
        adapter_head(tmp_path)


def test_a_head_round_trips_and_must_fit_the_model(tmp_path: Path, generator: TransformersGenerator) -> None:
    config = generator.model.config
    head = head_of(config.hidden_size, 1.0, layer=config.num_hidden_layers // 2)
    head.save(tmp_path)
    assert checked_head(tmp_path, config) == head
    head_of(config.hidden_size + 1, 1.0).save(tmp_path)
    with pytest.raises(AdapterError, match="Refit it with `finetune head`"):
        checked_head(tmp_path, config)


def test_a_head_that_says_unanswerable_abstains_without_generating(generator: TransformersGenerator) -> None:
    abstaining = copy.copy(generator)  # shares the model; only the head differs
    abstaining.head = head_of(generator.model.config.hidden_size, intercept=10.0)
    stream = abstaining.stream(PROMPT, max_new_tokens=24, temperature=0.0, top_p=1.0, grounded=True)
    assert "".join(stream) == ABSTAIN_ANSWER and stream.new_tokens == 0
    # prompts other than the grounded answer (follow-up rewriting, the judge, `rag serve`) never meet the head
    other = abstaining.stream(PROMPT, max_new_tokens=24, temperature=0.0, top_p=1.0)
    assert "".join(other) == "".join(generator.stream(PROMPT, max_new_tokens=24, temperature=0.0, top_p=1.0))


def test_a_head_that_says_answerable_gives_the_plain_answer_from_the_prefilled_cache(
    generator: TransformersGenerator,
) -> None:
    plain = "".join(generator.stream(PROMPT, max_new_tokens=24, temperature=0.0, top_p=1.0))
    assert not plain.startswith("I")  # else the suppressed first token would rightly change it
    answering = copy.copy(generator)
    answering.head = head_of(generator.model.config.hidden_size, intercept=-10.0)
    stream = answering.stream(PROMPT, max_new_tokens=24, temperature=0.0, top_p=1.0, grounded=True)
    assert "".join(stream) == plain and stream.new_tokens >= 1


def test_a_head_that_says_answerable_keeps_the_model_from_abstaining(generator: TransformersGenerator) -> None:
    asked = [{"role": "user", "content": f"Repeat this sentence exactly: {ABSTAIN_ANSWER}"}]
    assert "".join(generator.stream(asked, max_new_tokens=16, temperature=0.0, top_p=1.0)).startswith("I")
    answering = copy.copy(generator)
    answering.head = head_of(generator.model.config.hidden_size, intercept=-10.0)
    reply = "".join(answering.stream(asked, max_new_tokens=16, temperature=0.0, top_p=1.0, grounded=True))
    assert not reply.startswith(ABSTAIN_ANSWER.rstrip("."))
