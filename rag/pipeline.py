"""Question -> retrieve -> abstain or pack a grounded prompt -> streamed answer with its sources."""

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rag.condense import Turn, standalone_query
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.generator import Generator, TransformersGenerator
from rag.prompt import pack_context
from rag.rerank import CrossEncoderReranker, Reranker
from rag.retrieve import Retriever, relevant_passages
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import Hit, Store


class QuestionError(ValueError):
    """A question that cannot be answered as asked (empty, too long for the settings); the message says what
    to do. Meant to be shown to the person who asked."""


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


class Answer:
    """An answer being streamed. Iterate `stream()` once (or call `result()`), then read `text`."""

    def __init__(
        self,
        question: str,
        sources: list[Source],
        pieces: Iterable[str],
        abstained: bool,
        started: float,
        query: str | None = None,
    ) -> None:
        self.question = question
        self.query = query or question  # what was searched for: the standalone form of a follow-up question
        self.sources = sources
        self.abstained = abstained
        self.text = ""
        self.first_token_s: float | None = None  # seconds from the question to the first streamed piece
        self._pieces = pieces
        self._started = started  # time.perf_counter() when the question arrived

    def stream(self) -> Iterator[str]:
        for piece in self._pieces:
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - self._started
            self.text += piece
            yield piece
        self.text = self.text.strip()
        if self.text.startswith(ABSTAIN_ANSWER.rstrip(".")):  # the model abstained on its own
            self.abstained = True
            self.text = ABSTAIN_ANSWER  # the contract's exact text, whatever the model added after it

    @property
    def new_tokens(self) -> int:
        """Tokens the model generated so far (0 when it was not called)."""
        return int(getattr(self._pieces, "new_tokens", 0))

    def result(self) -> dict[str, Any]:
        """The JSON object of `python -m rag ask --json` (contract in DESIGN.md)."""
        for _ in self.stream():
            pass
        return {"answer": self.text, "abstained": self.abstained, "sources": [asdict(s) for s in self.sources]}

    def turn(self) -> Turn:
        """This exchange, for the history of the next question."""
        return Turn(self.question, self.query, self.text)


class RagPipeline:
    """Ties retriever, prompt packing and generator together. Holds loaded models; build it once."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        generator: Generator,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.generator = generator
        self.reranker = reranker
        self.retriever = Retriever.from_settings(settings, store, embedder, reranker)

    def refresh_store(self) -> None:
        """Reopen the store when another process (e.g. `python -m ingest`) changed it, so answers see the
        new documents: an embedded Chroma instance does not pick up another process's vector index writes."""
        if self.store.changed_elsewhere():
            self.store = Store.open(self.settings, fresh=True)
            self.store.bind(self.embedder.name, self.embedder.dimension)
            self.retriever = Retriever.from_settings(
                self.settings, self.store, self.embedder, self.reranker, self.retriever.keywords
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> "RagPipeline":
        embedder = SentenceTransformerEmbedder.from_settings(settings)
        store = Store.open(settings)
        store.bind(embedder.name, embedder.dimension)
        generator = TransformersGenerator.from_settings(settings)
        return cls(settings, store, embedder, generator, CrossEncoderReranker.from_settings(settings))

    def prompt_budget(self, max_new_tokens: int) -> int:
        window = min(self.settings.context_tokens, self.generator.context_window)
        return window - max_new_tokens

    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        top_k: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_new_tokens: int | None = None,
    ) -> Answer:
        """Retrieve and start answering; `history` holds the earlier turns of a chat (for follow-up questions);
        arguments left out come from the settings."""
        started = time.perf_counter()
        s = self.settings
        question = question.strip()
        if not question:
            raise QuestionError("The question is empty: type a question about your documents.")
        if len(question) > s.max_question_chars:
            raise QuestionError(
                f"The question is {len(question):,} characters long; the limit is {s.max_question_chars:,} "
                "(RAG_MAX_QUESTION_CHARS). Shorten it to the question itself."
            )
        self.refresh_store()
        max_new_tokens = max_new_tokens or s.max_new_tokens
        query = standalone_query(s.followup, self.generator, history, question)
        hits = self.retriever.retrieve(query, top_k or s.top_k)
        relevant = relevant_passages(hits, s.relevance_threshold, s.relevance_margin)
        if not relevant:  # nothing relevant: abstain without calling the model
            return Answer(question, [], [ABSTAIN_ANSWER], abstained=True, started=started, query=query)
        count = self.generator.count_tokens
        try:
            messages, used = pack_context(query, relevant, count, self.prompt_budget(max_new_tokens))
        except ValueError as err:  # not even one passage fits beside the question
            raise QuestionError(f"The question leaves no room for the documents in the prompt. {err}") from err
        stream = self.generator.stream(
            messages,
            max_new_tokens=max_new_tokens,
            temperature=s.temperature if temperature is None else temperature,
            top_p=top_p or s.top_p,
            grounded=True,
        )
        sources = [Source.from_hit(h) for h in used]
        return Answer(question, sources, stream, abstained=False, started=started, query=query)
