"""The answer path, in named stages: condense -> retrieve -> decide (relevance) -> pack -> decide (head) and
generate -> check grounding. Each stage is a part built by `Components`; this module only runs them in order.

    condense  a follow-up question becomes a standalone query (rag/condense.py, RAG_FOLLOWUP)
    retrieve  dense, BM25, fused, reranked, MMR (rag/retrieve.py, RAG_RETRIEVAL_MODE, RAG_RERANKER_MODEL ...)
    decide    no relevant passage -> abstain without the model (rag/decide.py, RAG_RELEVANCE_*)
    pack      the passages that fit, in delimited blocks, into the chat prompt (rag/prompt.py)
    decide    the adapter's answerability head, when it has one: abstain, or answer from the same prompt read
    generate  the reply, streamed (rag/generator.py)
    ground    each sentence of the finished answer checked against the passages (rag/grounding.py), on demand
"""

import time
from collections.abc import Sequence

from rag.components import Components
from rag.condense import standalone_query
from rag.embedder import Embedder
from rag.generator import Generator
from rag.prompt import pack_context, prompt_budget
from rag.retrieve import Retriever
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import Store
from rag.types import Answer, Source, Turn


class QuestionError(ValueError):
    """A question that cannot be answered as asked (empty, too long for the settings); the message says what
    to do. Meant to be shown to the person who asked."""


class RagPipeline:
    """Runs the stages for one question. Holds loaded models: build it once (`from_settings`)."""

    def __init__(self, parts: Components) -> None:
        self.parts = parts
        self.settings = parts.settings

    @classmethod
    def from_settings(cls, settings: Settings) -> "RagPipeline":
        parts = Components(settings)
        _ = parts.retriever, parts.generator, parts.decider  # load the models now, not at the first question
        return cls(parts)

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def embedder(self) -> Embedder:
        return self.parts.embedder

    @property
    def generator(self) -> Generator:
        return self.parts.generator

    @property
    def retriever(self) -> Retriever:
        return self.parts.retriever

    def refresh_store(self) -> None:
        """Reopen the store when another process (e.g. `python -m ingest`) changed it, so answers see the
        new documents: an embedded Chroma instance does not pick up another process's vector index writes."""
        if self.store.changed_elsewhere():
            self.parts.reopen_store()

    def prompt_budget(self, max_new_tokens: int) -> int:
        return prompt_budget(self.settings.context_tokens, self.generator.context_window, max_new_tokens)

    def check(self, question: str) -> str:
        """The question as it will be asked; QuestionError when it cannot be."""
        question = question.strip()
        limit = self.settings.max_question_chars
        if not question:
            raise QuestionError("The question is empty: type a question about your documents.")
        if len(question) > limit:
            raise QuestionError(
                f"The question is {len(question):,} characters long; the limit is {limit:,} "
                "(RAG_MAX_QUESTION_CHARS). Shorten it to the question itself."
            )
        return question

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
        """Run the stages up to the start of generation; `history` holds the earlier turns of a chat (for
        follow-up questions); arguments left out come from the settings."""
        started = time.perf_counter()
        s, parts = self.settings, self.parts
        question = self.check(question)
        self.refresh_store()
        max_new_tokens = max_new_tokens or s.max_new_tokens
        query = standalone_query(s.followup, self.generator, history, question)
        hits = self.retriever.retrieve(query, top_k or s.top_k)
        relevant = parts.decider.relevant(hits)
        if not relevant:  # nothing relevant: abstain without calling the model
            return Answer(question, [], [ABSTAIN_ANSWER], abstained=True, started=started, query=query)
        try:
            messages, used = pack_context(
                query, relevant, self.generator.count_tokens, self.prompt_budget(max_new_tokens)
            )
        except ValueError as err:  # not even one passage fits beside the question
            raise QuestionError(f"The question leaves no room for the documents in the prompt. {err}") from err
        reply = parts.decider.reply(
            self.generator,
            messages,
            max_new_tokens=max_new_tokens,
            temperature=s.temperature if temperature is None else temperature,
            top_p=top_p or s.top_p,
        )
        sources = [Source.from_hit(h) for h in used]
        return Answer(
            question, sources, reply.pieces, reply.abstained, started, query, parts.grounder, reply.p_unanswerable
        )
