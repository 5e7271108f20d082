"""kill -9 of an ingestion worker at several points: every document is searchable fully or not at all, the
keyword index agrees with the store, and after a restart the interrupted job completes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.jobs import JobQueue
from rag.embedder import SentenceTransformerEmbedder
from rag.keyword import KeywordIndex
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import open_store
from rag.types import file_sha256
from tests.helpers import write_text_pdf

REPO = Path(__file__).resolve().parents[2]
WORKER = (
    "from ingest.index import Indexer\n"
    "from ingest.jobs import JobQueue, Worker\n"
    "from rag.settings import Settings\n"
    "from rag.store import open_store\n"
    "s = Settings()\n"
    "worker = Worker(JobQueue(s.app_db), Indexer.from_settings(s), lambda: open_store(s, fresh=True))\n"
    "worker.recover()\n"
    "while worker.run_one():\n"
    "    pass\n"
)
Condition = Callable[[sqlite3.Row], bool]


def big_pdf(path: Path, word: str) -> Path:
    """About 200 chunks, all different (the embedder embeds a repeated text once): two embedding batches."""
    pages = [
        " ".join(
            f"Clause {n} of part {p} of the {word} agreement binds every tenant of the building." for n in range(40)
        )
        for p in range(40)
    ]
    return write_text_pdf(path, pages)


def run_worker(settings: Settings, kill_when: Condition | None = None) -> str:
    """Run a worker process; with `kill_when`, SIGKILL it as soon as its job row matches. What happened."""
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=REPO, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if kill_when is not None:
                with sqlite3.connect(settings.app_db, timeout=30) as db:
                    db.row_factory = sqlite3.Row
                    row = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
                if row is not None and row["state"] == "running" and kill_when(row):
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                    return "killed"
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
    return "finished"


def check_all_or_nothing(settings: Settings, embedder: SentenceTransformerEmbedder, word: str) -> str | None:
    """Every catalogued document has all its chunks; the big document's words find it only if it is
    catalogued; the keyword index holds exactly the committed chunks. The big document's sha256 or None."""
    store = open_store(settings, fresh=True)
    catalog = {d.source: d for d in store.documents()}
    records = store.chunks.get(include=["metadatas"])
    for document in catalog.values():
        mine = [m for m in records["metadatas"] or [] if m["source"] == document.source]
        committed = sorted(int(m["index"]) for m in mine if m["sha256"] == document.sha256)
        assert committed == list(range(document.chunks)), document.source
    keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
    keywords.sync(store)
    assert sorted(keywords.ids) == sorted(store.committed_chunk_texts()[0])
    hits = Retriever.from_settings(settings, store, embedder, keywords=keywords).retrieve(f"{word} agreement", 5)
    found = {hit.chunk.source for hit in hits}
    assert ("big.pdf" in found) == ("big.pdf" in catalog)
    assert "small.md" in catalog  # the document ingested before is never harmed
    return catalog["big.pdf"].sha256 if "big.pdf" in catalog else None


KILL_POINTS: list[tuple[str, Condition]] = [
    ("while reading the file", lambda row: row["total"] == 0),
    ("while embedding", lambda row: 0 < row["done"] < row["total"]),
    ("while writing to the store", lambda row: row["total"] > 0 and row["done"] == row["total"]),
]


@pytest.fixture
def store_with_a_document(tmp_path: Path, settings: Settings) -> Settings:
    small = tmp_path / "small.md"
    small.write_text("# Small\n\nThe caretaker lives on the ground floor.\n")
    JobQueue(settings.app_db).submit("small.md", small, "markdown")
    assert run_worker(settings) == "finished"
    return settings


def test_kill_9_at_each_point_leaves_whole_documents_then_the_job_completes(
    tmp_path: Path, store_with_a_document: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    settings = store_with_a_document
    queue = JobQueue(settings.app_db)
    first = big_pdf(tmp_path / "big-v1.pdf", "lease")
    for name, condition in KILL_POINTS:
        job_id = queue.submit("big.pdf", first, "pdf", force=True)
        assert run_worker(settings, condition) == "killed", name
        check_all_or_nothing(settings, embedder, "lease")
        assert run_worker(settings) == "finished"  # restart: the job is requeued and done
        assert queue.job(job_id).state == "done", (name, queue.job(job_id).message)
        assert check_all_or_nothing(settings, embedder, "lease") == file_sha256(first)

    second = big_pdf(tmp_path / "big-v2.pdf", "rental")  # a new version replacing the old one
    queue.submit("big.pdf", second, "pdf")
    assert run_worker(settings, KILL_POINTS[-1][1]) == "killed"
    assert check_all_or_nothing(settings, embedder, "lease") in {file_sha256(first), file_sha256(second)}
    assert run_worker(settings) == "finished"
    assert check_all_or_nothing(settings, embedder, "rental") == file_sha256(second)
