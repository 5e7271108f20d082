"""The answer path, in named stages: condense -> retrieve -> decide (relevance) -> pack -> decide (head) and
generate -> check grounding, with guardrails around them (rag/safety). Each stage is a part built by
`Components`; this module only runs them in order.

    guard     a question in a disallowed category (or, with RAG_INJECTION=drop, one that instructs the model) is
              refused with RAG_REFUSAL_TEXT (rag/safety/policy.py, injection.py)
    condense  a follow-up question becomes a standalone query (rag/condense.py, RAG_FOLLOWUP)
    retrieve  dense, BM25, fused, reranked, MMR (rag/retrieve.py, RAG_RETRIEVAL_MODE, RAG_RERANKER_MODEL ...)
    guard     passages flagged as prompt injections dropped (RAG_INJECTION), personal data redacted (RAG_PII)
    decide    no relevant passage -> abstain without the model (rag/decide.py, RAG_RELEVANCE_*)
    pack      the passages that fit, in delimited blocks, into the chat prompt (rag/prompt.py)
    decide    the adapter's answerability head, when it has one: abstain, or answer from the same prompt read
    generate  the reply, streamed (rag/generator.py); or, with RAG_ANSWER_MODE=quote, the passages' best
              sentences (rag/quote.py)
    ground    each sentence of the finished answer checked against the passages (rag/grounding.py); with
              RAG_ANSWER_MODE=auto an answer it does not back, or one that echoes the passages, is replaced
              by quoted evidence
    guard     personal data redacted in the stream; an answer carrying an injected instruction's marker is
              stopped and becomes the abstention (rag/safety/guard.py); the outcome counted, the exchange
              logged only as RAG_LOG_INTERACTIONS allows
"""

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rag.components import Components
from rag.condense import standalone_query
from rag.echo import echoes
from rag.embedder import Embedder
from rag.generator import Generator
from rag.observe import metrics
from rag.observe.logs import text_fields
from rag.prompt import pack_context, prompt_budget
from rag.quote import pick_quotes, quoted_answer
from rag.retrieve import Retriever
from rag.safety.guard import Outcome, Refusal
from rag.scope import Scope
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import Store
from rag.types import Answer, Finisher, Source, Turn

