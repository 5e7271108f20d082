"""The decide stage: every way the product abstains, in one place.

1. Nothing relevant: even the most similar passage scores under RAG_RELEVANCE_THRESHOLD (the model is not
   called); passages more than RAG_RELEVANCE_MARGIN below the best are left out.
2. The adapter's answerability head (rag/answerability.py), when RAG_ADAPTER has one: it reads the packed
   prompt's hidden state and says unanswerable (no generation) or answerable (the reply continues from that same
   read of the prompt, and may not open with the abstention sentence).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.adapter import AdapterError, adapter_head
from rag.answerability import AnswerabilityHead
from rag.echo import until_markup
from rag.generator import Generator, Messages, PromptRead, TokenStream
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.types import Hit


def relevant_passages(hits: Sequence[Hit], threshold: float, margin: float) -> list[Hit]:
    """The hits worth giving to the model, in retrieval order; empty means abstain.

    Nothing is relevant when even the most similar hit scores under `threshold`. Otherwise hits scoring more
    than `margin` below it are dropped: they are mostly off-topic, and they confuse a small model.
    """
    best = max((hit.score for hit in hits), default=None)
    if best is None or best < threshold:
        return []
    return [hit for hit in hits if hit.score >= best - margin]


@dataclass(frozen=True)
class Verdict:
    abstain: bool
    p_unanswerable: float | None = None  # the head's probability, when it read the prompt
    resume: PromptRead | None = None  # the prompt as the head read it, for the reply to continue from


@dataclass(frozen=True)
class Reply:
    """The generate stage's output: text pieces (or the abstention sentence) and the verdict behind them."""

    pieces: Iterable[str]
    abstained: bool
    p_unanswerable: float | None


class Decider:
    def __init__(
        self, threshold: float, margin: float, head: AnswerabilityHead | None = None, generator: Generator | None = None
    ) -> None:
        if head is not None and generator is None:
            raise ValueError("an answerability head needs the generator whose hidden states it reads")
        self.threshold = threshold
        self.margin = margin
        self.head = head
        self.generator = generator

    @staticmethod
    def head_of(settings: Settings) -> AnswerabilityHead | None:
        """RAG_ADAPTER's answerability head, if it has one."""
        return adapter_head(settings.adapter) if settings.adapter is not None else None

    @classmethod
    def from_settings(cls, settings: Settings, generator: Generator | None = None) -> "Decider":
        """With RAG_ADAPTER's head when it has one (then `generator` is the adapted model it was fitted on)."""
        head = cls.head_of(settings)
        if head is not None and generator is not None:
            check_fits(head, generator, settings)
        return cls(settings.relevance_threshold, settings.relevance_margin, head, generator if head else None)

    def relevant(self, hits: Sequence[Hit]) -> list[Hit]:
        return relevant_passages(hits, self.threshold, self.margin)

    def answerable(self, messages: Messages) -> Verdict:
        """The head's verdict on a packed prompt; without a head, always answerable."""
        if self.head is None or self.generator is None:
            return Verdict(False)
        read = self.generator.read_prompt(messages, [self.head.layer])
        p_unanswerable = self.head.probability(read.hidden[self.head.layer])
        if p_unanswerable >= self.head.threshold:
            return Verdict(True, p_unanswerable)
        return Verdict(False, p_unanswerable, read)

    def reply(
        self, generator: Generator, messages: Messages, *, max_new_tokens: int, temperature: float, top_p: float
    ) -> Reply:
        """Decide on a packed prompt, then generate (or not): the same path for the app and `finetune evaluate`."""
        verdict = self.answerable(messages)
        if verdict.abstain:
            return Reply([ABSTAIN_ANSWER], True, verdict.p_unanswerable)
        avoid = ABSTAIN_ANSWER if verdict.resume is not None else None  # the head said answerable: answer
        pieces = generator.stream(
            messages,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            resume=verdict.resume,
            avoid_opening=avoid,
        )
        cut = TokenStream(until_markup(pieces), lambda: getattr(pieces, "new_tokens", 0))  # ends at prompt markup
        return Reply(cut, False, verdict.p_unanswerable)


def check_fits(head: AnswerabilityHead, generator: Generator, settings: Settings) -> None:
    depth, size = getattr(generator, "depth", None), getattr(generator, "hidden_size", None)
    if depth is None or size is None:
        return  # a generator that does not say its shape: read_prompt fails clearly if it does not fit
    if head.layer > depth or len(head.coef) != size:
        raise AdapterError(
            f"The answerability head in {settings.adapter} reads layer {head.layer} of size {len(head.coef)}; the "
            f"model has {depth} layers of size {size}. Refit it with `finetune head`."
        )
