"""Counts of what the guardrails did (questions refused, passages dropped, personal data redacted), per day and
document, in app.db: the Admin page shows them. Only kinds and document names are kept, never question text."""

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.db import connect

_SCHEMA = """CREATE TABLE IF NOT EXISTS guard_events (
    day TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL,
    PRIMARY KEY (day, kind, source))"""


class GuardEvents:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path)
        db.execute(_SCHEMA)
        return db

    def record(self, kinds: list[tuple[str, str]]) -> None:
        """Count (kind, source) pairs; source is "" when no document is involved."""
        if not kinds:
            return
        day = datetime.now(UTC).date().isoformat()
        with self._db() as db:
            for (kind, source), count in Counter(kinds).items():
                db.execute(
                    "INSERT INTO guard_events VALUES (?, ?, ?, ?) ON CONFLICT (day, kind, source) "
                    "DO UPDATE SET count = count + excluded.count",
                    (day, kind, source, count),
                )

    def totals(self, days: int | None = None) -> dict[str, int]:
        """Count per kind, over the last `days` days (all time when None)."""
        since = "" if days is None else (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
        with self._db() as db:
            rows = db.execute(
                "SELECT kind, SUM(count) FROM guard_events WHERE day >= ? GROUP BY kind ORDER BY kind", (since,)
            ).fetchall()
        return {kind: int(total) for kind, total in rows}

    def per_document(self) -> dict[str, dict[str, int]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT source, kind, SUM(count) FROM guard_events WHERE source != '' GROUP BY source, kind"
            ).fetchall()
        found: dict[str, dict[str, int]] = {}
        for source, kind, total in rows:
            found.setdefault(source, {})[kind] = int(total)
        return found
