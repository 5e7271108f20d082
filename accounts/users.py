"""Accounts of the app: admins (manage documents) and readers (ask), in the app's database (rag/db.py), passwords
hashed with argon2.

Sign-ins are throttled, never locked: every attempt is recorded with the client it came from (an IP address),
and a client that keeps failing must wait longer and longer before it may try again (1 s, 2 s, 4 s ... up to
`window`), both over all names it tries and for each name it has failed on. A client that has not failed on
a name is never held back by other clients' failures on it, so guessing at `admin` from one place cannot keep
the real admin out. The password check (argon2, ~50 ms by design) runs outside any database transaction.
"""

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Column, Float, Integer, String, Table, Text, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from rag.db import METADATA, engine

Role = Literal["admin", "reader"]
ROLES: tuple[Role, ...] = ("admin", "reader")
MIN_PASSWORD = 8
KEEP_SIGN_INS = timedelta(days=30)  # how long attempts are kept (the throttle looks back `window` only)
FIRST_DELAY_S = 1.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

USERS = Table(
    "users",
    METADATA,
    Column("name", String(200), primary_key=True),
    Column("role", String(64), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)
SIGN_INS = Table(
    "sign_ins",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("client", String(200), nullable=False),
    Column("at", Float, nullable=False),
    Column("outcome", String(64), nullable=False),
)


class UserError(ValueError):
    """A user command that cannot be done; the message says why."""


class SignInThrottledError(Exception):
    """This client failed too often lately; `retry_after` says in how many seconds it may try again."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"Too many failed sign-ins from here: wait {self.retry_after} s and try again.")


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: str
    stamp: str = ""  # changes with the password: a session signed in before a change is no longer valid


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def throttle_delay(failures: int, free: int, window: float) -> float:
    """Seconds to wait after the last failure: none for the first `free` failures, then doubling."""
    if failures < free:
        return 0.0
    return min(FIRST_DELAY_S * 2.0 ** (failures - free), window)


class UserStore:
    def __init__(
        self,
        database: Path | str,
        attempts: int = 5,
        window: timedelta = timedelta(minutes=15),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine(database)
        self.attempts = attempts  # failures a client may make before it has to wait
        self.window = window.total_seconds()  # failures older than this are forgotten
        self.clock = clock
        self.hasher = PasswordHasher()
        self._dummy_hash = self.hasher.hash("not a password")  # unknown names take as long as known ones

    def add(self, name: str, password: str, role: Role = "reader") -> User:
        if not _NAME.match(name):
            raise UserError(f"'{name}' is not a valid user name: use letters, digits and . _ @ - (at most 64)")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
        self._check_password(password)
        password_hash = self.hasher.hash(password)
        created_at = _iso_now()
        row = {"name": name, "role": role, "password_hash": password_hash, "created_at": created_at}
        try:
            with self.engine.begin() as db:
                db.execute(insert(USERS).values(**row))
        except IntegrityError as err:
            raise UserError(f"user '{name}' already exists (change the password with `passwd`)") from err
        return User(name, role, created_at, _stamp(password_hash))

    def set_password(self, name: str, password: str) -> None:
        """A new password; it also ends the user's signed-in sessions and lets every client try again."""
        self._check_password(password)
        password_hash = self.hasher.hash(password)
        with self.engine.begin() as db:
            changed = db.execute(update(USERS).where(USERS.c.name == name).values(password_hash=password_hash)).rowcount
            db.execute(delete(SIGN_INS).where(SIGN_INS.c.name == name, SIGN_INS.c.outcome == "failed"))
        if not changed:
            raise UserError(f"no user named '{name}'")

    def set_role(self, name: str, role: Role) -> None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
        with self.engine.begin() as db:
            if not db.execute(update(USERS).where(USERS.c.name == name).values(role=role)).rowcount:
                raise UserError(f"no user named '{name}'")

    def remove(self, name: str) -> None:
        with self.engine.begin() as db:
            if not db.execute(delete(USERS).where(USERS.c.name == name)).rowcount:
                raise UserError(f"no user named '{name}'")

    def get(self, name: str) -> User | None:
        """The user as stored now (its role and password stamp), or None when it no longer exists."""
        row = self._row(name)
        return User(name, row["role"], row["created_at"], _stamp(row["password_hash"])) if row else None

    def _row(self, name: str) -> Any:
        with self.engine.connect() as db:
            return db.execute(select(USERS).where(USERS.c.name == name)).mappings().first()

    def users(self) -> list[User]:
        with self.engine.connect() as db:
            rows = db.execute(select(USERS).order_by(USERS.c.name)).mappings().all()
        return [User(r["name"], r["role"], r["created_at"], _stamp(r["password_hash"])) for r in rows]

    def has_admin(self) -> bool:
        return any(user.role == "admin" for user in self.users())

    def ensure_admin(self, password: str, name: str = "admin") -> bool:
        """Create the first admin when there is none (RAG_ADMIN_PASSWORD); True when it did."""
        if self.has_admin():
            return False
        self.add(name, password, "admin")
        return True

    def verify(self, name: str, password: str, client: str = "local") -> User | None:
        """The user when the password is right; None when not. Raises SignInThrottledError when `client` must
        wait first (the password is then not checked). Every attempt is recorded."""
        now = self.clock()
        wait = self.wait_for(name, client, now)
        if wait > 0:
            self._record(name, client, now, "throttled")
            raise SignInThrottledError(wait)
        row = self._row(name)
        ok = self._matches(row["password_hash"] if row else self._dummy_hash, password) and row is not None
        self._record(name, client, now, "ok" if ok else "failed")
        return User(name, row["role"], row["created_at"], _stamp(row["password_hash"])) if ok else None

    def wait_for(self, name: str, client: str, now: float) -> float:
        """Seconds `client` must wait before its next attempt at `name` (0: it may try now)."""
        since = now - self.window
        failed = (SIGN_INS.c.at > since) & (SIGN_INS.c.outcome == "failed")
        mine = func.sum(case((SIGN_INS.c.client == client, 1), else_=0))
        with self.engine.connect() as db:
            by_client = db.execute(
                select(func.count(), func.max(SIGN_INS.c.at)).where(failed, SIGN_INS.c.client == client)
            ).one()
            by_name = db.execute(
                select(func.count(), func.max(SIGN_INS.c.at), mine).where(failed, SIGN_INS.c.name == name)
            ).one()
        waits = [0.0]
        if by_client[0]:
            waits.append(by_client[1] + throttle_delay(by_client[0], self.attempts, self.window) - now)
        if by_name[2]:  # this client has failed on this name: the name's own throttle applies to it
            waits.append(by_name[1] + throttle_delay(by_name[0], self.attempts, self.window) - now)
        return max(waits)

    def _record(self, name: str, client: str, at: float, outcome: str) -> None:
        with self.engine.begin() as db:
            db.execute(insert(SIGN_INS).values(name=name, client=client, at=at, outcome=outcome))
            db.execute(delete(SIGN_INS).where(SIGN_INS.c.at < at - KEEP_SIGN_INS.total_seconds()))

    def sign_ins(self, limit: int = 100) -> list[dict[str, object]]:
        """The latest recorded attempts, newest first."""
        with self.engine.connect() as db:
            newest = select(SIGN_INS).order_by(SIGN_INS.c.at.desc(), SIGN_INS.c.id.desc()).limit(limit)
            rows = db.execute(newest).mappings().all()
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
