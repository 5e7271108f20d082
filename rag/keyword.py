"""Keyword retrieval: a BM25 index (bm25s, English stemming and stopwords) kept beside the vector store.

The index is derived data: it is always built from the committed chunks in the store and stamped with the
store's catalog fingerprint. Whenever the two disagree (another process ingested or deleted, a crash came
between the store write and the index write, the index folder was removed) it is rebuilt from the store, so
keyword and dense retrieval always see the same documents. Each build is written to a new folder and made
current by an atomic rename of a small pointer file, so a crash never leaves a half-written index in use.
"""

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from rag.store import Store, document_key

KEY_LENGTH = len(document_key(""))

POINTER = "current.json"
TOKENIZER = 2  # bumped when `tokens` changes: an index built by another version is rebuilt
FISCAL_YEAR = re.compile(r"\b(FY|Q[1-4])'?(\d{2}|\d{4})\b", re.IGNORECASE)


def _fiscal_year(match: re.Match[str]) -> str:
    """ "FY2018" -> "FY 2018", "FY22" -> "FY 2022", "Q2" stays: a table says "2018", not "FY2018"."""
    year = match.group(2)
    return f"{match.group(1)} {'20' + year if len(year) == 2 else year}"


class KeywordIndex:
    """BM25 over the `search_text` (heading path + text) of every committed chunk of a store."""

    def __init__(self, directory: Path, k1: float = 1.5, b: float = 0.75) -> None:
        self.directory = directory
        self.k1 = k1
        self.b = b
        self.stemmer = Stemmer.Stemmer("english")
        self.fingerprint: str | None = None
        self._checked_generation: str | None = None  # the store generation last checked against
        self._built: tuple[list[str], bm25s.BM25 | None] = ([], None)  # chunk ids and their index, swapped as one
        self._lock = threading.Lock()  # one rebuild at a time when app sessions share the index
        self._load()

    def tokens(self, texts: list[str]) -> list[list[str]]:
        texts = [FISCAL_YEAR.sub(_fiscal_year, text) for text in texts]
        tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False)
        return [list(t) for t in tokenized]  # type: ignore[union-attr]

    # Keeping in step with the store ----------------------------------------------------------------------

    def sync(self, store: Store) -> bool:
        """Rebuild from the store when it changed since the index was built; True when it rebuilt.

        Cheap when nothing changed (one read of the store's generation marker); the first call in a process
        always compares the full catalog, which catches a crash between a store write and its marker update.
        """
        generation = store.generation()
        if generation == self._checked_generation:
            return False
        with self._lock:
            return self._sync(store, generation)

    def _sync(self, store: Store, generation: str) -> bool:
        fingerprint = store.catalog_version()
        self._checked_generation = generation
        if fingerprint == self.fingerprint:
            return False
        self._load()  # another process may have built it already
        if fingerprint == self.fingerprint:
            return False
        self.build(store, fingerprint)
        return True

    def build(self, store: Store, fingerprint: str) -> None:
        ids, texts = store.committed_chunk_texts()
        bm25 = None
        if ids:
            bm25 = bm25s.BM25(k1=self.k1, b=self.b)
            bm25.index(self.tokens(texts), show_progress=False)
        self._save(fingerprint, ids, bm25)
        self.fingerprint, self._built = fingerprint, (ids, bm25)

    def _save(self, fingerprint: str, ids: list[str], bm25: bm25s.BM25 | None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        folder = f"index-{fingerprint[:16]}-{time.time_ns()}"
        target = self.directory / folder
        target.mkdir()
        if bm25 is not None:
            bm25.save(target)
        (target / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
        pointer = {"fingerprint": fingerprint, "folder": folder, "k1": self.k1, "b": self.b, "tokenizer": TOKENIZER}
        temporary = self.directory / f"{POINTER}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(pointer), encoding="utf-8")
        os.replace(temporary, self.directory / POINTER)  # the switch to the new index
        for old in self.directory.glob("index-*"):
            if old.name != folder:
                shutil.rmtree(old, ignore_errors=True)

    def _load(self) -> None:
        try:
            pointer = json.loads((self.directory / POINTER).read_text(encoding="utf-8"))
            if (pointer["k1"], pointer["b"], pointer.get("tokenizer")) != (self.k1, self.b, TOKENIZER):
                return  # built with other parameters or tokens: rebuild on the next sync
            folder = self.directory / pointer["folder"]
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
            bm25 = bm25s.BM25.load(folder) if ids else None
        except (OSError, ValueError, KeyError):
            return  # missing or unreadable (e.g. removed by a newer build meanwhile): rebuild on the next sync
        self.fingerprint, self._built = pointer["fingerprint"], (ids, bm25)

    @property
    def ids(self) -> list[str]:
        """The chunk ids in the index, in index order."""
        return self._built[0]

    # Search ----------------------------------------------------------------------------------------------

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Up to k (chunk id, BM25 score) pairs, best first; only chunks sharing a term with the query, and of
        `sources` when given."""
        ids, bm25 = self._built  # one snapshot, even if another thread swaps in a rebuild meanwhile
        if bm25 is None or k <= 0:
            return []
        token_ids = bm25.get_tokens_ids(self.tokens([query])[0])
        if not token_ids:
            return []
        scores = bm25.get_scores_from_ids(token_ids)
        if sources is not None:  # chunk ids start with their document's key (rag.store.chunk_id)
            keys = {document_key(source) for source in sources}
            scores = scores * np.fromiter((id_[:KEY_LENGTH] in keys for id_ in ids), dtype=bool, count=len(ids))
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]
