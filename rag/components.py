"""One factory for the parts of the answer path, from one Settings.

Everything that retrieves or answers (the app, `rag ask`, `eval run`, `eval questions`, `finetune data`, the
scale and BEIR benchmarks) takes its parts from here, so a setting such as RAG_RERANKER_MODEL reaches all of
them. Each part is built the first time it is asked for (a retrieval check never loads the generator); any part
can be handed in instead (a test's, or a benchmark's own store).
"""

from functools import cached_property
from typing import TYPE_CHECKING

from rag.backends import shared_engine
from rag.decide import Decider
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.generator import ChatTemplate, Generator
from rag.grounding import grounding_check
from rag.keyword import KeywordIndex
from rag.rerank import CrossEncoderReranker, Reranker
from rag.retrieve import Retriever
from rag.safety.guard import Guard
from rag.safety.interactions import InteractionLog
from rag.settings import Settings
from rag.store import Store, open_store
from rag.types import Grounder, Grounding

if TYPE_CHECKING:
    from rag.pipeline import RagPipeline


class Components:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: Store | None = None,
        keywords: KeywordIndex | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        given = {"embedder": embedder, "store": store, "keywords": keywords, "generator": generator}
        for name, part in given.items():
            if part is not None:
                self.__dict__[name] = part  # what cached_property would have built

    @cached_property
    def embedder(self) -> Embedder:
        return SentenceTransformerEmbedder.from_settings(self.settings)

    @cached_property
    def store(self) -> Store:
        """The settings' store, bound to the embedder (a store built by another embedder is refused)."""
        store = open_store(self.settings)
        store.bind(self.embedder.name, self.embedder.dimension)
        return store

    @cached_property
    def keywords(self) -> KeywordIndex:
        return KeywordIndex(self.settings.keyword_dir, self.settings.bm25_k1, self.settings.bm25_b)

    @cached_property
    def reranker(self) -> Reranker | None:
        return CrossEncoderReranker.from_settings(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever.from_settings(self.settings, self.store, self.embedder, self.reranker, self.keywords)

    @cached_property
    def generator(self) -> Generator:
        """The process's generation engine for these settings (rag/engine.py), shared with every other caller."""
        return shared_engine(self.settings)

    @cached_property
    def template(self) -> ChatTemplate:
        """The generator's tokenizer and chat template alone: counts prompt tokens without loading the model."""
        return ChatTemplate.from_settings(self.settings)

    @cached_property
    def decider(self) -> Decider:
        """Score threshold and margin; with RAG_ADAPTER's answerability head too (which needs the generator)."""
        needs_generator = Decider.head_of(self.settings) is not None
        return Decider.from_settings(self.settings, self.generator if needs_generator else None)

    @cached_property
    def grounder(self) -> Grounder:
        embedder = self.embedder

        def check(answer: str, passages: list[str]) -> Grounding:
            return grounding_check(answer, passages, embedder)

        return check

    @cached_property
    def guard(self) -> Guard:
        """The guardrails (RAG_QUESTION_POLICY, RAG_INJECTION, RAG_PII); its exemplars embed on first use."""
        return Guard.from_settings(self.settings, self.embedder)

    @cached_property
    def interactions(self) -> InteractionLog:
        s = self.settings
        return InteractionLog(s.database, s.log_interactions, s.interaction_days, s.pii_region)

    def reopen_store(self) -> None:
        """A fresh view of the store (another process wrote to it); the retriever follows, the rest stays."""
        store = open_store(self.settings, fresh=True)
        store.bind(self.embedder.name, self.embedder.dimension)
        self.__dict__["store"] = store
        self.__dict__.pop("retriever", None)

    def pipeline(self) -> "RagPipeline":
        from rag.pipeline import RagPipeline

        return RagPipeline(self)
