"""The data every part of the product passes around: chunks and documents (ingest -> store), hits (store ->
retrieval), sources, turns and answers (pipeline -> app, CLI, eval). Plain dataclasses: importing them loads no
store, model or web framework."""

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.observe.logs import current_request_id, new_request_id
from rag.settings import ABSTAIN_ANSWER

DEFAULT_COLLECTION = "default"  # the collection of documents ingested without one (accounts/collections.py)
_OPEN, _CLOSE = '"\u201c\u2018', '"\u201d\u2019'  # straight and curly quotation marks
QUOTED_QUESTION = re.compile(f"[{_OPEN}][^{_OPEN}{_CLOSE}]{{2,200}}\\?[{_CLOSE}]")


def without_quoted_questions(text: str) -> str:
    """The text with questions it quotes (`for example "How do I delete a document?"`) left out: a passage that
    mentions a question is not an answer to it, and must not match it better than the passage that answers."""
    return QUOTED_QUESTION.sub(" ", text)


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str
    index: int
    page: int | None = None
    heading: str | None = None
    context: str | None = None  # the document's context line: "3M COMPANY | 10-K annual report | 2018"
    injection: str | None = None  # the sentence that reads as an instruction to the model (rag.safety.injection)

    @property
    def search_text(self) -> str:
        """What is embedded and keyword-indexed: the document's context and the heading path tell whose and
        where a passage is ("3M COMPANY | 10-K annual report | 2018", "Install > From source"), while readers
        are shown `text` alone. Quoted questions are left out."""
        parts = [self.context, self.heading, without_quoted_questions(self.text)]
        return "\n".join(part for part in parts if part)


@dataclass(frozen=True)
class Document:
    source: str
    sha256: str
    pages: int | None
    chunks: int
    size: int
    ingested_at: str
    kind: str | None = None  # pdf, docx, html, markdown, csv, text
    ingested_by: str | None = None  # the admin who uploaded it (None from the command line)
    title: str | None = None  # the fields below are read from the document (ingest.describe)
    organisation: str | None = None
    doc_type: str | None = None
    period: str | None = None
    collection: str = DEFAULT_COLLECTION  # who may read it depends on this (accounts/collections.py)

    @property
    def about(self) -> str:
        """What the document was read to be: "3M COMPANY (MMM) · 10-K annual report · 2022" ("" if unknown)."""
        return " \u00b7 ".join(field for field in (self.organisation, self.doc_type, self.period) if field)


def file_sha256(path: Path) -> str:
    """The content hash that names a document version."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # cosine similarity of question and chunk, -1..1, whatever retrieved it
    id: str = ""  # the chunk's record id in the store


@dataclass(frozen=True)
class Source:
    """One context passage given to the model; the fields of the `sources` contract in DESIGN.md."""

    source: str
    page: int | None
    score: float
    text: str

    @classmethod
    def from_hit(cls, hit: Hit) -> "Source":
        return cls(hit.chunk.source, hit.chunk.page, round(hit.score, 4), hit.chunk.text)


@dataclass(frozen=True)
class Turn:
    """One finished exchange of a conversation."""

    question: str
    query: str  # the standalone query it was retrieved with
    answer: str = ""


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer and whether the passages back it (rag.grounding)."""

    text: str
    supported: bool
    reason: str  # why not, or "supported"
    passage: int | None = None  # the index of the passage that backs it best, when supported


@dataclass(frozen=True)
class Citation:
    """One sentence of an answer and the numbers (1-based) of the sources that back it (rag.cite)."""

    sentence: str  # as in the answer, its markers removed
    sources: list[int]


Grounding = tuple[float | None, list[Claim]]  # (share of supported sentences, the sentences); (None, []) for none
Grounder = Callable[[str, list[str]], Grounding]
Finisher = Callable[["Answer"], None]  # runs once the answer is complete (e.g. keep it or quote instead)
OutputFilter = Callable[[Iterable[str]], Iterable[str]]  # what the reader is streamed (e.g. personal data redacted)


