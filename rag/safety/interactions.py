"""The interaction log: questions and answers kept for review, only when RAG_LOG_INTERACTIONS asks for it
(off by default), with personal data redacted in `redacted` mode, and deleted after RAG_INTERACTION_DAYS."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, Integer, String, Table, Text, delete, insert, select

from rag.db import METADATA, engine
from rag.safety.pii import as_allowed

LogMode = Literal["off", "redacted", "full"]
INTERACTIONS = Table(
    "interactions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("abstained", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("guard", Text, nullable=False),
)


class InteractionLog:
    def __init__(self, database: Path | str, mode: LogMode, days: int, region: str = "US") -> None:
        self.database, self.mode, self.days, self.region = database, mode, days, region

    def _text(self, text: str) -> str:
        return as_allowed(text, self.mode, self.region)

    def record(
        self, question: str, answer: str, sources: list[str], abstained: bool, refused: bool, guard: list[str]
    ) -> None:
        """Keep one exchange (nothing when off) and delete the ones older than the retention."""
        if self.mode == "off":
            return
        now = datetime.now(UTC)
        row = {"at": now.isoformat(timespec="seconds"), "question": self._text(question), "answer": self._text(answer),
               "sources": json.dumps(sources), "abstained": int(abstained), "refused": int(refused),
               "guard": json.dumps(guard)}  # fmt: skip
        with engine(self.database).begin() as db:
            db.execute(insert(INTERACTIONS).values(**row))
            db.execute(delete(INTERACTIONS).where(INTERACTIONS.c.at < (now - timedelta(days=self.days)).isoformat()))

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        newest = select(INTERACTIONS).order_by(INTERACTIONS.c.at.desc(), INTERACTIONS.c.id.desc()).limit(limit)
        with engine(self.database).connect() as db:
            rows = db.execute(newest).mappings().all()
        return [{k: v for k, v in row.items() if k != "id"} | {"sources": json.loads(row["sources"]),
                "guard": json.loads(row["guard"])} for row in rows]  # fmt: skip
