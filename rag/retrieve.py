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
