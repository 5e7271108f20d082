"""The answer path's stages in order, fast: a fake embedder and generator (tests/fakes.py), everything else real
(Chroma, bm25s, the prompt packing, the decide stage). tests/rag/test_pipeline.py runs the same path on the real
models."""

import re
from pathlib import Path

import pytest

from ingest.index import Indexer
from rag.answerability import AnswerabilityHead
from rag.components import Components
from rag.decide import Decider
from rag.pipeline import QuestionError, RagPipeline
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Turn
from tests.fakes import FakeEmbedder, FakeGenerator

PARKING = "A monthly parking permit costs 40 euros and is sold at the front desk on the ground floor."
CAFETERIA = "The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays."


@pytest.fixture
def parts(tmp_path: Path, data_settings: Settings) -> Components:
    """Two small documents ingested with the fake embedder, and the parts built around them."""
    embedder = FakeEmbedder()
    generate = data_settings.model_copy(update={"answer_mode": "generate"})  # auto mode has tests of its own
    parts = Components(generate, embedder=embedder, generator=FakeGenerator())
    indexer = Indexer(parts.store, embedder, data_settings.chunk_size, data_settings.chunk_overlap, parts.keywords)
    for name, text in [("parking.md", PARKING), ("cafeteria.md", CAFETERIA)]:
        (tmp_path / name).write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
        indexer.ingest(tmp_path / name, name)
    return parts


def generator_of(parts: Components) -> FakeGenerator:
    return parts.generator  # type: ignore[return-value]


def test_a_question_is_answered_from_its_passage_with_the_sources_and_the_grounding(parts: Components) -> None:
    answer = RagPipeline(parts).answer("How much does a monthly parking permit cost?")
    pieces = list(answer.stream())
    assert "".join(pieces) == "It costs 40 euros [1]." and len(pieces) > 1  # streamed, not all at the end
    assert answer.text == "It costs 40 euros [1]." and not answer.abstained
    assert answer.sources[0].source == "parking.md" and PARKING in answer.sources[0].text
    prompt = generator_of(parts).streamed[0]["messages"][1]["content"]  # type: ignore[index]
    assert prompt.startswith("Context:\n<passage 1: parking.md>\n") and prompt.endswith(
        "Question: How much does a monthly parking permit cost?"
    )
    share, claims = answer.grounding
    assert share == 1.0 and [c.text for c in claims] == ["It costs 40 euros ."]


def test_nothing_relevant_abstains_without_the_model(parts: Components) -> None:
    result = RagPipeline(parts).answer("Who won the 2018 FIFA World Cup?").result()
    assert re.fullmatch(r"[0-9a-f]{16}", result.pop("id"))  # the answer's id: its log lines and ratings name it
    assert result == {"answer": ABSTAIN_ANSWER, "abstained": True, "refused": False, "sources": [], "mode": "generated",
                      "guard": [], "citations": []}  # fmt: skip
    assert generator_of(parts).streamed == [] and generator_of(parts).read == []


@pytest.mark.parametrize(
    ("question", "message"),
    [("   ", "The question is empty"), ("why? " * 500, "characters long; the limit is 2,000")],
)
def test_questions_that_cannot_be_asked_say_why(parts: Components, question: str, message: str) -> None:
    with pytest.raises(QuestionError, match=message):
        RagPipeline(parts).answer(question)


def test_a_question_that_leaves_no_room_for_a_passage_says_what_to_change(parts: Components) -> None:
    parts.settings = parts.settings.model_copy(update={"context_tokens": 300, "max_new_tokens": 256})
    pipeline = RagPipeline(parts)
    with pytest.raises(QuestionError, match="RAG_CONTEXT_TOKENS"):
        pipeline.answer("How much does a monthly parking permit cost? " + "Please be exact about the permit. " * 5)


def test_a_follow_up_is_searched_with_the_question_it_follows(parts: Components) -> None:
    first = "How much does a monthly parking permit cost?"
    answer = RagPipeline(parts).answer("Where is it sold?", history=[Turn(first, first, "40 euros")])
    assert answer.query == f"{first} Where is it sold?"
    assert answer.question == "Where is it sold?" and answer.sources[0].source == "parking.md"


def test_the_answer_budget_is_capped_by_the_models_window(parts: Components) -> None:
    generator_of(parts).context_window = 1000
    assert RagPipeline(parts).prompt_budget(200) == 800  # RAG_CONTEXT_TOKENS is 2048


def head(intercept: float) -> AnswerabilityHead:
    return AnswerabilityHead(2, [0.0] * 3, [1.0] * 3, [0.0] * 3, intercept, threshold=0.5)


