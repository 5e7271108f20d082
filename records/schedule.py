"""Evaluations started and scheduled from the Reports page, kept in the app's database so that any evaluation
service (`python -m eval scheduler`, on any host) runs them and a restart loses nothing:

    the schedule   one row: which set, when (a cron expression), which judge, with the red-team set or not
    requests       a run asked for (by an admin, or by the schedule when it is due), claimed by one service
                   with a row lock, then done (with its run id and report folder) or failed (with the reason)
    services       each running evaluation service's last sign of life, so the page can say whether one runs
"""

import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, delete, insert, select, update

from rag.db import METADATA, claim_oldest, engine

Judge = Literal["none", "endpoint", "local"]
ALIVE_S = 60.0  # a service seen within this long is taken as running

SCHEDULE = Table(
    "eval_schedule",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("set_path", Text, nullable=False),
    Column("cron", String(100), nullable=False),
    Column("judge", String(16), nullable=False),
    Column("redteam", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_by", String(200)),
    Column("updated_at", String(32), nullable=False),
    Column("last_fired_at", String(32)),
)
REQUESTS = Table(
    "eval_requests",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("set_path", Text, nullable=False),
    Column("judge", String(16), nullable=False),
    Column("redteam", Boolean, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("started_at", String(32)),
    Column("finished_at", String(32)),
    Column("message", Text, nullable=False, default=""),
    Column("run_id", String(64)),
    Column("folder", Text),
    Column("worker", String(200)),
)
SERVICES = Table(
    "eval_services",
    METADATA,
    Column("id", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("seen_at", Float, nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def cron_trigger(expression: str) -> CronTrigger:
    """A trigger from 5 crontab fields (minute hour day month weekday), or 6 with seconds first; ValueError with
    what is wrong otherwise."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    if len(fields) == 6:
        second, minute, hour, day, month, weekday = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                           timezone=UTC)  # fmt: skip
    raise ValueError(f"'{expression}' has {len(fields)} fields; give 5 (crontab) or 6 (seconds first)")


@dataclass(frozen=True)
class Schedule:
    set_path: str
    cron: str
    judge: str
    redteam: bool
    enabled: bool
    updated_by: str | None
    updated_at: str
    last_fired_at: str | None

    def next_run(self) -> datetime | None:
        """When the schedule fires next (after its last run, or after it was set); None when paused."""
        if not self.enabled:
            return None
        after = datetime.fromisoformat(self.last_fired_at or self.updated_at) + timedelta(seconds=1)
        return cron_trigger(self.cron).get_next_fire_time(None, after)


@dataclass(frozen=True)
class EvalRequest:
    id: int
    set_path: str
    judge: str
    redteam: bool
    requested_by: str
    requested_at: str
    state: str
    started_at: str | None
    finished_at: str | None
    message: str
    run_id: str | None
    folder: str | None
    worker: str | None


class EvalSchedule:
    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)

    def set(self, set_path: str, cron: str, judge: Judge, redteam: bool, enabled: bool, by: str | None) -> Schedule:
        """Set or change the schedule (ValueError for a cron expression that is not one)."""
        cron_trigger(cron)
        row = {"set_path": set_path, "cron": cron.strip(), "judge": judge, "redteam": redteam, "enabled": enabled,
               "updated_by": by, "updated_at": _now().isoformat(timespec="seconds"), "last_fired_at": None}  # fmt: skip
        with self.engine.begin() as db:
            db.execute(delete(SCHEDULE))
            db.execute(insert(SCHEDULE).values(id=1, **row))
        return Schedule(**row)

    def get(self) -> Schedule | None:
        with self.engine.connect() as db:
            row = db.execute(select(SCHEDULE).where(SCHEDULE.c.id == 1)).mappings().first()
        return Schedule(**{k: v for k, v in row.items() if k != "id"}) if row else None

    def fire_if_due(self, now: datetime | None = None) -> int | None:
        """When the schedule is due, request its run (once, however many services look at the same time: the
        first to move its last run time wins); the request's id."""
        now = now or _now()
        schedule = self.get()
        due = schedule.next_run() if schedule else None
        if schedule is None or due is None or due > now:
            return None
        with self.engine.begin() as db:
            moved = db.execute(
                update(SCHEDULE)
                .where(SCHEDULE.c.id == 1, SCHEDULE.c.last_fired_at.is_not_distinct_from(schedule.last_fired_at))
                .values(last_fired_at=now.isoformat(timespec="seconds"))
            ).rowcount
        if not moved:
            return None
        return self.request(schedule.set_path, schedule.judge, schedule.redteam, "schedule")  # type: ignore[arg-type]

    def request(self, set_path: str, judge: Judge, redteam: bool, by: str) -> int:
        row = {"set_path": set_path, "judge": judge, "redteam": redteam, "requested_by": by,
               "requested_at": _now().isoformat(timespec="seconds"), "state": "queued", "message": ""}  # fmt: skip
        with self.engine.begin() as db:
            return int(db.execute(insert(REQUESTS).values(**row)).inserted_primary_key[0])

    def claim(self, service: str) -> EvalRequest | None:
        with self.engine.begin() as db:
            found = claim_oldest(db, REQUESTS, worker=service, started_at=_now().isoformat(timespec="seconds"))
        return None if found is None else self.request_by_id(found)

    def finish(self, request_id: int, state: str, message: str, run_id: str | None = None, folder: Any = None) -> None:
        finished = _now().isoformat(timespec="seconds")
        values = {"state": state, "message": message, "run_id": run_id, "finished_at": finished,
                  "folder": None if folder is None else str(folder)}  # fmt: skip
        with self.engine.begin() as db:
            db.execute(update(REQUESTS).where(REQUESTS.c.id == request_id).values(**values))

    def request_by_id(self, request_id: int) -> EvalRequest:
        with self.engine.connect() as db:
            row = db.execute(select(REQUESTS).where(REQUESTS.c.id == request_id)).mappings().one()
        return EvalRequest(**row)

    def requests(self, limit: int = 20) -> list[EvalRequest]:
        """The newest first."""
        with self.engine.connect() as db:
            rows = db.execute(select(REQUESTS).order_by(REQUESTS.c.id.desc()).limit(limit)).mappings().all()
        return [EvalRequest(**row) for row in rows]

    def beat(self, service: str) -> None:
        """`service` is alive; runs left `running` by services gone silent are failed (the service stopped)."""
        now = time.time()
        with self.engine.begin() as db:
            db.execute(delete(SERVICES).where(SERVICES.c.id == service))
            db.execute(insert(SERVICES).values(id=service, host=socket.gethostname(), seen_at=now))
            alive = select(SERVICES.c.id).where(SERVICES.c.seen_at >= now - ALIVE_S)
            db.execute(
                update(REQUESTS).where(REQUESTS.c.state == "running", REQUESTS.c.worker.not_in(alive))
                .values(state="failed", message="the evaluation service stopped during the run; start it again",
                        finished_at=_now().isoformat(timespec="seconds"))
            )  # fmt: skip

    def services(self) -> list[dict[str, Any]]:
        """Services seen within ALIVE_S."""
        with self.engine.connect() as db:
            rows = db.execute(select(SERVICES).where(SERVICES.c.seen_at >= time.time() - ALIVE_S)).mappings().all()
        return [dict(row) for row in rows]
