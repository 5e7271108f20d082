"""Accounts of the app: admins (manage documents) and readers (ask), in SQLite, passwords hashed with argon2.

Failed logins are recorded per user name; after `attempts` failures within `lockout` the name is locked until
the oldest of them ages out, whatever password is tried (a correct one included).
"""

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

Role = Literal["admin", "reader"]
ROLES: tuple[Role, ...] = ("admin", "reader")
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failed_logins (name TEXT NOT NULL, at TEXT NOT NULL);
"""


class UserError(ValueError):
    """A user command that cannot be done; the message says why."""


class LoginLockedError(Exception):
    """Too many failed logins for this name; the message says until when."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: str


def _now() -> datetime:
    return datetime.now(UTC)


class UserStore:
    def __init__(self, path: Path, attempts: int = 5, lockout: timedelta = timedelta(minutes=15)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.attempts = attempts
        self.lockout = lockout
        self.hasher = PasswordHasher()
        self._dummy_hash = self.hasher.hash("not a password")  # unknown names take as long as known ones
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(self, name: str, password: str, role: Role = "reader") -> User:
        if not _NAME.match(name):
            raise UserError(f"'{name}' is not a valid user name: use letters, digits and . _ @ - (at most 64)")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
        self._check_password(password)
        user = User(name, role, _now().isoformat(timespec="seconds"))
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?)", (name, role, self.hasher.hash(password), user.created_at)
                )
        except sqlite3.IntegrityError as err:
            raise UserError(f"user '{name}' already exists (change the password with `passwd`)") from err
        return user

    def set_password(self, name: str, password: str) -> None:
        self._check_password(password)
        with self._connect() as db:
            changed = db.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (self.hasher.hash(password), name)
            ).rowcount
            db.execute("DELETE FROM failed_logins WHERE name = ?", (name,))
        if not changed:
            raise UserError(f"no user named '{name}'")

    def remove(self, name: str) -> None:
        with self._connect() as db:
            if not db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise UserError(f"no user named '{name}'")

    def users(self) -> list[User]:
        with self._connect() as db:
            rows = db.execute("SELECT name, role, created_at FROM users ORDER BY name").fetchall()
        return [User(*row) for row in rows]

    def has_admin(self) -> bool:
        return any(user.role == "admin" for user in self.users())

    def ensure_admin(self, password: str, name: str = "admin") -> bool:
        """Create the first admin when there is none (RAG_ADMIN_PASSWORD); True when it did."""
        if self.has_admin():
            return False
        self.add(name, password, "admin")
        return True

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right; None when not. Raises LoginLockedError while locked out."""
        since = (_now() - self.lockout).isoformat()
        with self._connect() as db:
            db.execute("DELETE FROM failed_logins WHERE at < ?", (since,))
            failures = [r[0] for r in db.execute("SELECT at FROM failed_logins WHERE name = ? ORDER BY at", (name,))]
            if len(failures) >= self.attempts:
                until = datetime.fromisoformat(failures[0]) + self.lockout
                raise LoginLockedError(
                    f"Too many failed logins for '{name}': try again after {until:%H:%M} UTC, "
                    "or ask an admin to reset the password."
                )
            row = db.execute("SELECT role, password_hash, created_at FROM users WHERE name = ?", (name,)).fetchone()
            if self._matches(row[1] if row else self._dummy_hash, password) and row is not None:
                db.execute("DELETE FROM failed_logins WHERE name = ?", (name,))
                return User(name, row[0], row[2])
            db.execute("INSERT INTO failed_logins VALUES (?, ?)", (name, _now().isoformat()))
        return None

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
