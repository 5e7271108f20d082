"""The audit trail: who did what, when and from where (sign-ins, uploads, deletes, re-ingests, moves, user, key,
group and collection changes, the settings a process started with). Rows are only ever added: nothing in the
product updates or deletes them (`python -m rag restore` brings back a backup's trail whole).

    actor   the signed-in user, the API key's user, or `cli:<os user>` for the command line
    action  a dotted name: sign_in.ok, sign_in.failed, sign_in.locked, document.upload, user.add, ...
    target  what it was done to (a document, a user, a key id, a collection)
    origin  the client address (browser or API), or `cli@<host>`
"""

import csv
import getpass
import io
import json
import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, insert, select

from rag.db import METADATA, engine

log = logging.getLogger("audit")

AUDIT = Table(
    "audit",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False, index=True),
    Column("target", String(1000), nullable=False, default=""),
    Column("origin", String(200), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
)
COLUMNS = ["at", "actor", "action", "target", "origin", "detail"]


@dataclass(frozen=True)
class Who:
    """The actor and where the action came from."""

    actor: str
    origin: str


def this_host() -> Who:
    """The product itself, on this host (a process's start)."""
    return Who("system", socket.gethostname())


def command_line() -> Who:
    """The person at a terminal, as the operating system knows them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        user = "unknown"
    return Who(f"cli:{user}", f"cli@{socket.gethostname()}")


class AuditLog:
    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)

    def record(self, who: Who, action: str, target: str = "", **detail: Any) -> None:
        """Add one row (and log it: the trail is also in the process's log)."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        row = {"at": at, "actor": who.actor, "action": action, "target": target, "origin": who.origin,
               "detail": json.dumps(detail, sort_keys=True, default=str)}  # fmt: skip
        with self.engine.begin() as db:
            db.execute(insert(AUDIT).values(**row))
        log.info("audit", extra={"action": action, "actor": who.actor, "target": target, "origin": who.origin})

    def rows(
        self,
        since: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The newest rows first; `since` an ISO date or time, `action` a prefix (`sign_in` matches all three)."""
        query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
        if since:
            query = query.where(AUDIT.c.at >= since)
        if actor:
            query = query.where(AUDIT.c.actor == actor)
        if action:
            query = query.where(AUDIT.c.action.startswith(action, autoescape=True))
        with self.engine.connect() as db:
            found = db.execute(query).mappings().all()
        return [{name: row[name] for name in COLUMNS} | {"detail": json.loads(row["detail"])} for row in found]

    def last(self, action: str) -> dict[str, Any] | None:
        found = self.rows(action=action, limit=1)
        return found[0] if found else None


def record_command(database: Path | str, action: str, target: str = "", **detail: Any) -> None:
    """An action done from the command line, by the operating-system user at it."""
    AuditLog(database).record(command_line(), action, target, **detail)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading =, +, - or @ (a document's name, say) is not run as a
    formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _cell(json.dumps(row[name], sort_keys=True) if name == "detail" else row[name])
                         for name in COLUMNS})  # fmt: skip
    return out.getvalue()


def record_settings(audit: AuditLog, who: Who, settings: dict[str, Any], process: str) -> None:
    """At a process's start: a `settings.changed` row naming what differs from the settings the last process
    started with (the first start records them all), nothing when they are the same."""
    previous = audit.last("settings.")
    before = previous["detail"].get("settings", {}) if previous else {}
    changed = sorted(name for name in set(settings) | set(before) if settings.get(name) != before.get(name))
    if changed:
        audit.record(who, "settings.changed", process, changed=changed, settings=settings)
