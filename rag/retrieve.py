"""Question -> the top-k most similar chunks (dense retrieval)."""

from rag.embedder import Embedder
from rag.store import Hit, Store


class DenseRetriever:
    """Embeds the question and asks the store for its nearest chunks by cosine similarity."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def retrieve(self, question: str, k: int) -> list[Hit]:
        if not question.strip():
            return []
        return self.store.search(self.embedder.embed_query(question), k)


def relevant_passages(hits: list[Hit], threshold: float, margin: float) -> list[Hit]:
    """The hits worth giving to the model; empty means abstain.

    Nothing is relevant when even the best hit scores under `threshold`. Otherwise hits scoring more than
    `margin` below the best one are dropped: they are mostly off-topic, and they confuse a small model.
    """
    if not hits or hits[0].score < threshold:
        return []
    return [hit for hit in hits if hit.score >= hits[0].score - margin]
