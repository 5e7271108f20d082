"""Background ingestion: a persistent job queue in the app's database and worker threads that work through it.

An upload becomes a job (`queued`); a worker claims it (`running`, with the worker's own random id) and, while it
works, writes a heartbeat every few seconds; it ends the job `done` or `failed` with the reason. The queue
outlives the app: jobs submitted before a restart are done after it. Workers on any number of processes and
hosts share the queue (PostgreSQL for several hosts: RAG_DATABASE_URL): a claim locks the job's row and skips
rows other workers hold (`FOR UPDATE SKIP LOCKED`), so each job goes to exactly one worker. A `running` job
whose heartbeat is older than RAG_JOB_LEASE_S (its process crashed or was killed, on this host or another) is
put back in the queue by any worker, at once when its process was on this host and no longer exists (a
restarted container reuses pids, so there the heartbeat decides); a job interrupted twice fails. The store's
commit point guarantees that an interrupted ingestion never shows a partial document.

The worker's loop cannot die: an error outside a job (a database that went away, a store that cannot be
reopened) is logged and retried with a growing pause.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, func, insert, select, update

from ingest.index import Indexer
from ingest.loaders import LoadError
from ingest.originals import folder_name, remove_originals
from rag.db import METADATA, claim_oldest, engine
from rag.observe import metrics
from rag.observe.logs import request_scope
from rag.settings import Settings
from rag.store import Store, open_store

State = Literal["queued", "running", "done", "failed"]
MAX_ATTEMPTS = 2
LEASE_S = 60.0  # a running job without a heartbeat for this long is taken as interrupted (RAG_JOB_LEASE_S)
MAX_PAUSE_S = 30.0  # the longest pause of a worker after errors outside a job
log = logging.getLogger(__name__)

JOBS = Table(
    "jobs",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(64)),
    Column("submitted_by", String(200)),
    Column("force", Boolean, nullable=False, default=False),
    Column("state", String(64), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("done", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("worker", String(200)),
    Column("heartbeat_at", Float),
    Column("collection", String(64)),
)


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

    @classmethod
    def from_row(cls, row: Any) -> "Job":
        return cls(**{**dict(row), "force": bool(row["force"])})


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
    def __init__(self, database: Path | str, lease_s: float = LEASE_S) -> None:
        self.engine = engine(database)
        self.stale_after = lease_s

    @classmethod
    def from_settings(cls, settings: Settings) -> "JobQueue":
        return cls(settings.database, settings.job_lease_s)

    def submit(
        self,
        source: str,
        path: Path,
        kind: str | None = None,
        submitted_by: str | None = None,
        force: bool = False,
        collection: str | None = None,
    ) -> int:
        row = {"source": source, "path": str(path), "kind": kind, "submitted_by": submitted_by, "force": force,
               "state": "queued", "created_at": _now(), "updated_at": _now(), "collection": collection}  # fmt: skip
        with self.engine.begin() as db:
            return int(db.execute(insert(JOBS).values(**row)).inserted_primary_key[0])

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for `worker`, once across every process and host (rag.db.claim_oldest)."""
        with self.engine.begin() as db:
            job_id = claim_oldest(db, JOBS, attempts=JOBS.c.attempts + 1, host=socket.gethostname(), pid=os.getpid(),
                                  worker=worker, heartbeat_at=time.time(), done=0, total=0, message="",
                                  updated_at=_now())  # fmt: skip
        return None if job_id is None else self.job(job_id)

    def progress(self, job_id: int, done: int, total: int, message: str = "") -> None:
        with self.engine.begin() as db:
            db.execute(
                update(JOBS).where(JOBS.c.id == job_id)
                .values(done=done, total=total, message=message, updated_at=_now(), heartbeat_at=time.time())
            )  # fmt: skip

    def heartbeat(self, job_id: int, worker: str) -> None:
        """`worker` is still at this job."""
        with self.engine.begin() as db:
            db.execute(
                update(JOBS).where(JOBS.c.id == job_id, JOBS.c.worker == worker, JOBS.c.state == "running")
                .values(heartbeat_at=time.time())
            )  # fmt: skip

    def finish(self, job_id: int, state: State, message: str, worker: str | None = None) -> bool:
        """End a job; with `worker`, only while that worker still holds it (False when another took it over)."""
        query = update(JOBS).where(JOBS.c.id == job_id)
        if worker is not None:
            query = query.where(JOBS.c.worker == worker, JOBS.c.state == "running")
        with self.engine.begin() as db:
            return bool(db.execute(query.values(state=state, message=message, updated_at=_now())).rowcount)

    def job(self, job_id: int) -> Job:
        with self.engine.connect() as db:
            row = db.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        if row is None:
            raise LookupError(f"No ingestion job {job_id}")
        return Job.from_row(row)

    def jobs(self, limit: int = 100) -> list[Job]:
        """The newest jobs first."""
        with self.engine.connect() as db:
            rows = db.execute(select(JOBS).order_by(JOBS.c.id.desc()).limit(limit)).mappings().all()
        return [Job.from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.engine.connect() as db:
            rows = db.execute(select(JOBS.c.state, func.count()).group_by(JOBS.c.state)).all()
        return {state: 0 for state in ("queued", "running", "done", "failed")} | {state: n for state, n in rows}

    def pending_sources(self) -> set[str]:
        with self.engine.connect() as db:
            query = select(JOBS.c.source).where(JOBS.c.state.in_(("queued", "running")))
            return set(db.execute(query).scalars())

    def interrupted(self) -> list[Job]:
        """Running jobs whose worker is gone: it stopped beating (its process died or hung, on any host), or,
        without waiting for that, its process on this host no longer exists."""
        limit, here = time.time() - self.stale_after, socket.gethostname()
        with self.engine.connect() as db:
            rows = db.execute(select(JOBS).where(JOBS.c.state == "running")).mappings().all()
        jobs = [Job.from_row(row) for row in rows]
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
        unchanged = (
            JOBS.c.id == job.id,
            JOBS.c.state == "running",
            JOBS.c.worker.is_not_distinct_from(job.worker),
            JOBS.c.heartbeat_at.is_not_distinct_from(job.heartbeat_at),
        )
        with self.engine.begin() as db:
            changed = db.execute(
                update(JOBS).where(*unchanged).values(state=state, message=message, updated_at=_now(), worker=None)
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
        if not self.queue.finish(job.id, state, message, worker=self.id):  # it was given to another worker
            log.warning("job taken over while this worker was at it", extra={"job": job.id, "worker": self.id})
            return
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
