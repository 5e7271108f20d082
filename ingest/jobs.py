"""Background ingestion: a persistent job queue in SQLite and a worker thread that works through it.

An upload becomes a job (`queued`); a worker claims it (`running`, with the worker's own random id) and, while it
works, writes a heartbeat every few seconds; it ends the job `done` or `failed` with the reason. The queue
outlives the app: jobs submitted before a restart are done after it. A `running` job whose heartbeat stopped
(its process crashed or was killed, on this host or another, whatever pid the next process gets) is put back
in the queue by any worker, at once when its process was on this host and no longer exists (a restarted
container reuses pids, so there the heartbeat decides); a job interrupted twice fails. The store's commit point
guarantees that an interrupted ingestion never shows a partial document.

The worker's loop cannot die: an error outside a job (a locked database, a store that cannot be reopened) is
logged and retried with a growing pause.
"""

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ingest.index import Indexer
from ingest.loaders import LoadError
from ingest.originals import folder_name, remove_originals
from rag.db import BUSY_TIMEOUT_S, connect
from rag.observe import metrics
from rag.observe.logs import request_scope
from rag.settings import Settings
from rag.store import Store, open_store

State = Literal["queued", "running", "done", "failed"]
MAX_ATTEMPTS = 2
STALE_AFTER_S = 60.0  # a running job without a heartbeat for this long is taken as interrupted
MAX_PAUSE_S = 30.0  # the longest pause of a worker after errors outside a job
log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, path TEXT NOT NULL, kind TEXT, submitted_by TEXT, force INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, host TEXT, pid INTEGER,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, worker TEXT, heartbeat_at REAL, collection TEXT);
"""
ADDED_COLUMNS = {"worker": "TEXT", "heartbeat_at": "REAL", "collection": "TEXT"}  # to older app.db files


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
    worker: str | None = None
    heartbeat_at: float | None = None
    collection: str | None = None  # where the document goes (None: where it is, or `default`)

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
    def __init__(self, path: Path, timeout: float = BUSY_TIMEOUT_S, stale_after: float = STALE_AFTER_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.timeout = timeout  # how long a statement waits for a lock held by another connection
        self.stale_after = stale_after
        with self._connect() as db:
            db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.timeout, autocommit=True)  # explicit transactions below

    def submit(
        self,
        source: str,
        path: Path,
        kind: str | None = None,
        submitted_by: str | None = None,
        force: bool = False,
        collection: str | None = None,
    ) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO jobs (source, path, kind, submitted_by, force, state, created_at, updated_at, collection) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (source, str(path), kind, submitted_by, int(force), _now(), _now(), collection),
            )
            return int(cursor.lastrowid or 0)

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for `worker`, atomically across processes."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, host = ?, pid = ?, worker = ?, "
                "heartbeat_at = ?, done = 0, total = 0, message = '', updated_at = ? WHERE id = ?",
                (socket.gethostname(), os.getpid(), worker, time.time(), _now(), row["id"]),
            )
            db.execute("COMMIT")
        finally:
            db.close()
        return self.job(int(row["id"]))

    def progress(self, job_id: int, done: int, total: int, message: str = "") -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET done = ?, total = ?, message = ?, updated_at = ?, heartbeat_at = ? WHERE id = ?",
                (done, total, message, _now(), time.time(), job_id),
            )

    def heartbeat(self, job_id: int, worker: str) -> None:
        """`worker` is still at this job."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (time.time(), job_id, worker),
            )

    def finish(self, job_id: int, state: State, message: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = ?, message = ?, updated_at = ? WHERE id = ?", (state, message, _now(), job_id)
            )

    def job(self, job_id: int) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise LookupError(f"No ingestion job {job_id}")
        return Job(**{**dict(row), "force": bool(row["force"])})

    def jobs(self, limit: int = 100) -> list[Job]:
        """The newest jobs first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Job(**{**dict(row), "force": bool(row["force"])}) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in ("queued", "running", "done", "failed")} | {r["state"]: r["n"] for r in rows}

    def pending_sources(self) -> set[str]:
        with self._connect() as db:
            rows = db.execute("SELECT source FROM jobs WHERE state IN ('queued', 'running')").fetchall()
        return {row["source"] for row in rows}

    def interrupted(self) -> list[Job]:
        """Running jobs whose worker is gone: it stopped beating (its process died or hung, on any host), or,
        without waiting for that, its process on this host no longer exists."""
        limit, here = time.time() - self.stale_after, socket.gethostname()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall()
        jobs = [Job(**{**dict(row), "force": bool(row["force"])}) for row in rows]
        return [
            job
            for job in jobs
            if job.heartbeat_at is None
            or job.heartbeat_at < limit
            or (job.host == here and job.pid is not None and not _alive(job.pid))
        ]

    def requeue(self, job: Job) -> State | None:
        """Put an interrupted job back in the queue, or fail it when it was interrupted too often. None when
        another worker got there first (or the job's worker came back to life)."""
        if job.attempts >= MAX_ATTEMPTS:
            state: State = "failed"
            message = f"interrupted {job.attempts} times (the app stopped during ingestion); upload it again"
        else:
            state, message = "queued", "interrupted; queued again"
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, message = ?, updated_at = ?, worker = NULL "
                "WHERE id = ? AND state = 'running' AND worker IS ? AND heartbeat_at IS ?",
                (state, message, _now(), job.id, job.worker, job.heartbeat_at),
            ).rowcount
        return state if changed else None


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
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # unique even when pids repeat
        self.stopping = threading.Event()
        self.current: int | None = None  # the job being worked on, for the heartbeat
        self.errors = 0  # errors outside a job in a row (0 when the last round went well)
        self._heart = threading.Thread(target=self._beat, name="ingest-heartbeat", daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings, queue: JobQueue) -> "Worker":
        """A worker with its own Indexer (its own embedder: one per thread that embeds); not started yet."""
        return cls(queue, Indexer.from_settings(settings), reopen=lambda: open_store(settings, fresh=True))

    def recover(self) -> None:
        """Requeue jobs whose worker stopped beating; a job failed for good loses the chunks it left behind."""
        for job in self.queue.interrupted():
            state = self.queue.requeue(job)
            if state is not None:
                log.warning("job interrupted", extra={"job": job.id, "worker": job.worker, "now": state})
            if state == "failed":
                self.indexer.store.remove_uncommitted(job.source)
        self.indexer.sync_keywords()
        self.count_jobs()

    def count_jobs(self) -> None:
        for state, count in self.queue.counts().items():
            metrics.JOBS_IN_QUEUE.labels(state).set(count)

    def start(self) -> None:
        super().start()
        self._heart.start()

    def run(self) -> None:
        last_recovery = float("-inf")
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_recovery >= self.queue.stale_after / 2:
                    self.recover()
                    last_recovery = time.monotonic()
                worked = self.run_one()
            except Exception:  # the loop goes on whatever happens outside a job
                self.errors += 1
                pause = min(self.poll_seconds * 2**self.errors, MAX_PAUSE_S)
                log.exception("ingestion worker %s: error outside a job; retrying in %.1f s", self.id, pause)
                self.stopping.wait(pause)
                continue
            self.errors = 0
            if not worked:
                self.stopping.wait(self.poll_seconds)

    def _beat(self) -> None:
        while not self.stopping.wait(self.queue.stale_after / 6):
            job = self.current
            if job is None:
                continue
            try:
                self.queue.heartbeat(job, self.id)
            except Exception:  # a missed beat is retried at the next one
                log.warning("ingestion worker %s: heartbeat of job %s failed", self.id, job, exc_info=True)

    def run_one(self) -> bool:
        """Run the next queued job; False when there was none."""
        job = self.queue.claim(self.id)
        if job is None:
            return False
        self.current = job.id
        started = time.perf_counter()
        try:
            with request_scope(f"job-{job.id}"):
                self._work_on(job)
        finally:
            self.current = None
            metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
            self.count_jobs()
        return True

    def _work_on(self, job: Job) -> None:
        if self.indexer.store.changed_elsewhere():  # e.g. `python -m ingest` wrote to the same folder
            self.indexer.store = self.reopen()

        def report(done: int, total: int) -> None:
            self.queue.progress(job.id, done, total, f"embedding chunks {done}/{total}")

        try:
            self.queue.progress(job.id, 0, 0, "reading the file")
            result = self.indexer.ingest(
                Path(job.path),
                job.source,
                report,
                kind=job.kind,
                force=job.force,
                ingested_by=job.submitted_by,
                collection=job.collection,
            )
        except LoadError as err:
            self._finish(job, "failed", f"{job.source} {err}")
        except Exception as err:  # any failure ends the job with its reason; the worker lives on
            log.exception("job failed", extra={"job": job.id})
            self._finish(job, "failed", f"{job.source}: unexpected error ({type(err).__name__}: {err})")
        else:
            pages = f"{result.pages} pages, " if result.pages else ""
            if result.status != "unchanged":
                metrics.CHUNKS.inc(result.chunks)
            self._finish(job, "done", f"{result.status}: {pages}{result.chunks} chunks", chunks=result.chunks)
        self._tidy_originals(job)

    def _finish(self, job: Job, state: State, message: str, chunks: int = 0) -> None:
        self.queue.finish(job.id, state, message)
        metrics.JOBS.labels(state).inc()
        log.info("job finished", extra={"job": job.id, "state": state, "chunks": chunks, "worker": self.id,
                                        "reason": message if state == "failed" else None})  # fmt: skip

    def _tidy_originals(self, job: Job) -> None:
        """Keep only the original of the version the store holds now (an earlier upload of the same name, or
        this one when it failed, is removed)."""
        originals = self.indexer.originals
        if originals is None or not Path(job.path).is_relative_to(originals):
            return  # not an upload (e.g. a file named on the command line): not ours to delete
        document = self.indexer.store.document(job.source)
        remove_originals(originals, job.source, keep=folder_name(document.sha256) if document else None)

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