class Answer:
    """An answer being streamed. Iterate `stream()` once (or call `result()`), then read `text` and `grounding`."""

    def __init__(
        self,
        question: str,
        sources: list[Source],
        pieces: Iterable[str],
        abstained: bool,
        started: float,
        query: str | None = None,
        grounder: Grounder | None = None,
        p_unanswerable: float | None = None,
        mode: str = "generated",
        finisher: Finisher | None = None,
        refused: bool = False,
        output: OutputFilter | None = None,
    ) -> None:
        self.question = question
        self.query = query or question  # what was searched for: the standalone form of a follow-up question
        self.sources = sources
        self.abstained = abstained
        self.p_unanswerable = p_unanswerable  # the answerability head's verdict, when one read the prompt
        self.mode = mode  # "generated" (the model wrote it) or "quoted" (sentences of the passages)
        self.refused = refused  # a guardrail refused the question: the text is RAG_REFUSAL_TEXT
        self.guard: list[str] = []  # what the guardrails did, once complete ("pii_redacted:email", ...)
        self.generated_text: str | None = None  # the model's answer, when quoted evidence replaced it
        self.scope: list[str] = []  # what the search was limited to (organisations, years), [] for everything
        self.text = ""
        self.first_token_s: float | None = None  # seconds from the question to the first streamed piece
        self.request_id = current_request_id() or new_request_id()  # in its log lines; ratings name it
        self._pieces = pieces
        self._started = started  # time.perf_counter() when the question arrived
        self._grounder = grounder
        self._grounding: Grounding | None = None
        self._finisher = finisher
        self._output = output
        self._streamed = False

    def stream(self) -> Iterator[str]:
        if self._streamed:  # once: `result()` after streaming must not read (or finish) the pieces again
            return
        self._streamed = True
        for piece in self._output(self._pieces) if self._output else self._pieces:
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - self._started
            self.text += piece
            yield piece
        self.text = self.text.strip()
        if self.text.startswith(ABSTAIN_ANSWER.rstrip(".")):  # the model abstained on its own
            self.abstained = True
            self.text = ABSTAIN_ANSWER  # the contract's exact text, whatever the model added after it
        if self._finisher is not None:
            self._finisher(self)

    def elapsed_s(self) -> float:
        """Seconds since the question arrived."""
        return time.perf_counter() - self._started

    def replace_with_quotes(self, text: str) -> None:
        """Quoted evidence instead of the model's answer (kept in `generated_text`)."""
        self.generated_text, self.text, self.mode = self.text, text, "quoted"
        self._grounding = None

    @property
    def new_tokens(self) -> int:
        """Tokens the model generated so far (0 when it was not called)."""
        return int(getattr(self._pieces, "new_tokens", 0))

    @property
    def grounding(self) -> Grounding:
        """The grounding check of the finished answer against its sources, computed once on first use."""
        if self._grounding is None:
            no_check = self.abstained or self._grounder is None
            passages = [source.text for source in self.sources]
            self._grounding = (None, []) if no_check else self._grounder(self.text, passages)  # type: ignore[misc]
        return self._grounding

    @property
    def citations(self) -> list["Citation"]:
        """Which sources back each sentence of the finished answer (rag/cite.py); [] when it abstained."""
        from rag.cite import cite

        if self.abstained or self.refused:
            return []
        _, claims = self.grounding
        return cite(self.text, claims, len(self.sources))

    def result(self) -> dict[str, Any]:
        """The JSON object of `python -m rag ask --json` (contract in DESIGN.md)."""
        for _ in self.stream():
            pass
        sources = [asdict(s) for s in self.sources]
        citations = [asdict(c) for c in self.citations]
        return {"id": self.request_id, "answer": self.text, "abstained": self.abstained, "refused": self.refused,
                "sources": sources, "mode": self.mode, "guard": self.guard, "citations": citations}  # fmt: skip

    def turn(self) -> Turn:
        """This exchange, for the history of the next question."""
        return Turn(self.question, self.query, self.text)
