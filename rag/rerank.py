"""Optional second stage: a cross-encoder reads question and passage together and re-orders the fused list."""

from typing import Protocol

from sentence_transformers import CrossEncoder

from rag.models import ModelNotFoundError, quiet_model_loading, resolve_device
from rag.settings import Settings
from rag.types import Hit


class Reranker(Protocol):
    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]: ...


class CrossEncoderReranker:
    """Any sentence-transformers CrossEncoder (a folder, or a hub id when a hub is reachable)."""

    def __init__(self, model: CrossEncoder, name: str) -> None:
        self.model = model
        self.name = name

    @classmethod
    def from_settings(cls, settings: Settings) -> "CrossEncoderReranker | None":
        if not settings.reranker_model:
            return None
        try:
            quiet_model_loading()
            model = CrossEncoder(settings.reranker_model, device=resolve_device(settings.device))
        except OSError as err:
            raise ModelNotFoundError(
                f"Cannot load the reranker '{settings.reranker_model}' (RAG_RERANKER_MODEL): give a local "
                f"CrossEncoder folder, or a hub id on a machine that can reach the hub. ({err})"
            ) from err
        return cls(model, settings.reranker_model)

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The same hits, most relevant first by the cross-encoder; ties keep the retrieval order."""
        if len(hits) < 2:
            return hits
        scores = self.model.predict([(question, hit.chunk.search_text) for hit in hits], show_progress_bar=False)
        order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))
        return [hits[i] for i in order]
