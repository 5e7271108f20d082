"""Several hosts on one PostgreSQL and one Chroma server, with real servers: every store of app state works on
PostgreSQL, concurrent claims give each job to one worker, and two `python -m ingest worker` processes take 20
upload jobs while one of them is killed with SIGKILL mid-job: every job ends done once, every document whole."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.audit import AuditLog, Who
from accounts.chats import ChatStore
from accounts.collections import Collections
from accounts.keys import KeyStore
from accounts.users import SignInThrottledError, UserStore
from ingest.jobs import JOBS, JobQueue
from rag.backup import BackupError, backup, restore
from rag.safety.events import GuardEvents
from rag.safety.interactions import InteractionLog
from rag.store import open_store
from records.activity import ActivityLog
from records.eval_history import History
from tests.helpers import make_settings
from tests.servers import chroma_server, create_database, postgres_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_every_store_of_app_state_works_on_postgresql(postgres: str) -> None:
    url = create_database(postgres, "stores")
    users = UserStore(url, attempts=1)
    users.add("ada", "correct horse", "admin")
    assert users.verify("ada", "correct horse", "10.0.0.1") is not None
    assert users.verify("ada", "wrong", "10.0.0.2") is None
    with pytest.raises(SignInThrottledError):  # the per-name throttle (a SUM over a CASE) applies to that client
        users.verify("ada", "wrong", "10.0.0.2")
    key, record = KeyStore(url).create("ada")
    assert KeyStore(url).caller(key).role == "admin"  # type: ignore[union-attr]
    KeyStore(url).revoke(record.id)
    assert KeyStore(url).caller(key) is None
    collections, _ = Collections(url), Collections(url)  # the `default` collection is made once
    collections.add_group("legal")
    collections.create("contracts")
    collections.grant("contracts", "legal")
    collections.grant("contracts", "legal")  # again: no error, no second row
    collections.add_member("legal", "bob")
    assert collections.readable("bob") == ["contracts", "default"] and collections.readable(None) == ["default"]
    chats = ChatStore(url)
    chat = chats.create("ada", "First question")
    chats.add_turn("ada", chat.id, {"question": "q1", "answer": "a1"})
    chats.add_turn("ada", chat.id, {"question": "q2", "answer": "a2"})
    assert [t["question"] for t in chats.turns("ada", chat.id)] == ["q1", "q2"]
    AuditLog(url).record(Who("ada", "10.0.0.1"), "sign_in.ok", "ada")
    assert AuditLog(url).rows(action="sign_in")[0]["actor"] == "ada"
    activity = ActivityLog(url)
    activity.answered({"id": "a1", "abstained": False, "sources": []}, "api", "ada", {"seconds": 1.0})
    activity.rate("a1", 1, "ada", {"question": "q", "answer": "a"})
    activity.rate("a1", -1, "ada", {"question": "q", "answer": "a"})
    assert [r["rating"] for r in activity.ratings()] == [-1] and activity.known("a1")
    report = {"run_id": "r1", "created_at": "2026-01-01", "set": "s.jsonl", "summary": {"token_f1": 0.4}}
    History(url).add(report, Path("/tmp/r1"))
    History(url).add(report | {"summary": {"token_f1": 0.5}}, Path("/tmp/r1"))
    assert [r["summary"] for r in History(url).runs()] == [{"token_f1": 0.5}]
    GuardEvents(url).record([("refused:drugs", ""), ("injection_dropped", "a.md")])
    GuardEvents(url).record([("refused:drugs", "")])
    assert GuardEvents(url).totals() == {"injection_dropped": 1, "refused:drugs": 2}
    InteractionLog(url, "full", 7).record("q", "a", ["a.md"], False, False, [])
    assert InteractionLog(url, "full", 7).recent()[0]["sources"] == ["a.md"]


def test_concurrent_claims_give_each_job_to_exactly_one_worker(postgres: str) -> None:
    queue = JobQueue(create_database(postgres, "claims"))
    submitted = {queue.submit(f"doc-{n}.md", Path(f"doc-{n}.md")) for n in range(60)}
    claimed: list[int] = []

    def work(name: str) -> None:
        while (job := queue.claim(name)) is not None:
            claimed.append(job.id)

    workers = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(claimed) == sorted(submitted)  # every job once, none twice


def paragraph(document: int, number: int) -> str:
    words = " ".join(f"term{document}x{number}x{k}" for k in range(40))
    return f"Section {number} of handbook {document}. {words}."


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "ingest", "worker"], cwd=REPO, env=env, stderr=out)


@pytest.mark.timeout(900)
def test_two_workers_on_postgresql_and_a_chroma_server_survive_a_kill_9_mid_job(
    postgres: str, tmp_path: Path, models_dir: Path
) -> None:
    database = create_database(postgres, "hosts")
    files = tmp_path / "shared"  # the uploads' folder, shared by the hosts (a volume in compose.yaml)
    files.mkdir()
    with chroma_server(tmp_path / "chroma") as chroma:
        queue = JobQueue(database)
        jobs = {}
        for document in range(20):
            path = files / f"handbook-{document:02d}.md"
            path.write_text(f"# Handbook {document}\n\n" + "\n\n".join(paragraph(document, n) for n in range(30)))
            jobs[queue.submit(path.name, path, "markdown", "ada")] = path.name
        hosts = {}
        for name in ("a", "b"):
            host = {"RAG_DATA_DIR": str(tmp_path / f"host-{name}"), "RAG_MODELS_DIR": str(models_dir)}
            shared = {"RAG_DATABASE_URL": database, "RAG_CHROMA_URL": chroma, "RAG_JOB_LEASE_S": "5"}
            env = os.environ | host | shared
            hosts[name] = start_worker(env, tmp_path / f"worker-{name}.log")
        started = time.monotonic()
        killed = None
        while killed is None and time.monotonic() - started < 300:
            with queue.engine.connect() as db:
                rows = db.execute(select(JOBS).where(JOBS.c.pid == hosts["a"].pid)).mappings().all()
            finished_by_a = sum(row["state"] == "done" for row in rows)
            for row in rows:  # once worker a has done two jobs and is embedding a third one's chunks: kill it
                if finished_by_a >= 2 and row["state"] == "running" and row["done"] > 0:
                    os.kill(hosts["a"].pid, signal.SIGKILL)
                    killed = row["id"]
            time.sleep(0.05)
        assert killed is not None, (tmp_path / "worker-a.log").read_text()[-2000:]
        hosts["a"].wait(timeout=30)
        while time.monotonic() - started < 600 and queue.counts()["done"] + queue.counts()["failed"] < 20:
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        hosts["b"].send_signal(signal.SIGTERM)
        assert hosts["b"].wait(timeout=60) == 0
        finished = {job.id: job for job in queue.jobs(100)}
        assert {job_id: finished[job_id].state for job_id in jobs} == dict.fromkeys(jobs, "done")
        assert finished[killed].attempts == 2  # taken over after the kill
        assert all(finished[j].attempts == 1 for j in jobs if j != killed)  # no other job was taken twice
        by_worker = [sum(job.pid == host.pid for job in finished.values()) for host in hosts.values()]
        assert by_worker[0] >= 2 and by_worker[1] >= 1 and sum(by_worker) == 20  # both took jobs, each job once
        store = open_store(make_settings(tmp_path / "check", models_dir, chroma_url=chroma), fresh=True)
        documents = {d.source: d for d in store.documents()}
        assert sorted(documents) == sorted(jobs.values())
        for document in documents.values():  # whole: every chunk of the committed version, no leftovers
            assert len(store.committed_chunks([document.source])) == document.chunks > 10
        assert store.count_chunks() == sum(d.chunks for d in documents.values())
        print(json.dumps({"jobs": 20, "workers": 2, "killed_job": killed, "seconds": round(elapsed, 1)}))


def test_a_postgresql_database_is_backed_up_and_restored_table_by_table(postgres: str, tmp_path: Path) -> None:
    source, target = create_database(postgres, "live"), create_database(postgres, "restored")
    live = make_settings(tmp_path / "live", tmp_path / "no-models", database_url=source)
    UserStore(source).add("ada", "correct horse", "admin")
    AuditLog(source).record(Who("ada", "10.0.0.1"), "document.delete", "old.pdf")
    first = JobQueue(source).submit("a.md", Path("a.md"))
    manifest = backup(live, open_store(live), tmp_path / "backup")
    assert {"users", "audit", "jobs"} <= set(manifest["tables"]) and manifest["databases"] == []

    restored = make_settings(tmp_path / "restored", tmp_path / "no-models", database_url=target)
    restore(restored, open_store(restored), tmp_path / "backup")
    assert UserStore(target).verify("ada", "correct horse", "10.0.0.9") is not None
    assert [r["target"] for r in AuditLog(target).rows(action="document")] == ["old.pdf"]
    assert JobQueue(target).job(first).source == "a.md"
    assert JobQueue(target).submit("b.md", Path("b.md")) == first + 1  # ids go on after the restored ones
    with pytest.raises(BackupError, match="not empty"):
        restore(restored, open_store(restored), tmp_path / "backup")
    sqlite_home = make_settings(tmp_path / "sqlite", tmp_path / "no-models")
    with pytest.raises(BackupError, match="database server's tables"):
        restore(sqlite_home, open_store(sqlite_home), tmp_path / "backup")
    assert not sqlite_home.app_db.exists()  # refused before anything was written
