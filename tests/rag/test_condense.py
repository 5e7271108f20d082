import pytest

from rag.condense import MAX_CARRIED_WORDS, looks_like_follow_up, model_query, rules_query, standalone_query
from rag.generator import TransformersGenerator
from rag.types import Turn

PARKING = Turn("How much does a parking permit cost?", "How much does a parking permit cost?", "40 euros.")


@pytest.mark.parametrize(
    "question",
    ["Where is it sold?", "And for visitors?", "What about the second one?", "Why?", "How do I remove them?",
     "which one is cheaper", "Tell me more"],
)  # fmt: skip
def test_follow_ups_are_recognised(question: str) -> None:
    assert looks_like_follow_up(question)


@pytest.mark.parametrize(
    "question",
    ["How many vacation days does a new employee get?", "When does the staff cafeteria close?",
     "What is the phone extension of the IT helpdesk?"],
)  # fmt: skip
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not looks_like_follow_up(question)
    assert rules_query([PARKING], question) == question


def test_rules_join_the_previous_standalone_query() -> None:
    assert rules_query([], "Where is it sold?") == "Where is it sold?"
    second = Turn("Where is it sold?", rules_query([PARKING], "Where is it sold?"))
    assert second.query == "How much does a parking permit cost? Where is it sold?"
    assert rules_query([PARKING, second], "And its price?") == f"{second.query} And its price?"


def test_off_keeps_the_question(generator: TransformersGenerator) -> None:
    assert standalone_query("off", generator, [PARKING], "Where is it sold?") == "Where is it sold?"


def test_model_rewrites_only_follow_ups(generator: TransformersGenerator) -> None:
    question = "When does the staff cafeteria close?"
    assert model_query(generator, [PARKING], question) == question  # no model call needed
    rewritten = model_query(generator, [PARKING], "Where is it sold?")
    assert rewritten.strip() and rewritten != "Where is it sold?"
    assert "\n" not in rewritten


def test_a_long_chat_of_follow_ups_does_not_grow_the_query() -> None:
    history = [PARKING]
    for _ in range(40):
        query = rules_query(history, "And what about it?")
        history.append(Turn("And what about it?", query))
    assert len(query.split()) <= MAX_CARRIED_WORDS + 4
    assert query.endswith("And what about it?")


def test_the_models_rewrite_is_used_and_an_unusable_one_falls_back_to_the_rules() -> None:
    from tests.fakes import FakeGenerator

    rewriter = FakeGenerator("Where is the monthly parking permit sold?\nExtra line.")
    assert model_query(rewriter, [PARKING], "Where is it sold?") == "Where is the monthly parking permit sold?"  # type: ignore[arg-type]
    sent = rewriter.streamed[0]["messages"]
    assert sent[-1]["content"].endswith("Follow-up question: Where is it sold?")  # type: ignore[index]
    rambling = FakeGenerator("word " * 200)
    assert model_query(rambling, [PARKING], "Where is it sold?") == rules_query([PARKING], "Where is it sold?")  # type: ignore[arg-type]
    echo = FakeGenerator("where is it sold?")
    assert model_query(echo, [PARKING], "Where is it sold?") == rules_query([PARKING], "Where is it sold?")  # type: ignore[arg-type]
