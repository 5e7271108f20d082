"""The app's database (rag/db.py): one engine per database, SQLite in WAL mode with one busy timeout, and the
schema made and upgraded by Alembic, older app.db files included."""

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from accounts.users import UserStore
from ingest.jobs import JobQueue
from rag.db import BUSY_TIMEOUT_S, MIGRATIONS, engine
from records.eval_history import History


def newest_migration() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def test_every_store_shares_one_engine_in_wal_mode_that_waits_for_locks(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    engines = {id(UserStore(path).engine), id(JobQueue(path).engine), id(History(path).engine)}
    assert len(engines) == 1
    with engine(path).connect() as db:
        assert db.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_S * 1000
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == newest_migration()


def test_an_app_db_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as old, old:
        old.execute("CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, "
                    "created_at TEXT NOT NULL)")  # fmt: skip
        old.execute("INSERT INTO users VALUES ('ada', 'admin', 'x', '2025-01-01')")
        old.execute("CREATE TABLE sign_ins (name TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL, "
                    "outcome TEXT NOT NULL)")  # fmt: skip
        old.execute("INSERT INTO sign_ins VALUES ('ada', '10.0.0.1', 1.0, 'failed')")
        old.execute("CREATE TABLE failed_logins (name TEXT)")
    users = UserStore(path)
    assert [(u.name, u.role) for u in users.users()] == [("ada", "admin")]  # rows kept
    assert users.sign_ins() == [{"name": "ada", "client": "10.0.0.1", "at": 1.0, "outcome": "failed"}]
    tables = set(inspect(users.engine).get_table_names())
    assert {"jobs", "audit", "ratings", "runs", "alembic_version"} <= tables and "failed_logins" not in tables
    assert "id" in {column["name"] for column in inspect(users.engine).get_columns("sign_ins")}


def test_eval_runs_of_an_earlier_eval_history_file_are_brought_over_once(tmp_path: Path) -> None:
    legacy = tmp_path / "eval_history.db"
    with closing(sqlite3.connect(legacy)) as old, old:
        old.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, created_at TEXT, set_name TEXT, summary TEXT, "
                    "folder TEXT)")  # fmt: skip
        old.execute("INSERT INTO runs VALUES ('r1', '2025-01-01', 'set.jsonl', '{\"token_f1\": 0.5}', '/tmp/r1')")
    history = History(tmp_path / "app.db")
    assert history.bring_over(legacy) == 1 and history.bring_over(legacy) == 0
    assert history.runs() == [{"run_id": "r1", "created_at": "2025-01-01", "set": "set.jsonl",
                               "summary": {"token_f1": 0.5}, "folder": "/tmp/r1"}]  # fmt: skip
