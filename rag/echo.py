"""What a generated answer must not do: copy the prompt's structure, or restate a passage wholesale.

A small model prompted with `<passage N: source>` blocks and a "Question:" line tends to continue the pattern:
"The answer is: <passage 4: guide.md> ## Getting started ...", or a new "Question:" it then answers itself.
`until_markup` ends the answer where that starts (and stops generation); `echoes` is the check that `auto`
mode and `eval answers` apply to a finished answer.
"""

import re
from collections.abc import Iterable, Iterator, Sequence

ECHO_WORDS = 30  # a generated answer restating more consecutive words of one passage than this is an echo
HOLD_BACK = 16  # characters kept back while streaming, until the next piece shows they open no markup
_STRUCTURE = r"</?passage\b|^[ \t]*(context|question)[ \t]*:|^[ \t]*#{1,6}[ \t]"
_STOP_AT = re.compile(_STRUCTURE, re.I | re.M)  # where a streamed answer is cut
_MARKUP = re.compile(_STRUCTURE + r"|^[ \t]*```|\[\d+\][ \t]*\(", re.I | re.M)  # what counts as an echo
_WORDS = re.compile(r"\w+")


def until_markup(pieces: Iterable[str]) -> Iterator[str]:
    """The streamed pieces up to where the model starts writing prompt structure (a passage tag, a "Context:"
    or "Question:" line, a Markdown heading); closing the source there stops the generation."""
    source = iter(pieces)
    text, sent = "", 0
    try:
        for piece in source:
            text += piece
            found = _STOP_AT.search(text)
            end = found.start() if found else max(sent, len(text) - HOLD_BACK)
            if end > sent:
                yield text[sent:end]
                sent = end
            if found:
                return
        if len(text) > sent:
            yield text[sent:]
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def longest_copy(answer: str, passage: str) -> int:
    """The longest run of consecutive words of the answer that also runs in the passage."""
    words = [w.lower() for w in _WORDS.findall(answer)]
    text = " " + " ".join(w.lower() for w in _WORDS.findall(passage)) + " "
    best = 0
    for start in range(len(words)):
        length = best + 1
        while start + length <= len(words) and f" {' '.join(words[start : start + length])} " in text:
            best, length = length, length + 1
    return best


def has_markup(answer: str) -> bool:
    """The answer copies the prompt's structure: passage tags, "Context:"/"Question:", headings, code fences,
    numbered source headers ("[1] (guide.md)")."""
    return bool(_MARKUP.search(answer))


def echoes(answer: str, passages: Sequence[str]) -> bool:
    """A generated answer that copies the prompt's markup, or restates a passage wholesale."""
    return has_markup(answer) or any(longest_copy(answer, p) > ECHO_WORDS for p in passages)
