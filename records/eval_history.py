"""The history of evaluation runs, in the app's database: written by `python -m eval run` (and `redteam`,
`schedule`), read by the Reports page for its trend. Runs kept in the `eval_history.db` file of earlier versions
are brought over once."""

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Column, String, Table, Text, delete, func, insert, select

from rag.db import METADATA, engine, insert_new
from rag.settings import Settings

TREND_METRICS = ["grounding_check", "token_f1", "source_hit", "abstention_rate"]
RUNS = Table(
    "runs",
    METADATA,
    Column("run_id", String(64), primary_key=True),
    Column("created_at", String(32)),
    Column("set_name", Text),
    Column("summary", Text),
    Column("folder", Text),
)
LEGACY = "eval_history.db"


class History:
    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)

    @classmethod
    def from_settings(cls, settings: Settings) -> "History":
        history = cls(settings.database)
        history.bring_over(settings.data_dir / LEGACY)
        return history

    def bring_over(self, legacy: Path) -> int:
        """Copy the runs of an earlier version's eval_history.db once (when this database has none)."""
        if not legacy.is_file():
            return 0
        with self.engine.connect() as db:
            if db.execute(select(func.count()).select_from(RUNS)).scalar_one():
                return 0
        with closing(sqlite3.connect(legacy)) as old:
            old.row_factory = sqlite3.Row
            rows = old.execute("SELECT run_id, created_at, set_name, summary, folder FROM runs").fetchall()
        with self.engine.begin() as db:
            for row in rows:
                insert_new(db, RUNS, **dict(row))
        return len(rows)

    def add(self, report: dict[str, Any], folder: Path) -> None:
        row = {"run_id": report["run_id"], "created_at": report["created_at"], "set_name": report["set"],
               "summary": json.dumps(report["summary"]), "folder": str(folder)}  # fmt: skip
        with self.engine.begin() as db:
            db.execute(delete(RUNS).where(RUNS.c.run_id == report["run_id"]))
            db.execute(insert(RUNS).values(**row))

    def runs(self, set_name: str | None = None) -> list[dict[str, Any]]:
        """Past runs, oldest first."""
        query = select(RUNS).order_by(RUNS.c.created_at, RUNS.c.run_id)
        if set_name is not None:
            query = query.where(RUNS.c.set_name == set_name)
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [{"run_id": r["run_id"], "created_at": r["created_at"], "set": r["set_name"],
                 "summary": json.loads(r["summary"]), "folder": r["folder"]} for r in rows]  # fmt: skip
