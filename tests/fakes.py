"""Tiny stand-ins for the two models, for the fast unit tests (`make test-fast`): they load nothing, answer in
microseconds and are deterministic. Everything else in those tests is real (Chroma, bm25s, SQLite, the prompt).
The tests marked slow exercise the same code with the real models."""

import hashlib
import json
import re
import threading
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from rag.generator import Messages, PromptRead, TokenStream
from rag.settings import Settings

_WORDS = re.compile(r"\w+")


def word_tokenizer() -> Tokenizer:
    """A tokenizer that splits on words and punctuation (every token is [UNK]: only the count matters)."""
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


class FakeEmbedder:
    """Bag of words hashed into 64 dimensions, unit length: texts sharing words are close."""

    name = "fake-embedder"
    dimension = 64
    max_tokens = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORDS.findall(text.lower()):
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def tokenizer(self) -> Tokenizer:
        return word_tokenizer()


class FakeGenerator:
    """Replies with a fixed text, a word per piece; counts tokens as words; records what it was asked."""

    name = "fake-generator"
    context_window = 2048
    depth = 4
    hidden_size = 3

    def __init__(self, reply: str = "It costs 40 euros [1].", hidden: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        self.reply = reply
        self.hidden = torch.tensor(list(hidden))
        self.streamed: list[dict[str, object]] = []
        self.read: list[Messages] = []

    def count_tokens(self, messages: Messages) -> int:
        return sum(len(_WORDS.findall(m["content"])) + 4 for m in messages)

    def stream(
        self,
        messages: Messages,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        resume: PromptRead | None = None,
        avoid_opening: str | None = None,
        stop: threading.Event | None = None,
    ) -> TokenStream:
        self.streamed.append({"messages": messages, "resume": resume, "avoid_opening": avoid_opening})
        words = self.reply.split(" ")[:max_new_tokens]
        pieces = [word if i == 0 else f" {word}" for i, word in enumerate(words)]
        return TokenStream(iter(pieces), lambda: len(pieces))

    def count_text_tokens(self, text: str) -> int:
        return len(_WORDS.findall(text))

    def complete_json(
        self, messages: Messages, schema: dict[str, object], *, max_new_tokens: int, stop: threading.Event | None = None
    ) -> str:
        """An object with every required property set to "x" (what a schema-constrained model would shape)."""
        self.streamed.append({"messages": messages, "schema": schema})
        return json.dumps({name: "x" for name in schema.get("required", [])})  # type: ignore[union-attr]

    def read_prompt(self, messages: Messages, layers: Sequence[int]) -> PromptRead:
        self.read.append(messages)
        return PromptRead({layer: self.hidden for layer in layers}, resume=("read", len(self.read)))


# Fixtures for test modules where the models are incidental: `from tests.fakes import embedder, settings` there
# replaces conftest's real embedder and model-backed settings with the fake and a bare data folder.


@pytest.fixture
def settings(data_settings: Settings) -> Settings:
    return data_settings


@pytest.fixture
def embedder(fake_embedder: FakeEmbedder) -> FakeEmbedder:
    return fake_embedder