def test_a_head_that_says_unanswerable_abstains_after_reading_the_prompt(parts: Components) -> None:
    parts.__dict__["decider"] = Decider(0.35, 0.15, head(intercept=5.0), parts.generator)
    answer = RagPipeline(parts).answer("How much does a monthly parking permit cost?")
    assert answer.result()["answer"] == ABSTAIN_ANSWER and answer.abstained
    assert answer.sources and answer.p_unanswerable is not None and answer.p_unanswerable > 0.99
    assert len(generator_of(parts).read) == 1 and generator_of(parts).streamed == []  # read, never generated
    assert answer.grounding == (None, [])


def test_a_head_that_says_answerable_lets_the_reply_continue_from_its_read(parts: Components) -> None:
    parts.__dict__["decider"] = Decider(0.35, 0.15, head(intercept=-5.0), parts.generator)
    answer = RagPipeline(parts).answer("How much does a monthly parking permit cost?")
    assert answer.result()["answer"] == "It costs 40 euros [1]."
    streamed = generator_of(parts).streamed[0]
    assert streamed["resume"] is not None and streamed["avoid_opening"] == ABSTAIN_ANSWER


def test_without_a_head_the_reply_neither_resumes_nor_avoids_anything(parts: Components) -> None:
    RagPipeline(parts).answer("When does the staff cafeteria close?").result()
    streamed = generator_of(parts).streamed[0]
    assert streamed["resume"] is None and streamed["avoid_opening"] is None


def test_the_grounding_check_runs_once_for_the_citations_and_the_badge(parts: Components) -> None:
    calls: list[str] = []
    real = parts.grounder
    parts.__dict__["grounder"] = lambda text, passages: calls.append(text) or real(text, passages)
    answer = RagPipeline(parts).answer("When does the staff cafeteria close?")
    list(answer.stream())
    assert calls == []  # not while streaming
    answer.result()
    assert answer.grounding == answer.grounding and calls == ["It costs 40 euros [1]."]


def test_a_model_that_makes_up_a_number_is_caught_by_the_grounding_check(parts: Components) -> None:
    generator_of(parts).reply = "The cafeteria closes at 17:00."
    answer = RagPipeline(parts).answer("When does the staff cafeteria close?")
    answer.result()
    share, claims = answer.grounding
    assert share == 0.0 and claims[0].reason == "numbers not in the passages: 17:00"


def test_auto_mode_keeps_a_backed_answer(parts: Components) -> None:
    parts.settings = parts.settings.model_copy(update={"answer_mode": "auto"})
    generator_of(parts).reply = "The cafeteria closes at 15:00 on weekdays [1]."
    answer = RagPipeline(parts).answer("When does the staff cafeteria close?")
    assert answer.result()["mode"] == "generated" and answer.generated_text is None


def test_auto_mode_quotes_the_passages_instead_of_an_answer_they_do_not_back(parts: Components) -> None:
    parts.settings = parts.settings.model_copy(update={"answer_mode": "auto"})
    made_up = {  # the model's reply -> what is left of it after the cut at prompt markup
        "The cafeteria closes at 17:00.": "The cafeteria closes at 17:00.",
        "<passage 1: cafeteria.md> The staff cafeteria opens at 7:30": "",
    }
    for reply, generated in made_up.items():
        generator_of(parts).reply = reply
        answer = RagPipeline(parts).answer("When does the staff cafeteria close?")
        result = answer.result()
        assert result["mode"] == "quoted" and answer.generated_text == generated
        assert result["answer"] == f"{CAFETERIA} [1]" and answer.grounding[0] == 1.0


def test_auto_mode_wants_the_answer_backed_by_the_evidence_for_the_question(parts: Components) -> None:
    parts.settings = parts.settings.model_copy(update={"answer_mode": "auto", "relevance_margin": 2.0})
    generator_of(parts).reply = "The cafeteria opens at 7:30 [2]."  # true of a passage, but not the answer
    answer = RagPipeline(parts).answer("How much does a monthly parking permit cost?")
    result = answer.result()
    assert [s["source"] for s in result["sources"]] == ["parking.md", "cafeteria.md"]
    assert result["mode"] == "quoted" and result["answer"] == f"{PARKING} [1]"


def test_an_answer_is_cut_where_the_model_starts_copying_the_prompt(parts: Components) -> None:
    generator_of(parts).reply = "It costs 40 euros [1].\n\nQuestion: Where is it sold?\nAt the desk."
    result = RagPipeline(parts).answer("How much does a monthly parking permit cost?").result()
    assert result["answer"] == "It costs 40 euros [1]." and result["mode"] == "generated"


def test_quote_mode_never_generates(parts: Components) -> None:
    parts.settings = parts.settings.model_copy(update={"answer_mode": "quote"})
    result = RagPipeline(parts).answer("How much does a monthly parking permit cost?").result()
    assert result["mode"] == "quoted" and result["answer"] == f"{PARKING} [1]"
    assert generator_of(parts).streamed == []
