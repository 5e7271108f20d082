"""The interaction log: questions and answers kept for review, only when RAG_LOG_INTERACTIONS asks for it
(off by default), with personal data redacted in `redacted` mode, and deleted after RAG_INTERACTION_DAYS."""

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rag.db import connect
from rag.safety.pii import redact

LogMode = Literal["off", "redacted", "full"]
_SCHEMA = """CREATE TABLE IF NOT EXISTS interactions (
    at TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL,
    abstained INTEGER NOT NULL, refused INTEGER NOT NULL, guard TEXT NOT NULL)"""


class InteractionLog:
    def __init__(self, path: Path, mode: LogMode, days: int, region: str = "US") -> None:
        self.path, self.mode, self.days, self.region = path, mode, days, region

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path)
        db.execute(_SCHEMA)
        return db

    def _text(self, text: str) -> str:
        return redact(text, self.region)[0] if self.mode == "redacted" else text

    def record(
        self, question: str, answer: str, sources: list[str], abstained: bool, refused: bool, guard: list[str]
    ) -> None:
        """Keep one exchange (nothing when off) and delete the ones older than the retention."""
        if self.mode == "off":
            return
        now = datetime.now(UTC)
        row = (now.isoformat(timespec="seconds"), self._text(question), self._text(answer), json.dumps(sources),
               int(abstained), int(refused), json.dumps(guard))  # fmt: skip
        with self._db() as db:
            db.execute("INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            db.execute("DELETE FROM interactions WHERE at < ?", ((now - timedelta(days=self.days)).isoformat(),))

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM interactions ORDER BY at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [dict(row) | {"sources": json.loads(row["sources"]), "guard": json.loads(row["guard"])} for row in rows]
