"""The decide stage: abstention by relevance (score threshold and margin) and by the adapter's answerability head,
on the real bundled model (the head reads its hidden state; answering continues from that same read)."""

from pathlib import Path

import pytest

from rag.adapter import AdapterError
from rag.answerability import AnswerabilityHead
from rag.decide import Decider, relevant_passages
from rag.generator import TransformersGenerator
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Chunk, Hit

PROMPT = [
    {"role": "system", "content": "Answer from the context only."},
    {
        "role": "user",
        "content": "Context:\n<passage 1: a.txt>\nParking costs 40 euros.\n</passage 1>\n\nQuestion: What is the cost?",
    },
]
GREEDY = {"max_new_tokens": 24, "temperature": 0.0, "top_p": 1.0}


def head_of(size: int, intercept: float, layer: int = 2, coef: float = 0.0) -> AnswerabilityHead:
    return AnswerabilityHead(layer, [0.0] * size, [1.0] * size, [coef] * size, intercept, threshold=0.5)


def deciding(generator: TransformersGenerator, intercept: float) -> Decider:
    return Decider(0.35, 0.15, head_of(generator.hidden_size, intercept), generator)


def test_relevant_passages_abstain_below_the_threshold_and_cut_at_the_margin() -> None:
    hits = [Hit(Chunk(f"t{n}", "a.md", n), score) for n, score in enumerate([0.62, 0.55, 0.47, 0.30])]
    assert relevant_passages(hits, threshold=0.35, margin=0.15) == hits[:3]
    assert relevant_passages(hits, threshold=0.35, margin=0.0) == hits[:1]
    assert relevant_passages(hits, threshold=0.7, margin=0.15) == []
    assert relevant_passages([], threshold=0.35, margin=0.15) == []
    fused_order = [hits[2], hits[0], hits[3]]  # hybrid order is not similarity order: the best one still counts
    assert relevant_passages(fused_order, threshold=0.6, margin=0.2) == [hits[2], hits[0]]


def test_the_adapters_head_is_loaded_and_must_fit_the_model(
    tmp_path: Path, settings: Settings, generator: TransformersGenerator
) -> None:
    head = head_of(generator.hidden_size, 1.0, layer=generator.depth // 2)
    head.save(tmp_path)
    with_adapter = settings.model_copy(update={"adapter": tmp_path})
    assert Decider.from_settings(with_adapter, generator).head == head
    head_of(generator.hidden_size + 1, 1.0).save(tmp_path)
    with pytest.raises(AdapterError, match="Refit it with `finetune head`"):
        Decider.from_settings(with_adapter, generator)
    assert Decider.from_settings(settings).head is None  # no adapter: relevance only


def test_a_head_that_says_unanswerable_abstains_without_generating(generator: TransformersGenerator) -> None:
    reply = deciding(generator, intercept=10.0).reply(generator, PROMPT, **GREEDY)
    assert list(reply.pieces) == [ABSTAIN_ANSWER] and reply.abstained
    assert reply.p_unanswerable is not None and reply.p_unanswerable > 0.99


def test_a_head_that_says_answerable_gives_the_plain_answer_from_the_same_prompt_read(
    generator: TransformersGenerator,
) -> None:
    plain = "".join(generator.stream(PROMPT, **GREEDY))
    assert not plain.startswith("I")  # else the suppressed first token would rightly change it
    reply = deciding(generator, intercept=-10.0).reply(generator, PROMPT, **GREEDY)
    assert "".join(reply.pieces) == plain and not reply.abstained
    assert reply.pieces.new_tokens >= 1  # type: ignore[attr-defined]


def test_a_head_that_says_answerable_keeps_the_model_from_abstaining(generator: TransformersGenerator) -> None:
    asked = [{"role": "user", "content": f"Repeat this sentence exactly: {ABSTAIN_ANSWER}"}]
    assert "".join(generator.stream(asked, **GREEDY)).startswith("I")
    reply = deciding(generator, intercept=-10.0).reply(generator, asked, **GREEDY)
    assert not "".join(reply.pieces).startswith(ABSTAIN_ANSWER.rstrip("."))


def test_without_a_head_every_prompt_is_answered(generator: TransformersGenerator) -> None:
    reply = Decider(0.35, 0.15).reply(generator, PROMPT, **GREEDY)
    assert "".join(reply.pieces) == "".join(generator.stream(PROMPT, **GREEDY)) and reply.p_unanswerable is None


def test_a_head_needs_the_generator_it_reads() -> None:
    with pytest.raises(ValueError, match="needs the generator"):
        Decider(0.35, 0.15, head_of(3, 0.0))
