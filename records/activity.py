"""What readers did with answers, shared by every process through app.db: one row per answer served by the app
or the API (its timings and outcome, never its text), and readers' ratings of answers (thumbs up or down, an
optional comment and correction) with the question and answer as RAG_FEEDBACK_TEXT allows.

The Admin page charts the answers of the last day; the Reports page shows the share of good ratings over time
and the worst-rated answers; `python -m eval feedback-set` turns ratings into an eval set.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, delete, insert, select

from rag.db import METADATA, engine
from rag.observe import metrics
from rag.safety.pii import as_allowed
from rag.settings import InteractionLogging

Rating = Literal[1, -1]

ANSWERS = Table(
    "answers",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(64), nullable=False, index=True),  # a cached answer has the id of the one it repeats
    Column("at", String(32), nullable=False, index=True),
    Column("channel", String(16), nullable=False),  # app or api
    Column("user", String(200)),
    Column("outcome", String(16), nullable=False),  # answered, abstained, refused
    Column("mode", String(16), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("first_token_s", Float),
    Column("tokens", Integer, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of document names
)
RATINGS = Table(
    "ratings",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(64), nullable=False, index=True),
    Column("at", String(32), nullable=False, index=True),
    Column("user", String(200)),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("correction", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("channel", String(16), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


class ActivityLog:
    def __init__(
        self, database: Path | str, days: int = 90, text: InteractionLogging = "redacted", region: str = "US"
    ) -> None:
        self.engine = engine(database)
        self.days, self.text, self.region = days, text, region

    def answered(self, result: dict[str, Any], channel: str, user: str | None, timing: dict[str, Any]) -> None:
        """One answer served (`result`: the `rag ask --json` object; `timing`: seconds, first_token_s, tokens,
        cached); rows older than the retention go."""
        outcome = metrics.outcome(result["abstained"], bool(result.get("refused")))
        sources = sorted({s["source"] for s in result.get("sources", [])})
        row = {"answer_id": result["id"], "at": _now().isoformat(timespec="seconds"), "channel": channel, "user": user,
               "outcome": outcome, "mode": result.get("mode", "generated"), "seconds": float(timing["seconds"]),
               "first_token_s": timing.get("first_token_s"), "tokens": int(timing.get("tokens") or 0),
               "cached": bool(timing.get("cached")), "sources": json.dumps(sources)}  # fmt: skip
        cutoff = (_now() - timedelta(days=self.days)).isoformat()
        with self.engine.begin() as db:
            db.execute(insert(ANSWERS).values(**row))
            db.execute(delete(ANSWERS).where(ANSWERS.c.at < cutoff))

    def answers_since(self, hours: float = 24) -> list[dict[str, Any]]:
        since = (_now() - timedelta(hours=hours)).isoformat()
        with self.engine.connect() as db:
            rows = db.execute(select(ANSWERS).where(ANSWERS.c.at >= since).order_by(ANSWERS.c.at)).mappings().all()
        return [dict(row) for row in rows]

    def known(self, answer_id: str) -> bool:
        with self.engine.connect() as db:
            return db.execute(select(ANSWERS.c.id).where(ANSWERS.c.answer_id == answer_id)).first() is not None

    def _kept(self, text: str) -> str:
        return as_allowed(text, self.text, self.region)

    def rate(
        self,
        answer_id: str,
        rating: Rating,
        user: str | None,
        exchange: dict[str, Any],
        comment: str = "",
        correction: str = "",
        channel: str = "app",
    ) -> int:
        """Keep a rating of an answer; `exchange` holds its question, answer and sources (kept as RAG_FEEDBACK_TEXT
        allows). A second rating of the same answer by the same user replaces the first. The rating's id."""
        row = {"answer_id": answer_id, "at": _now().isoformat(timespec="seconds"), "user": user, "rating": rating,
               "comment": self._kept(comment.strip()), "correction": self._kept(correction.strip()),
               "question": self._kept(exchange.get("question", "")), "answer": self._kept(exchange.get("answer", "")),
               "sources": json.dumps(exchange.get("sources", [])), "channel": channel}  # fmt: skip
        with self.engine.begin() as db:
            db.execute(
                delete(RATINGS).where(RATINGS.c.answer_id == answer_id, RATINGS.c.user.is_not_distinct_from(user))
            )
            return int(db.execute(insert(RATINGS).values(**row)).inserted_primary_key[0])

    def ratings(self, since: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        query = select(RATINGS).order_by(RATINGS.c.at, RATINGS.c.id)
        if since:
            query = query.where(RATINGS.c.at >= since)
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [dict(row) | {"sources": json.loads(row["sources"])} for row in rows]


def good_share_by_day(ratings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{day, good share, up, down}] for the Reports page."""
    days: dict[str, list[int]] = {}
    for row in ratings:
        days.setdefault(row["at"][:10], []).append(row["rating"])
    return [{"day": day, "good": sum(r > 0 for r in rs) / len(rs), "up": sum(r > 0 for r in rs),
             "down": sum(r < 0 for r in rs)} for day, rs in days.items()]  # fmt: skip


def worst_rated(ratings: list[dict[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """The questions rated down most often (ties: the newest first)."""
    down: dict[str, dict[str, Any]] = {}
    for row in reversed(ratings):
        if row["rating"] > 0:
            continue
        key = row["question"] or row["answer_id"]
        entry = down.setdefault(key, {"question": row["question"], "answer": row["answer"], "down": 0,
                                      "comments": [], "last": row["at"]})  # fmt: skip
        entry["down"] += 1
        if row["comment"]:
            entry["comments"].append(row["comment"])
    return sorted(down.values(), key=lambda e: -e["down"])[:limit]
