"""Counts of what the guardrails did (questions refused, passages dropped, personal data redacted), per day and
document, in the app's database: the Admin page shows them. Only kinds and document names are kept, never
question text."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, String, Table, Text, func, select

from rag.db import METADATA, engine, upsert_add

EVENTS = Table(
    "guard_events",
    METADATA,
    Column("day", String(32), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("source", Text, primary_key=True, server_default=""),
    Column("count", Integer, nullable=False),
)


class GuardEvents:
    def __init__(self, database: Path | str) -> None:
        self.database = database  # opened at first use: a pipeline that never records needs no database

    def record(self, kinds: list[tuple[str, str]]) -> None:
        """Count (kind, source) pairs; source is "" when no document is involved."""
        if not kinds:
            return
        day = datetime.now(UTC).date().isoformat()
        with engine(self.database).begin() as db:
            for (kind, source), count in Counter(kinds).items():
                upsert_add(db, EVENTS, "count", day=day, kind=kind, source=source, count=count)

    def totals(self, days: int | None = None) -> dict[str, int]:
        """Count per kind, over the last `days` days (all time when None)."""
        since = "" if days is None else (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
        query = (
            select(EVENTS.c.kind, func.sum(EVENTS.c.count))
            .where(EVENTS.c.day >= since)
            .group_by(EVENTS.c.kind)
            .order_by(EVENTS.c.kind)
        )
        with engine(self.database).connect() as db:
            return {kind: int(total) for kind, total in db.execute(query)}

    def per_document(self) -> dict[str, dict[str, int]]:
        query = (
            select(EVENTS.c.source, EVENTS.c.kind, func.sum(EVENTS.c.count))
            .where(EVENTS.c.source != "")
            .group_by(EVENTS.c.source, EVENTS.c.kind)
        )
        found: dict[str, dict[str, int]] = {}
        with engine(self.database).connect() as db:
            for source, kind, total in db.execute(query):
                found.setdefault(source, {})[kind] = int(total)
        return found
