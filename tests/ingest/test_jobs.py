import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from ingest.index import Indexer
from ingest.jobs import JOBS, JobQueue, Worker, wait_for
from ingest.uploads import UploadError, submit_upload
from rag.embedder import Embedder
from rag.keyword import KeywordIndex
from rag.settings import Settings
from rag.store import open_store
from tests.fakes import embedder, settings  # noqa: F401  (fixtures: the fake embedder, a bare data folder)
from tests.helpers import write_text_pdf


def make_worker(settings: Settings, embedder: Embedder, **queue_options: float) -> Worker:
    keywords = KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b)
    indexer = Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap, keywords, "eng")
    queue = JobQueue(settings.app_db, **queue_options)
    return Worker(queue, indexer, reopen=lambda: open_store(settings, fresh=True))


def test_a_job_runs_to_done_with_progress_and_user(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    worker = make_worker(settings, embedder)
    pdf = write_text_pdf(tmp_path / "rules.pdf", ["Visitors sign the book at the desk. " * 30] * 2)
    job_id = worker.queue.submit("rules.pdf", pdf, "pdf", "ada")
    assert worker.queue.job(job_id).state == "queued"
    assert worker.run_one() is True
    job = worker.queue.job(job_id)
    assert (job.state, job.message) == ("done", f"added: 2 pages, {job.total} chunks")
    assert job.done == job.total > 0
    document = worker.indexer.store.document("rules.pdf")
    assert document is not None and (document.kind, document.ingested_by) == ("pdf", "ada")
    assert worker.indexer.keywords is not None and worker.indexer.keywords.search("visitors", 3)
    assert worker.run_one() is False  # nothing left


def test_a_bad_file_fails_with_its_reason_and_writes_nothing(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    worker = make_worker(settings, embedder)
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 40)
    job_id = worker.queue.submit("broken.pdf", bad, "pdf")
    worker.run_one()
    job = worker.queue.job(job_id)
    assert job.state == "failed" and job.message.startswith("broken.pdf is not a readable PDF")
    assert worker.indexer.store.is_empty()


def test_a_job_whose_worker_stopped_beating_is_requeued_once_then_failed(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    """As after a container restart: the new process may have the old one's pid (1) and another host name, so
    only the heartbeat tells that the job's worker is gone."""
    worker = make_worker(settings, embedder)
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe boiler is serviced every May.\n")
    job_id = worker.queue.submit("note.md", note, "markdown")
    for attempt in (1, 2):
        claimed = worker.queue.claim("the previous container")
        assert claimed is not None and claimed.attempts == attempt
        assert (claimed.host, claimed.pid) == (socket.gethostname(), os.getpid())  # alive, and yet gone
        worker.recover()
        assert worker.queue.job(job_id).state == "running"  # its heartbeat is fresh: left alone
        with worker.queue.engine.begin() as db:
            db.execute(update(JOBS).where(JOBS.c.id == job_id).values(heartbeat_at=time.time() - 61))
        worker.recover()
    job = worker.queue.job(job_id)
    assert job.state == "failed" and "interrupted 2 times" in job.message


def test_a_running_worker_keeps_its_job_alive_with_heartbeats(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    worker = make_worker(settings, embedder, lease_s=0.6)
    other = make_worker(settings, embedder, lease_s=0.6)  # another app process, recovering jobs
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe boiler is serviced every May.\n")
    job_id = worker.queue.submit("note.md", note, "markdown")
    worker.queue.claim(worker.id)
    worker.current = job_id  # as while it ingests a long file
    worker.stopping.clear()
    heart = threading.Thread(target=worker._beat, daemon=True)
    heart.start()
    try:
        for _ in range(4):
            time.sleep(0.3)
            other.recover()
            assert worker.queue.job(job_id).state == "running"
    finally:
        worker.stop()
        heart.join(timeout=5)
    time.sleep(0.7)  # no more beats: now it is stale
    other.recover()
    assert worker.queue.job(job_id).state == "queued"


def test_the_worker_survives_a_failing_database_and_goes_on(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    """The database failing outside a job (gone for a while, locked past the wait) must not end the worker."""
    worker = make_worker(settings, embedder)
    worker.poll_seconds = 0.1
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe boiler is serviced every May.\n")
    job_id = worker.queue.submit("note.md", note, "markdown")
    claim, failures = worker.queue.claim, []

    def failing_claim(worker_id: str) -> object:
        if len(failures) < 3:
            failures.append(worker_id)
            raise OperationalError("SELECT ...", {}, Exception("database is locked"))
        return claim(worker_id)

    worker.queue.claim = failing_claim  # type: ignore[method-assign]
    worker.start()
    try:
        assert wait_for(worker.queue, job_id, timeout=120).state == "done"
        assert len(failures) == 3 and worker.is_alive() and worker.errors == 0  # it met them, and lives
    finally:
        worker.stop()
        worker.join(timeout=10)


def test_the_worker_thread_picks_up_queued_jobs(tmp_path: Path, settings: Settings, embedder: Embedder) -> None:
    worker = make_worker(settings, embedder)
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe boiler is serviced every May.\n")
    job_id = worker.queue.submit("note.md", note, "markdown")  # queued before the worker starts
    worker.start()
    try:
        assert wait_for(worker.queue, job_id, timeout=120).state == "done"
    finally:
        worker.stop()
        worker.join(timeout=10)


def test_uploads_are_stored_queued_and_duplicates_refused(
    tmp_path: Path, settings: Settings, embedder: Embedder
) -> None:
    worker = make_worker(settings, embedder)
    store, queue = worker.indexer.store, worker.queue
    options = {"store": store, "queue": queue, "originals": settings.originals_dir, "max_bytes": 10**6}
    data = b"# Boiler\n\nThe boiler is serviced every May.\n"
    job_id = submit_upload("../../boiler.md", data, user="ada", **options)  # type: ignore[arg-type]
    job = queue.job(job_id)
    assert job.source == "boiler.md" and Path(job.path).read_bytes() == data
    assert Path(job.path).is_relative_to(settings.originals_dir)
    with pytest.raises(UploadError, match="already queued"):
        submit_upload("copy.md", data, user="ada", **options)  # type: ignore[arg-type]
    worker.run_one()
    with pytest.raises(UploadError, match=r"same content as 'boiler\.md', already in the knowledge base"):
        submit_upload("again.md", data, user="ada", **options)  # type: ignore[arg-type]


def test_an_app_db_from_before_heartbeats_gets_the_new_columns(settings: Settings) -> None:
    settings.app_db.parent.mkdir(parents=True)
    old = sqlite3.connect(settings.app_db)
    old.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, path TEXT NOT NULL, kind TEXT, "
        "submitted_by TEXT, force INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', "
        "done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, "
        "host TEXT, pid INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO jobs (source, path, state, created_at, updated_at) VALUES ('a.md', 'a', 'running', 'x', 'x')"
    )
    old.commit()
    old.close()
    queue = JobQueue(settings.app_db)
    job = queue.jobs()[0]
    assert (job.worker, job.heartbeat_at) == (None, None)
    assert [j.id for j in queue.interrupted()] == [job.id]  # a job without a heartbeat is an interrupted one


def test_only_one_worker_requeues_an_interrupted_job(settings: Settings) -> None:
    queue = JobQueue(settings.app_db, lease_s=0.0)
    job_id = queue.submit("a.md", Path("a.md"))
    queue.claim("gone")
    time.sleep(0.01)
    seen_by_two = queue.interrupted()  # two workers look at the same time
    assert [queue.requeue(job) for job in seen_by_two * 2] == ["queued", None]
    assert queue.job(job_id).state == "queued" and queue.pending_sources() == {"a.md"}
    queue.finish(job_id, "done", "ok")
    assert queue.pending_sources() == set()
