"""The app's state database (users, sign-ins, jobs, audit, feedback, eval history), all opened the same way.

WAL lets readers go on while one process writes (the app, a worker and a CLI share app.db), and every
connection waits up to `timeout` seconds for a lock instead of failing at once.

Newer tables (audit, activity, feedback) are SQLAlchemy Core tables on `METADATA`, reached through `engine`.
"""

import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event

BUSY_TIMEOUT_S = 30.0
METADATA = MetaData()
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def connect(path: Path, timeout: float = BUSY_TIMEOUT_S, autocommit: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode; `autocommit` leaves transactions to explicit BEGIN ... COMMIT statements."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None if autocommit else "DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    db.row_factory = sqlite3.Row
    return db


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


def engine(path: Path, *tables: Table) -> Engine:
    """One SQLAlchemy engine per database file and process (engines pool their connections), with `tables`
    created when missing."""
    url = f"sqlite:///{path.resolve()}"
    with _lock:
        if url not in _engines:
            path.parent.mkdir(parents=True, exist_ok=True)
            made = create_engine(url)
            event.listen(made, "connect", _sqlite_pragmas)
            _engines[url] = made
    METADATA.create_all(_engines[url], tables=list(tables))
    return _engines[url]
