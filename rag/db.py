"""SQLite connections for the app's state (users, sign-ins, jobs, eval history), all opened the same way.

WAL lets readers go on while one process writes (the app, a worker and a CLI share app.db), and every
connection waits up to `timeout` seconds for a lock instead of failing at once.
"""

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


def connect(path: Path, timeout: float = BUSY_TIMEOUT_S, autocommit: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode; `autocommit` leaves transactions to explicit BEGIN ... COMMIT statements."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None if autocommit else "DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    db.row_factory = sqlite3.Row
    return db
