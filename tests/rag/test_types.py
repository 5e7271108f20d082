"""The shared types: the Answer as the app, the CLI and eval read it; what a chunk is searched by."""

import time

from rag.observe.logs import request_scope
from rag.settings import ABSTAIN_ANSWER
from rag.types import Answer, Chunk, Hit, Source, Turn


def test_the_json_of_rag_ask_has_exactly_the_contract_fields() -> None:
    source = Source.from_hit(Hit(Chunk("Forty euros.", "a.pdf", 0, page=3), 0.612345))
    with request_scope("req-0001"):  # the answer takes the id of the request it answers
        result = Answer("q", [source], iter(["It costs ", "40 euros."]), False, time.perf_counter()).result()
    assert result == {
        "id": "req-0001",
        "answer": "It costs 40 euros.",
        "abstained": False,
        "refused": False,
        "sources": [{"source": "a.pdf", "page": 3, "score": 0.6123, "text": "Forty euros."}],
        "mode": "generated",
        "guard": [],
        "citations": [{"sentence": "It costs 40 euros.", "sources": []}],  # no grounding check: nothing backed
    }


def test_an_answer_that_starts_abstaining_is_the_exact_abstention() -> None:
    answer = Answer("q", [], iter(["I don't know based on the provided documents, but"]), False, 0.0)
    assert answer.result()["answer"] == ABSTAIN_ANSWER and answer.abstained


def test_streaming_times_the_first_piece_and_the_turn_carries_the_query() -> None:
    answer = Answer("Where?", [], iter(["At the desk."]), False, time.perf_counter(), query="Permit? Where?")
    assert list(answer.stream()) == ["At the desk."]
    assert answer.first_token_s is not None and 0 <= answer.first_token_s < 5
    assert answer.turn() == Turn("Where?", "Permit? Where?", "At the desk.")
    assert answer.grounding == (None, [])  # no grounding check was given


def test_search_text_leaves_out_quoted_questions_but_readers_see_them() -> None:
    text = 'Type a question, for example "How do I delete a document?", and press Enter. Why? “Is it so?” Yes.'
    chunk = Chunk(text, "guide.md", 0, heading="Guide > Ask")
    assert chunk.search_text == "Guide > Ask\nType a question, for example  , and press Enter. Why?   Yes."
    assert chunk.text == text  # what readers are shown is untouched
    assert Chunk('He said "hello" twice.', "a.md", 0).search_text == 'He said "hello" twice.'
