"""The API's answer cache: the same question, asked the same way, on the same documents, is answered once.

The key is the question (case and spacing normalised), the chat history, the answer settings of the request
(top_k, sources) and the store's generation marker, which every ingestion and delete changes: an answer is never
served from an older set of documents, in this process or after another process wrote to the store. Entries
expire after RAG_CACHE_TTL_S (0: no cache).
"""

import hashlib
import json
import threading
from typing import Any

from cachetools import TTLCache

MAX_ENTRIES = 4096


def normalised(question: str) -> str:
    return " ".join(question.casefold().split()).rstrip("?!. ")


class AnswerCache:
    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self.enabled = ttl_s > 0
        self._entries: TTLCache[str, dict[str, Any]] = TTLCache(max_entries, ttl_s or 1)
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    @staticmethod
    def key(question: str, history: list[dict[str, str]], options: dict[str, Any], generation: str) -> str:
        turns = [[normalised(turn["question"]), turn["answer"].strip()] for turn in history]
        material = json.dumps([normalised(question), turns, options, generation], sort_keys=True)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, result: dict[str, Any]) -> None:
        if self.enabled:
            with self._lock:
                self._entries[key] = result
