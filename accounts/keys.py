"""API keys: one or more per user, for the HTTP API (`Authorization: Bearer KEY`).

A key is `dq_<id>_<secret>`: the id finds the record, the secret (32 random bytes) is checked against its SHA-256
(a key is random, not a password: one fast hash cannot be guessed back, and checking it costs nothing per
request). Only the hash is stored; the key is shown once, when it is created. The role is the user's current
role, so demoting or removing a user takes effect on the user's keys at once; revoked keys stop working at once.
"""

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from accounts.users import SCHEMA as USERS_SCHEMA
from accounts.users import Role
from rag.db import connect

PREFIX = "dq"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL,
    revoked_at TEXT);
"""


class ApiKeyError(ValueError):
    """A key operation that cannot be done (unknown user or key); the message says why."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    user: str
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who an API request comes from: a key's user and role, or an anonymous reader (key None)."""

    user: str | None
    role: Role
    key: str | None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(USERS_SCHEMA + SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def create(self, user: str) -> tuple[str, ApiKey]:
        """A new key for an existing user: (the key, to be shown once; its record)."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                raise ApiKeyError(f"No user '{user}': add one with `python -m rag users add {user}`.")
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            record = ApiKey(key_id, user, datetime.now(UTC).isoformat(timespec="seconds"))
            db.execute(
                "INSERT INTO api_keys (id, user, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
                (key_id, user, _sha256(secret), record.created_at),
            )
        return f"{PREFIX}_{key_id}_{secret}", record

    def keys(self, user: str | None = None) -> list[ApiKey]:
        query = "SELECT id, user, created_at, revoked_at FROM api_keys"
        args: tuple[str, ...] = ()
        if user is not None:
            query, args = query + " WHERE user = ?", (user,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at, id", args).fetchall()
        return [ApiKey(**dict(row)) for row in rows]

    def revoke(self, key_id: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as db:
            found = db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, key_id))
            if found.rowcount == 0:
                raise ApiKeyError(f"No active key with id {key_id}: see `python -m rag keys list`.")

    def caller(self, key: str) -> Caller | None:
        """The user and role a key stands for; None for a malformed, unknown or revoked key, or a removed user."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT k.secret_sha256, k.user, u.role FROM api_keys k JOIN users u ON u.name = k.user "
                "WHERE k.id = ? AND k.revoked_at IS NULL",
                (parts[1],),
            ).fetchone()
        if row is None or not hmac.compare_digest(row["secret_sha256"], _sha256(parts[2])):
            return None
        return Caller(row["user"], row["role"], parts[1])
