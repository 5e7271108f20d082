"""The history of evaluation runs in SQLite (`RAG_DATA_DIR/eval_history.db`): written by `python -m eval run`,
read by the Reports page for its trend."""

import json
import sqlite3
from pathlib import Path
from typing import Any

from rag.db import connect

TREND_METRICS = ["grounding_check", "token_f1", "source_hit", "abstention_rate"]


class History:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, created_at TEXT, set_name TEXT, "
                "summary TEXT, folder TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def add(self, report: dict[str, Any], folder: Path) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)",
                (report["run_id"], report["created_at"], report["set"], json.dumps(report["summary"]), str(folder)),
            )

    def runs(self, set_name: str | None = None) -> list[dict[str, Any]]:
        """Past runs, oldest first."""
        query, args = "SELECT * FROM runs ORDER BY created_at, run_id", ()
        if set_name is not None:
            query, args = "SELECT * FROM runs WHERE set_name = ? ORDER BY created_at, run_id", (set_name,)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        return [
            {"run_id": r[0], "created_at": r[1], "set": r[2], "summary": json.loads(r[3]), "folder": r[4]} for r in rows
        ]
