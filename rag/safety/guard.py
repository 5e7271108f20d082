"""The guardrails of the answer path, configured by the settings and used by the app, the CLI and the API alike
(they all answer through rag.pipeline):

    question  refused when the policy says so (policy.py) or, with RAG_INJECTION=drop, when it tries to
              instruct the model (injection.py): the answer is then exactly RAG_REFUSAL_TEXT
    passages  flagged at ingestion or here (injection.py): dropped before the prompt (drop), or kept (flag);
              personal data in them redacted before the model reads them (RAG_PII=redact) and in the sources
              shown to readers (redact and block)
    answer    streamed through the redactor (pii.py); stopped before a marker of an injected instruction (the
              answer becomes the abstention) and, with RAG_PII=block, before the first piece of personal data
              (the answer becomes PII_BLOCKED)
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from rag.embedder import Embedder
from rag.safety import injection, pii
from rag.safety.events import GuardEvents
from rag.safety.policy import QuestionPolicy
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Hit, Source

PII_BLOCKED = "I can't share that: the answer would contain personal data."


@dataclass
class Outcome:
    """What the guardrails did for one question: (kind, document) pairs, recorded in GuardEvents."""

    events: list[tuple[str, str]] = field(default_factory=list)
    pii_kinds: list[str] = field(default_factory=list)  # filled while the answer streams

    def add(self, kind: str, source: str = "") -> None:
        self.events.append((kind, source))

    @property
    def followed(self) -> bool:
        """The answer carried a marker of an injected instruction."""
        return ("injection_followed", "") in self.events

    @property
    def kinds(self) -> list[str]:
        return sorted({kind for kind, _ in self.events})


@dataclass(frozen=True)
class Refusal:
    category: str
    how: str


class Guard:
    def __init__(self, settings: Settings, embedder: Embedder, events: GuardEvents | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.events = events

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder) -> "Guard":
        return cls(settings, embedder, GuardEvents(settings.database))

    @cached_property
    def policy(self) -> QuestionPolicy:
        s = self.settings
        return QuestionPolicy(self.embedder, s.policy_threshold, s.policy_margin)

    def check_question(self, question: str) -> Refusal | None:
        if self.settings.question_policy:
            verdict = self.policy.check(question)
            if verdict.refused:
                return Refusal(verdict.category or "policy", verdict.how)
        if self.settings.injection == "drop":
            found = injection.detect(question, strong_only=True)
            if found.injection:
                return Refusal("injection", found.reason)
        return None

    def screen(self, hits: Sequence[Hit], outcome: Outcome) -> tuple[list[Hit], list[Hit]]:
        """(passages for the model, passages dropped as injections); with RAG_PII=redact, personal data is
        redacted in the former (with block the model reads it, and an answer that repeats it is withheld)."""
        mode = self.settings.injection
        kept: list[Hit] = []
        dropped: list[Hit] = []
        for hit in hits:
            flagged = mode != "off" and (hit.chunk.injection is not None or injection.detect(hit.chunk.text).injection)
            if flagged and mode == "drop":
                dropped.append(hit)
                outcome.add("injection_dropped", hit.chunk.source)
                continue
            if flagged:
                outcome.add("injection_flagged", hit.chunk.source)
            kept.append(self.redacted(hit, outcome))
        return kept, dropped

    def redacted(self, hit: Hit, outcome: Outcome) -> Hit:
        if self.settings.pii != "redact":
            return hit
        text, kinds = pii.redact(hit.chunk.text, self.settings.pii_region)
        if not kinds:
            return hit
        outcome.events.extend((f"pii_in_passage:{kind}", hit.chunk.source) for kind in kinds)
        return replace(hit, chunk=replace(hit.chunk, text=text))

    def shown(self, source: Source) -> Source:
        """A source as readers see it: personal data redacted unless RAG_PII=off."""
        if self.settings.pii == "off":
            return source
        return replace(source, text=pii.redact(source.text, self.settings.pii_region)[0])

    def watch(self, question: str, passages: list[str]) -> set[str]:
        """The markers an answer must not carry (see injection.suspicious_markers); none when RAG_INJECTION=off."""
        return set() if self.settings.injection == "off" else injection.suspicious_markers(question, passages)

    def output(self, pieces: Iterable[str], outcome: Outcome, watch: set[str]) -> Iterator[str]:
        """The answer as streamed to the reader: personal data redacted on the way (also in block mode, where
        the finished answer is then withheld); the stream stops before a marker of an injected instruction."""
        s = self.settings
        if s.pii == "off" and not watch:
            yield from pieces
            return
        for text in pii.redact_stream(pieces, s.pii_region, outcome.pii_kinds, enabled=s.pii != "off"):
            if not outcome.followed and injection.followed(text, watch):
                outcome.add("injection_followed")
            if outcome.followed or (s.pii == "block" and outcome.pii_kinds):
                getattr(pieces, "close", lambda: None)()  # stop generating: the answer will be withheld
                return
            yield text

    def final_text(self, text: str, outcome: Outcome, watch: set[str]) -> tuple[str, bool]:
        """The finished answer after the output checks, and whether it became the abstention."""
        if not outcome.followed and injection.followed(text, watch):
            outcome.add("injection_followed")
        if outcome.followed:
            return ABSTAIN_ANSWER, True
        if self.settings.pii != "off":
            text, kinds = pii.redact(text, self.settings.pii_region)
            outcome.pii_kinds.extend(kinds)
            if outcome.pii_kinds and self.settings.pii == "block":
                outcome.add("pii_blocked")
                return PII_BLOCKED, False
        outcome.events.extend((f"pii_redacted:{kind}", "") for kind in outcome.pii_kinds)
        return text, False

    def record(self, outcome: Outcome) -> None:
        if self.events is not None:
            self.events.record(outcome.events)
