"""Collections of documents and who may read them: groups of users, and grants of a collection to a group.

Every document belongs to one collection (its `collection` in the store's catalog; `default` for installs that
need none). A reader may read a collection granted to a group the reader is in, or to `everyone` (every reader,
signed in or not); admins read every collection. `default` is granted to `everyone` when it is made, so an
install without collections works as before; a new collection is readable by admins only until it is granted.

Which collections a caller may read is decided here, once per question; retrieval then searches only the
documents of those collections (inside the store's query: rag/store.py, rag/keyword.py).
"""

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rag.db import connect
from rag.types import DEFAULT_COLLECTION

DEFAULT = DEFAULT_COLLECTION
EVERYONE = "everyone"  # a group no one joins: a grant to it lets every reader in, signed in or not
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_groups (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL, user_name TEXT NOT NULL, PRIMARY KEY (group_name, user_name));
CREATE TABLE IF NOT EXISTS grants (
    collection TEXT NOT NULL, group_name TEXT NOT NULL, PRIMARY KEY (collection, group_name));
"""


class CollectionError(ValueError):
    """A collection or group command that cannot be done; the message says why."""


@dataclass(frozen=True)
class Collection:
    name: str
    description: str
    created_at: str
    groups: tuple[str, ...]  # the groups it is granted to (`everyone` included when it is)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name):
        raise CollectionError(f"'{name}' is not a valid {what} name: use letters, digits and . _ - (at most 64)")


class Collections:
    """Collections, groups and grants in app.db."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.executescript(SCHEMA)
            made = db.execute("INSERT OR IGNORE INTO collections VALUES (?, ?, ?)", (DEFAULT, "", _now())).rowcount
            if made:
                db.execute("INSERT OR IGNORE INTO grants VALUES (?, ?)", (DEFAULT, EVERYONE))

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    # Collections -----------------------------------------------------------------------------------------

    def create(self, name: str, description: str = "") -> Collection:
        _check_name(name, "collection")
        try:
            with self._connect() as db:
                db.execute("INSERT INTO collections VALUES (?, ?, ?)", (name, description, _now()))
        except sqlite3.IntegrityError as err:
            raise CollectionError(f"collection '{name}' already exists") from err
        return self.get(name)

    def get(self, name: str) -> Collection:
        found = {c.name: c for c in self.collections()}
        if name not in found:
            raise CollectionError(f"no collection named '{name}' (see `python -m rag collections list`)")
        return found[name]

    def exists(self, name: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone() is not None

    def collections(self) -> list[Collection]:
        with self._connect() as db:
            rows = db.execute("SELECT name, description, created_at FROM collections ORDER BY name").fetchall()
            grants = db.execute("SELECT collection, group_name FROM grants ORDER BY group_name").fetchall()
        groups: dict[str, list[str]] = {}
        for grant in grants:
            groups.setdefault(grant["collection"], []).append(grant["group_name"])
        return [
            Collection(row["name"], row["description"], row["created_at"], tuple(groups.get(row["name"], [])))
            for row in rows
        ]

    def delete(self, name: str, documents_in_it: int) -> None:
        """Remove an empty collection (move or delete its documents first); `default` stays."""
        if name == DEFAULT:
            raise CollectionError("the 'default' collection cannot be deleted")
        if documents_in_it:
            raise CollectionError(f"collection '{name}' still holds {documents_in_it} documents: move or delete them")
        with self._connect() as db:
            if not db.execute("DELETE FROM collections WHERE name = ?", (name,)).rowcount:
                raise CollectionError(f"no collection named '{name}'")
            db.execute("DELETE FROM grants WHERE collection = ?", (name,))

    # Groups ----------------------------------------------------------------------------------------------

    def add_group(self, name: str) -> None:
        _check_name(name, "group")
        if name == EVERYONE:
            raise CollectionError(f"'{EVERYONE}' is built in: it stands for every reader")
        try:
            with self._connect() as db:
                db.execute("INSERT INTO user_groups VALUES (?, ?)", (name, _now()))
        except sqlite3.IntegrityError as err:
            raise CollectionError(f"group '{name}' already exists") from err

    def remove_group(self, name: str) -> None:
        with self._connect() as db:
            if not db.execute("DELETE FROM user_groups WHERE name = ?", (name,)).rowcount:
                raise CollectionError(f"no group named '{name}'")
            db.execute("DELETE FROM group_members WHERE group_name = ?", (name,))
            db.execute("DELETE FROM grants WHERE group_name = ?", (name,))

    def groups(self) -> dict[str, list[str]]:
        """Each group with its members."""
        with self._connect() as db:
            names = [r["name"] for r in db.execute("SELECT name FROM user_groups ORDER BY name")]
            members = db.execute("SELECT group_name, user_name FROM group_members ORDER BY user_name").fetchall()
        found: dict[str, list[str]] = {name: [] for name in names}
        for row in members:
            found.setdefault(row["group_name"], []).append(row["user_name"])
        return found

    def add_member(self, group: str, user: str) -> None:
        self._require_group(group)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO group_members VALUES (?, ?)", (group, user))

    def remove_member(self, group: str, user: str) -> None:
        with self._connect() as db:
            removed = db.execute("DELETE FROM group_members WHERE group_name = ? AND user_name = ?", (group, user))
            if not removed.rowcount:
                raise CollectionError(f"'{user}' is not in group '{group}'")

    def forget_user(self, user: str) -> None:
        """A removed user leaves every group (a new user of the same name must not inherit them)."""
        with self._connect() as db:
            db.execute("DELETE FROM group_members WHERE user_name = ?", (user,))

    def groups_of(self, user: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT group_name FROM group_members WHERE user_name = ? ORDER BY 1", (user,))
            return [row["group_name"] for row in rows]

    # Grants ----------------------------------------------------------------------------------------------

    def grant(self, collection: str, group: str) -> None:
        self.get(collection)
        if group != EVERYONE:
            self._require_group(group)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO grants VALUES (?, ?)", (collection, group))

    def revoke(self, collection: str, group: str) -> None:
        with self._connect() as db:
            removed = db.execute("DELETE FROM grants WHERE collection = ? AND group_name = ?", (collection, group))
            if not removed.rowcount:
                raise CollectionError(f"collection '{collection}' is not granted to '{group}'")

    def readable(self, user: str | None, role: str = "reader") -> list[str]:
        """The collections `user` may read (None: an anonymous reader); admins read all."""
        if role == "admin":
            return [c.name for c in self.collections()]
        groups = [EVERYONE, *(self.groups_of(user) if user is not None else [])]
        marks = ", ".join("?" for _ in groups)
        with self._connect() as db:
            query = f"SELECT DISTINCT collection FROM grants WHERE group_name IN ({marks}) ORDER BY 1"
            rows = db.execute(query, groups)
            return [row["collection"] for row in rows]

    def allowed(self, user: str | None, role: str = "reader", requested: Sequence[str] | None = None) -> list[str]:
        """The collections to search for this caller: those requested (all it may read when none are), each of
        which it must be able to read. One that it may not read is refused as if it did not exist."""
        readable = self.readable(user, role)
        if not requested:
            return readable
        for name in requested:
            if name not in readable:
                raise CollectionError(f"no collection named '{name}' that you may read")
        return list(dict.fromkeys(requested))

    def _require_group(self, group: str) -> None:
        if group not in self.groups():
            raise CollectionError(f"no group named '{group}' (create it with `python -m rag users group add`)")
