"""Training data for the answer model: seed instructions, and grounded QA rendered exactly as the app prompts.

An example is a chat prompt (system + user messages) and the assistant's completion; the trainer computes the
loss on the completion only. Grounded examples are built per question: the app's retriever finds passages in
the store, `pack_context` renders them with the app's system prompt, and the target is the reference answer
citing the passage that holds it, like "... [2]". For a share of questions the passages holding the answer are
replaced by the closest passages of other documents (of the same document only when the store has no other),
and the target is the abstention sentence: the model learns that near-miss context is not an answer.
Questions are split into train and held-out by document, so held-out examples come from documents the adapter
never saw.
"""

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eval.sets import EvalItem
from rag.components import Components
from rag.decide import Decider
from rag.jsonl import read_jsonl
from rag.prompt import Messages, pack_context, prompt_budget
from rag.retrieve import Retriever
from rag.settings import ABSTAIN_ANSWER, Settings
from rag.store import Store
from rag.types import Hit


@dataclass(frozen=True)
class Example:
    prompt: Messages  # system and user messages, as the app sends them
    completion: str  # the assistant's reply to learn
    meta: dict[str, Any] = field(default_factory=dict)  # kind, question, reference, source, made_by

    def to_record(self) -> dict[str, Any]:
        """The conversational prompt-completion format TRL trains on, plus `meta`."""
        return {
            "prompt": self.prompt,
            "completion": [{"role": "assistant", "content": self.completion}],
            "meta": self.meta,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Example":
        return cls(record["prompt"], record["completion"][0]["content"], record.get("meta", {}))


class DataError(ValueError):
    """A training file that cannot be used; the message names the line."""


def _seed_example(row: Any) -> Example:
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            raise ValueError("'messages' must be a list of at least a user and an assistant message")
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise ValueError("each message needs a role of system, user or assistant")
            if not isinstance(message.get("content"), str) or not message["content"].strip():
                raise ValueError("each message needs non-empty text 'content'")
        if messages[-1]["role"] != "assistant":
            raise ValueError("the last message must be the assistant's (the reply to learn)")
        prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
        return Example(prompt, messages[-1]["content"], {"kind": "seed", "made_by": row.get("made_by", "file")})
    for name in ("instruction", "output"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise ValueError(f"'{name}' must be a non-empty string (or give 'messages')")
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise ValueError("'input' must be a string")
    user = row["instruction"].strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
    meta = {"kind": "seed", "made_by": row.get("made_by", "file")}
    return Example([{"role": "user", "content": user}], row["output"].strip(), meta)


def load_seed(path: Path) -> list[Example]:
    """JSONL of {instruction, input?, output} or {messages: [...]} per line."""
    examples = read_jsonl(path, _seed_example, DataError)
    if not examples:
        raise DataError(f"{path} has no examples")
    return examples


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def holds_answer(hit: Hit, reference: str) -> bool:
    return squash(reference) in squash(hit.chunk.text)


def answer_chunks(store: Store, sources: Sequence[str], reference: str) -> list[Hit]:
    """Chunks of the reference documents whose text contains the reference answer."""
    wanted = squash(reference)
    return [Hit(chunk, 1.0, id_) for id_, chunk in store.committed_chunks(sources) if wanted in squash(chunk.text)]


def cited(answer: str, number: int) -> str:
    """The answer with its citation before any final full stop: "... [2]." """
    answer = answer.strip()
    return f"{answer[:-1]} [{number}]." if answer.endswith(".") else f"{answer} [{number}]"


class GroundedBuilder:
    """Renders one question into an answerable or unanswerable example, the way the app would prompt."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        retriever: Retriever,
        count_tokens: Callable[[Messages], int],
        context_window: int,
    ) -> None:
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.count_tokens = count_tokens
        self.budget = prompt_budget(settings.context_tokens, context_window, settings.max_new_tokens)  # the app's
        self.relevance = Decider(settings.relevance_threshold, settings.relevance_margin)

    @classmethod
    def from_components(cls, parts: Components) -> "GroundedBuilder":
        """With the app's retriever and its prompt rendering (tokenizer only: the model is not loaded)."""
        template = parts.template
        return cls(parts.settings, parts.store, parts.retriever, template.count_tokens, template.context_window)

    def passages(self, question: str, passages: int) -> list[Hit]:
        hits = self.retriever.retrieve(question, passages)
        return self.relevance.relevant(hits) or hits[:1]

    def answerable(self, item: EvalItem, passages: int, rng: random.Random) -> Example | None:
        assert item.reference is not None
        hits = self.passages(item.question, passages)
        if not any(holds_answer(h, item.reference) for h in hits):
            gold = answer_chunks(self.store, item.reference_sources, item.reference)
            if not gold:
                return None  # the answer is not in any chunk (e.g. cut across two): skip the question
            hits = hits[: passages - 1]
            hits.insert(rng.randrange(len(hits) + 1), gold[0])
        messages, used = pack_context(item.question, hits, self.count_tokens, self.budget)
        number = next((n for n, h in enumerate(used, start=1) if holds_answer(h, item.reference)), None)
        if number is None:
            return None
        return Example(messages, cited(item.reference, number), self._meta("answerable", item))

    def unanswerable(self, item: EvalItem, passages: int) -> Example | None:
        assert item.reference is not None
        found = self.retriever.retrieve(item.question, passages * 5)
        candidates = [h for h in found if not holds_answer(h, item.reference)]
        # The answer's own document often says it again in other words, which would teach abstaining on answerable
        # context: take passages from other documents when the store has any, searching past the retriever's
        # top results if they all come from the answer's own document.
        elsewhere = [h for h in candidates if h.chunk.source not in item.reference_sources]
        if len(elsewhere) < passages:
            query = self.retriever.embedder.embed_query(item.question)
            nearest = self.store.search(query, passages, exclude_sources=item.reference_sources)
            seen = {h.id for h in elsewhere}
            elsewhere += [h for h in nearest if h.id not in seen and not holds_answer(h, item.reference)]
        hits = elsewhere or candidates
        if not hits:
            return None
        messages, _ = pack_context(item.question, hits[:passages], self.count_tokens, self.budget)
        return Example(messages, ABSTAIN_ANSWER, self._meta("unanswerable", item))

    def _meta(self, kind: str, item: EvalItem) -> dict[str, Any]:
        return {
            "kind": kind,
            "question": item.question,
            "reference": item.reference if kind == "answerable" else ABSTAIN_ANSWER,
            "answer_in_documents": item.reference,
            "sources": item.reference_sources,
            "made_by": item.made_by,
        }


def split_by_source(items: Sequence[EvalItem], held_out_share: float, seed: int) -> tuple[list, list]:
    """Train and held-out items; all questions about one document land on the same side."""
    sources = sorted({item.reference_sources[0] if item.reference_sources else "" for item in items})
    random.Random(seed).shuffle(sources)
    held = set(sources[: round(len(sources) * held_out_share)])
    train = [i for i in items if (i.reference_sources[0] if i.reference_sources else "") not in held]
    return train, [i for i in items if (i.reference_sources[0] if i.reference_sources else "") in held]


def build_grounded(
    builder: GroundedBuilder,
    items: Sequence[EvalItem],
    unanswerable_share: float,
    passages: int,
    seed: int,
    on_progress: Callable[[int], None] | None = None,
    paired: bool = False,
) -> list[Example]:
    """One example per usable question: unanswerable for a seeded `unanswerable_share` of them.

    `paired` also keeps the answerable example of those questions, so the model sees the same question with
    both targets and can only tell them apart by reading the context.
    """
    rng = random.Random(seed)
    examples: list[Example] = []
    for done, item in enumerate(items, start=1):
        if item.reference:
            if rng.random() < unanswerable_share:
                built = [builder.unanswerable(item, passages)]
                if paired and (twin := builder.answerable(item, passages, rng)):
                    built.append(replace(twin, meta=twin.meta | {"paired": True}))
            else:
                built = [builder.answerable(item, passages, rng)]
            examples += [e for e in built if e is not None]
        if on_progress:
            on_progress(done)
    return examples


def write_examples(examples: Sequence[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e.to_record(), ensure_ascii=False) for e in examples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_examples(path: Path) -> list[Example]:
    return read_jsonl(path, Example.from_record, DataError, "not a training example: ")


def summary(examples: Sequence[Example]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    made_by: dict[str, int] = {}
    for example in examples:
        kinds[example.meta.get("kind", "?")] = kinds.get(example.meta.get("kind", "?"), 0) + 1
        origin = str(example.meta.get("made_by", "?")).split(":")[0]
        made_by[origin] = made_by.get(origin, 0) + 1
    return {"examples": len(examples), "kinds": kinds, "made_by": made_by}
