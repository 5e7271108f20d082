"""Echoes of the prompt: the streamed cut at prompt markup, and the check on a finished answer."""

from collections.abc import Iterator

import pytest

from rag.echo import echoes, has_markup, longest_copy, until_markup


def test_echoes_are_markup_or_a_long_restatement() -> None:
    passage = " ".join(f"word{n}" for n in range(60))
    assert longest_copy("see word3 word4 word5 here", passage) == 3
    assert echoes("It is " + " ".join(f"word{n}" for n in range(31)), [passage])
    assert not echoes("It is " + " ".join(f"word{n}" for n in range(30)), [passage])
    for markup in ["<passage 1: a.md>", "Context:\nx", "## Heading", "[1] (a.md) text", "```\ncode"]:
        assert has_markup(markup), markup
    assert not has_markup("It costs 40 euros [1].")


@pytest.mark.parametrize(
    ("pieces", "kept"),
    [
        (["It costs ", "40 euros [1].", "\n\n<pass", "age 2: a.md>\nmore"], "It costs 40 euros [1].\n\n"),
        (["Run `ingest delete` [2].\nQues", "tion: What else?\nAnswer"], "Run `ingest delete` [2].\n"),
        (["The answer is:\n", "## Getting started\nThis"], "The answer is:\n"),
        (["Line one. ", "A # is not a heading [1]."], "Line one. A # is not a heading [1]."),
        (["No markup at all, however long it grows [1]."], "No markup at all, however long it grows [1]."),
    ],
)
def test_a_streamed_answer_ends_where_prompt_markup_starts(pieces: list[str], kept: str) -> None:
    assert "".join(until_markup(pieces)) == kept


def test_the_cut_stops_the_generation() -> None:
    closed: list[bool] = []

    def generation() -> Iterator[str]:
        try:
            yield from ["Use the Admin page [1].", "\n<passage 2: x.md>", "never read"]
        finally:
            closed.append(True)

    source = generation()
    assert "".join(until_markup(source)) == "Use the Admin page [1].\n"
    assert closed == [True]


def test_streaming_holds_back_only_a_few_characters() -> None:
    seen = []
    for piece in until_markup(iter(["a" * 40, "b" * 40, "c"])):
        seen.append(piece)
    assert seen[0] == "a" * 24 and "".join(seen) == "a" * 40 + "b" * 40 + "c"
