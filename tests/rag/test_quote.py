"""Quoted evidence (fake embedder: bag of words): which sentences answer."""

from rag.quote import pick_quotes, quoted_answer, sentences
from rag.settings import ABSTAIN_ANSWER
from tests.fakes import FakeEmbedder

GETTING_STARTED = """## Ask your first question

Type a question in the box at the bottom of the page, for example "How do I delete a document?", and press
Enter. The answer appears word by word."""
DELETING = """## Listing and deleting documents

`python -m ingest list` shows every document with its pages, chunks, size and content hash;
`python -m ingest list --json` prints the same as JSON. `python -m ingest delete NAME` removes a document and
all its passages. A running app notices added or deleted documents at its next question or page reload."""


def test_sentences_are_whole_declarative_and_without_headings() -> None:
    found = sentences(DELETING + "\n\nWhat is a chunk? Short one.")
    assert found[2] == "`python -m ingest delete NAME` removes a document and all its passages."  # lines joined
    assert not any(s.startswith("#") or s.endswith("?") for s in found) and "Short one." not in found


def test_the_sentence_that_answers_wins_over_one_that_quotes_the_question() -> None:
    quotes = pick_quotes("How do I delete a document?", [GETTING_STARTED, DELETING], FakeEmbedder())
    best = max(quotes, key=lambda q: q.score)
    assert best.passage == 2 and "ingest delete NAME" in best.text
    assert all(q.passage == 2 for q in quotes) and 1 <= len(quotes) <= 3  # in the order of the passage
    assert [q.position for q in quotes] == sorted(q.position for q in quotes)
    assert quoted_answer(quotes).endswith(" [2]")


def test_nothing_to_quote_is_an_abstention() -> None:
    assert pick_quotes("Anything?", ["## Only a heading", "Too short."], FakeEmbedder()) == []
    assert quoted_answer([]) == ABSTAIN_ANSWER
