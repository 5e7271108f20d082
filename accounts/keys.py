"""API keys: one or more per user, for the HTTP API (`Authorization: Bearer KEY`).

A key is `dq_<id>_<secret>`: the id finds the record, the secret (32 random bytes) is checked against its SHA-256
(a key is random, not a password: one fast hash cannot be guessed back, and checking it costs nothing per
request). Only the hash is stored; the key is shown once, when it is created. The role is the user's current
role, so demoting or removing a user takes effect on the user's keys at once; revoked keys stop working at once.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, String, Table, insert, select, update

from accounts.users import USERS, Role
from rag.db import METADATA, engine

PREFIX = "dq"

KEYS = Table(
    "api_keys",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("user", String(200), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)


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
    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)

    def create(self, user: str) -> tuple[str, ApiKey]:
        """A new key for an existing user: (the key, to be shown once; its record)."""
        with self.engine.begin() as db:
            if db.execute(select(USERS.c.name).where(USERS.c.name == user)).first() is None:
                raise ApiKeyError(f"No user '{user}': add one with `python -m rag users add {user}`.")
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            record = ApiKey(key_id, user, datetime.now(UTC).isoformat(timespec="seconds"))
            db.execute(
                insert(KEYS).values(id=key_id, user=user, secret_sha256=_sha256(secret), created_at=record.created_at)
            )
        return f"{PREFIX}_{key_id}_{secret}", record

    def keys(self, user: str | None = None) -> list[ApiKey]:
        query = select(KEYS.c.id, KEYS.c.user, KEYS.c.created_at, KEYS.c.revoked_at)
        if user is not None:
            query = query.where(KEYS.c.user == user)
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(KEYS.c.created_at, KEYS.c.id)).mappings().all()
        return [ApiKey(**dict(row)) for row in rows]

    def revoke(self, key_id: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.engine.begin() as db:
            found = db.execute(
                update(KEYS).where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None)).values(revoked_at=now)
            )
            if found.rowcount == 0:
                raise ApiKeyError(f"No active key with id {key_id}: see `python -m rag keys list`.")

    def caller(self, key: str) -> Caller | None:
        """The user and role a key stands for; None for a malformed, unknown or revoked key, or a removed user."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        query = (
            select(KEYS.c.secret_sha256, KEYS.c.user, USERS.c.role)
            .join(USERS, USERS.c.name == KEYS.c.user)
            .where(KEYS.c.id == parts[1], KEYS.c.revoked_at.is_(None))
        )
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None or not hmac.compare_digest(row["secret_sha256"], _sha256(parts[2])):
            return None
        return Caller(row["user"], row["role"], parts[1])
