"""Background ingestion: a persistent job queue in SQLite and a worker thread that works through it.

An upload becomes a job (`queued`); a worker claims it (`running`, with its host and pid), reports progress and
ends it `done` or `failed` with the reason. The queue outlives the app: jobs submitted before a restart are
done after it. A job left `running` by a process that no longer exists (a crash, kill -9) is put back in the
queue once, its leftover chunks removed; a job interrupted twice fails. The store's commit point guarantees
that an interrupted ingestion never shows a partial document.
"""

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ingest.index import Indexer
from ingest.loaders import LoadError
from rag.store import Store

State = Literal["queued", "running", "done", "failed"]
MAX_ATTEMPTS = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, path TEXT NOT NULL, kind TEXT, submitted_by TEXT, force INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, host TEXT, pid INTEGER,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Job:
    id: int
    source: str
    path: str
    kind: str | None
    submitted_by: str | None
    force: bool
    state: State
    message: str
    done: int
    total: int
    attempts: int
    host: str | None
    pid: int | None
    created_at: str
    updated_at: str

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobQueue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # explicit transactions below
        db.row_factory = sqlite3.Row
        return db

    def submit(
        self, source: str, path: Path, kind: str | None = None, submitted_by: str | None = None, force: bool = False
    ) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO jobs (source, path, kind, submitted_by, force, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (source, str(path), kind, submitted_by, int(force), _now(), _now()),
            )
            return int(cursor.lastrowid or 0)

    def claim(self) -> Job | None:
        """Take the oldest queued job for this process, atomically across processes."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, host = ?, pid = ?, done = 0, "
                "total = 0, message = '', updated_at = ? WHERE id = ?",
                (socket.gethostname(), os.getpid(), _now(), row["id"]),
            )
            db.execute("COMMIT")
        finally:
            db.close()
        return self.job(int(row["id"]))

    def progress(self, job_id: int, done: int, total: int, message: str = "") -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET done = ?, total = ?, message = ?, updated_at = ? WHERE id = ?",
                (done, total, message, _now(), job_id),
            )

    def finish(self, job_id: int, state: State, message: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = ?, message = ?, updated_at = ? WHERE id = ?", (state, message, _now(), job_id)
            )

    def job(self, job_id: int) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(**{**dict(row), "force": bool(row["force"])})

    def jobs(self, limit: int = 100) -> list[Job]:
        """The newest jobs first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Job(**{**dict(row), "force": bool(row["force"])}) for row in rows]

    def pending_sources(self) -> set[str]:
        with self._connect() as db:
            rows = db.execute("SELECT source FROM jobs WHERE state IN ('queued', 'running')").fetchall()
        return {row["source"] for row in rows}

    def interrupted(self) -> list[Job]:
        """Jobs `running` in a process of this host that no longer exists."""
        here = socket.gethostname()
        running = [job for job in self.jobs(10_000) if job.state == "running"]
        return [job for job in running if job.host == here and job.pid is not None and not _alive(job.pid)]

    def requeue(self, job: Job) -> State:
        """Put an interrupted job back in the queue, or fail it when it was interrupted too often."""
        if job.attempts >= MAX_ATTEMPTS:
            message = f"interrupted {job.attempts} times (the app stopped during ingestion); upload it again"
            self.finish(job.id, "failed", message)
            return "failed"
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = 'queued', message = 'interrupted; queued again', updated_at = ? WHERE id = ?",
                (_now(), job.id),
            )
        return "queued"


class Worker(threading.Thread):
    """Runs queued jobs one at a time with an Indexer; start one per app process (a daemon thread)."""

    def __init__(
        self, queue: JobQueue, indexer: Indexer, reopen: Callable[[], Store], poll_seconds: float = 0.5
    ) -> None:
        super().__init__(name="ingest-worker", daemon=True)
        self.queue = queue
        self.indexer = indexer
        self.reopen = reopen  # a fresh view of the store, for when another process wrote to it
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def recover(self) -> None:
        """Requeue jobs of crashed processes, after removing the chunks they left behind."""
        for job in self.queue.interrupted():
            self.indexer.store.remove_uncommitted(job.source)
            self.queue.requeue(job)
        self.indexer.sync_keywords()

    def run(self) -> None:
        self.recover()
        while not self.stopping.is_set():
            if not self.run_one():
                self.stopping.wait(self.poll_seconds)

    def run_one(self) -> bool:
        """Run the next queued job; False when there was none."""
        job = self.queue.claim()
        if job is None:
            return False
        if self.indexer.store.changed_elsewhere():  # e.g. `python -m ingest` wrote to the same folder
            self.indexer.store = self.reopen()

        def report(done: int, total: int) -> None:
            self.queue.progress(job.id, done, total, f"embedding chunks {done}/{total}")

        try:
            self.queue.progress(job.id, 0, 0, "reading the file")
            result = self.indexer.ingest(
                Path(job.path), job.source, report, kind=job.kind, force=job.force, ingested_by=job.submitted_by
            )
        except LoadError as err:
            self.queue.finish(job.id, "failed", f"{job.source} {err}")
        except Exception as err:  # any failure ends the job with its reason; the worker lives on
            self.queue.finish(job.id, "failed", f"{job.source}: unexpected error ({type(err).__name__}: {err})")
        else:
            pages = f"{result.pages} pages, " if result.pages else ""
            self.queue.finish(job.id, "done", f"{result.status}: {pages}{result.chunks} chunks")
        return True

    def stop(self) -> None:
        self.stopping.set()


def wait_for(queue: JobQueue, job_id: int, timeout: float = 300.0) -> Job:
    """The job once it is done or failed (for the CLI and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.job(job_id)
        if job.state in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish in {timeout:.0f} s")