log = logging.getLogger(__name__)


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
        if settings.question_policy:
            _ = parts.guard.policy  # embeds the exemplars
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
        sources: Sequence[str] | None = None,
        collections: Sequence[str] | None = None,
    ) -> Answer:
        """Run the stages up to the start of generation; `history` holds the earlier turns of a chat (for
        follow-up questions); `sources` limits the search to those documents (default: the documents the
        question names, see rag/scope.py, or all); `collections` to the documents of those collections (what
        the asker may read: nothing else is searched, named or shown); arguments left out come from the
        settings."""
        started = time.perf_counter()
        s, parts = self.settings, self.parts
        question = self.check(question)
        outcome = Outcome()
        if refusal := parts.guard.check_question(question):
            return self.refuse(question, started, refusal, outcome)
        self.refresh_store()
        max_new_tokens = max_new_tokens or s.max_new_tokens
        query = standalone_query(s.followup, self.generator, history, question)
        if query != question and (refusal := parts.guard.check_question(query)):
            return self.refuse(question, started, refusal, outcome)
        readable = None if collections is None else self.store.documents_in(collections)
        if readable is not None and sources is not None:
            allowed = {document.source for document in readable}
            sources = [source for source in sources if source in allowed]
        if sources is not None:
            scope = Scope(list(sources), ["the documents chosen"])
        else:
            scope = self.retriever.scope(query, readable)
        searched = scope.sources if scope.sources is not None or readable is None else [d.source for d in readable]
        retrieving = time.perf_counter()
        hits, dropped = parts.guard.screen(self.retriever.retrieve(query, top_k or s.top_k, searched), outcome)
        metrics.RETRIEVAL_SECONDS.observe(retrieval_s := time.perf_counter() - retrieving)
        log.debug("retrieved", extra={"hits": len(hits), "dropped": len(dropped), "retrieval_s": round(retrieval_s, 4)})
        relevant = parts.decider.relevant(hits)
        if not relevant:  # nothing relevant: abstain without calling the model
            answer = Answer(question, [], [ABSTAIN_ANSWER], abstained=True, started=started, query=query,
                            finisher=self.guarded(outcome, set()))  # fmt: skip
            answer.scope = scope.names
            return answer
        try:
            messages, used = pack_context(
                query, relevant, self.generator.count_tokens, self.prompt_budget(max_new_tokens)
            )
        except ValueError as err:  # not even one passage fits beside the question
            raise QuestionError(f"The question leaves no room for the documents in the prompt. {err}") from err
        used_sources = [parts.guard.shown(Source.from_hit(h)) for h in used]
        watch = parts.guard.watch(question, [h.chunk.text for h in [*used, *dropped]])

        def made(pieces: Iterable[str], abstained: bool, finisher: Finisher | None = None, **how: Any) -> Answer:
            answer = Answer(question, used_sources, pieces, abstained, started, query, parts.grounder,
                            finisher=self.guarded(outcome, watch, finisher),
                            output=lambda p: parts.guard.output(p, outcome, watch), **how)  # fmt: skip
            answer.scope = scope.names
            return answer

        if s.answer_mode == "quote":  # no generation: the passages' own sentences (the head may still abstain)
            verdict = parts.decider.answerable(messages)
            return made([ABSTAIN_ANSWER] if verdict.abstain else [self.quote(query, used_sources)], verdict.abstain,
                        mode="quoted")  # fmt: skip
        reply = parts.decider.reply(
            self.generator,
            messages,
            max_new_tokens=max_new_tokens,
            temperature=s.temperature if temperature is None else temperature,
            top_p=top_p or s.top_p,
        )
        finisher = self.keep_or_quote(query) if s.answer_mode == "auto" else None
        return made(reply.pieces, reply.abstained, p_unanswerable=reply.p_unanswerable, finisher=finisher)

    def refuse(self, question: str, started: float, refusal: Refusal, outcome: Outcome) -> Answer:
        outcome.add(f"refused:{refusal.category}")
        return Answer(question, [], [self.settings.refusal_text], False, started, refused=True,
                      finisher=self.guarded(outcome, set()))  # fmt: skip

    def guarded(self, outcome: Outcome, watch: set[str], finisher: Finisher | None = None) -> Finisher:
        """Runs `finisher` (keep or quote), then the output checks; counts what the guardrails did and logs the
        exchange as RAG_LOG_INTERACTIONS allows."""
        guard = self.parts.guard

        def finish(answer: Answer) -> None:
            if finisher is not None:
                finisher(answer)
            if not answer.refused:
                text, abstained = guard.final_text(answer.text, outcome, watch)
                if text != answer.text:
                    answer.text, answer.abstained = text, answer.abstained or abstained
            answer.guard = outcome.kinds
            guard.record(outcome)
            sources = [source.source for source in answer.sources]
            self.parts.interactions.record(
                answer.question, answer.text, sources, answer.abstained, answer.refused, answer.guard
            )
            self.observe(answer)

        return finish

    def observe(self, answer: Answer) -> None:
        """The finished answer's metrics and log line (no text unless RAG_LOG_INTERACTIONS allows it)."""
        seconds = answer.elapsed_s()
        metrics.QUESTIONS.labels(metrics.outcome(answer.abstained, answer.refused)).inc()
        metrics.ANSWER_SECONDS.observe(seconds)
        if answer.first_token_s is not None:
            metrics.FIRST_TOKEN_SECONDS.observe(answer.first_token_s)
        if answer.new_tokens:
            metrics.GENERATED_TOKENS.observe(answer.new_tokens)
        first = None if answer.first_token_s is None else round(answer.first_token_s, 3)
        details = {"request_id": answer.request_id, "outcome": metrics.outcome(answer.abstained, answer.refused),
                   "mode": answer.mode, "seconds": round(seconds, 3), "first_token_s": first,
                   "generated_tokens": answer.new_tokens, "sources": len(answer.sources),
                   "guard": answer.guard}  # fmt: skip
        log.info("answered", extra=details | text_fields(self.settings, question=answer.question, answer=answer.text))

    def quote(self, query: str, sources: list[Source]) -> str:
        return quoted_answer(pick_quotes(query, [source.text for source in sources], self.embedder))

    def keep_or_quote(self, query: str) -> Finisher:
        """auto mode: keep the model's answer when it does not echo the passages and the grounding check backs
        every sentence of it by the quoted evidence itself (the passages' sentences that best answer the
        question); otherwise answer with that evidence. Checked against all passages, a small model's answer
        passes too easily: a number or a word of it usually occurs somewhere in five passages."""

        def finish(answer: Answer) -> None:
            if answer.abstained:
                return
            passages = [source.text for source in answer.sources]
            quotes = pick_quotes(query, passages, self.embedder)
            if not quotes:
                return
            backed, _ = self.parts.grounder(answer.text, [q.text for q in quotes])
            if backed != 1.0 or echoes(answer.text, passages):
                answer.replace_with_quotes(quoted_answer(quotes))

        return finish
