"""Inline citations from the real grounding check (real embedder): markers point at the passage that backs
each sentence; a sentence nothing backs carries none."""

from rag.cite import cite, sentences_with_markers, with_markers
from rag.embedder import Embedder
from rag.grounding import grounding_check

PASSAGES = [
    "A monthly parking permit costs 40 euros and is sold at the front desk.",
    "The staff cafeteria opens at 7:30 and closes at 15:00 on weekdays.",
]


def test_each_backed_sentence_cites_the_passage_that_says_it(embedder: Embedder) -> None:
    answer = "The cafeteria closes at 15:00 [1]. A parking permit costs 40 euros. The permit is free on Sundays."
    _, claims = grounding_check(answer, PASSAGES, embedder)
    citations = cite(answer, claims, len(PASSAGES))
    assert [(c.sentence, c.sources) for c in citations] == [
        ("The cafeteria closes at 15:00.", [2]),  # the model's wrong [1] is not kept
        ("A parking permit costs 40 euros.", [1]),
        ("The permit is free on Sundays.", []),  # no passage says so
    ]
    assert with_markers(answer, citations) == (
        "The cafeteria closes at 15:00. [2] A parking permit costs 40 euros. [1] The permit is free on Sundays."
    )


def test_a_made_up_number_carries_no_citation(embedder: Embedder) -> None:
    answer = "A monthly parking permit costs 45 euros [1]."
    _, claims = grounding_check(answer, PASSAGES, embedder)
    assert [c.sources for c in cite(answer, claims, len(PASSAGES))] == [[]]


def test_markers_opening_a_sentence_belong_to_the_one_before() -> None:
    found = sentences_with_markers("It costs 40 euros. [1] It is sold at the desk [1].\nNothing else")
    assert found == [("It costs 40 euros.", [1]), ("It is sold at the desk .", [1]), ("Nothing else", [])]
