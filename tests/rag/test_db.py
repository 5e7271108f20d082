"""The app's SQLite files (users and sign-ins, jobs, eval history) are all opened in WAL mode with one busy
timeout, so a writer never blocks readers and nobody gives up on a lock after SQLite's default 5 s."""

from pathlib import Path

from accounts.users import UserStore
from ingest.jobs import JobQueue
from rag.db import BUSY_TIMEOUT_S
from records.eval_history import History


def test_every_store_of_app_state_uses_wal_and_waits_for_locks(tmp_path: Path) -> None:
    connections = [
        UserStore(tmp_path / "app.db")._connect(),
        JobQueue(tmp_path / "app.db")._connect(),
        History(tmp_path / "eval_history.db")._connect(),
    ]
    for db in connections:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_S * 1000
        db.close()
