"""The grounding check's rules, on a fake embedder (tests/eval/test_sets_and_grounding.py: the real one)."""

from rag.grounding import grounding_check, passage_sentences, split_claims
from rag.settings import ABSTAIN_ANSWER
from tests.fakes import FakeEmbedder

PASSAGES = ["The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays. Maria Lopez runs it."]


def check(answer: str) -> list[tuple[bool, str]]:
    _, claims = grounding_check(answer, PASSAGES, FakeEmbedder())
    return [(claim.supported, claim.reason) for claim in claims]


def test_sentences_are_the_claims_and_citations_are_not_words() -> None:
    assert split_claims("It closes at 15:00 [1]. Yes.\nMaria runs it [2].") == [
        "It closes at 15:00 .",
        "Maria runs it .",
    ]


def test_a_sentence_copied_from_the_passage_is_supported() -> None:
    assert check("The cafeteria closes at 15:00 on weekdays [1].") == [(True, "supported")]


def test_numbers_and_names_not_in_the_passages_are_caught() -> None:
    assert check("The cafeteria closes at 16:00 on weekdays.") == [(False, "numbers not in the passages: 16:00")]
    assert check("The cafeteria is run by Peter Smith.") == [(False, "names not in the passages: Peter, Smith")]


def test_a_number_is_found_only_as_a_whole_number() -> None:
    assert check("The cafeteria closes at 5:00.") == [(False, "numbers not in the passages: 5:00")]  # in "15:00"
    assert check("It opens at 7 on weekdays.") == [(False, "numbers not in the passages: 7")]  # in "7:30"


def test_a_passage_sentence_wrapped_over_lines_is_compared_whole() -> None:
    wrapped = (
        "The documents table lists every document with its size and the time it was\n"
        "ingested. Choose one\nto delete it.\n- a list item\n- another item"
    )
    assert passage_sentences(wrapped) == [
        "The documents table lists every document with its size and the time it was ingested.",
        "Choose one to delete it.",
        "- a list item",
        "- another item",
    ]


def test_a_sentence_about_something_else_is_not_backed() -> None:
    assert check("Parking permits are sold at the front desk downstairs.") == [(False, "no passage sentence says this")]


def test_abstentions_and_empty_answers_have_no_claims() -> None:
    assert grounding_check(ABSTAIN_ANSWER, PASSAGES, FakeEmbedder()) == (None, [])
    assert grounding_check("Yes.", PASSAGES, FakeEmbedder()) == (None, [])
    assert grounding_check("It closes at 15:00.", [], FakeEmbedder()) == (None, [])
    share, _ = grounding_check("It closes at 15:00 on weekdays. It closes at 18:00.", PASSAGES, FakeEmbedder())
    assert share == 0.5
