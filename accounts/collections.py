"""Collections of documents and who may read them: groups of users, and grants of a collection to a group.

Every document belongs to one collection (its `collection` in the store's catalog; `default` for installs that
need none). A reader may read a collection granted to a group the reader is in, or to `everyone` (every reader,
signed in or not); admins read every collection. `default` is granted to `everyone` when it is made, so an
install without collections works as before; a new collection is readable by admins only until it is granted.

Which collections a caller may read is decided here, once per question; retrieval then searches only the
documents of those collections (inside the store's query: rag/store.py, rag/keyword.py).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, String, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError

from rag.db import METADATA, engine, insert_new
from rag.types import DEFAULT_COLLECTION

DEFAULT = DEFAULT_COLLECTION
EVERYONE = "everyone"  # a group no one joins: a grant to it lets every reader in, signed in or not
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

COLLECTIONS = Table(
    "collections",
    METADATA,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)
GROUPS = Table("user_groups", METADATA, Column("name", String(64), primary_key=True), Column("created_at", String(32)))
MEMBERS = Table(
    "group_members",
    METADATA,
    Column("group_name", String(64), primary_key=True),
    Column("user_name", String(200), primary_key=True),
)
GRANTS = Table(
    "grants", METADATA, Column("collection", String(64), primary_key=True), Column("group_name", String(64),
    primary_key=True)
)  # fmt: skip


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

    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)
        with self.engine.begin() as db:
            if insert_new(db, COLLECTIONS, name=DEFAULT, description="", created_at=_now()):
                insert_new(db, GRANTS, collection=DEFAULT, group_name=EVERYONE)

    # Collections -----------------------------------------------------------------------------------------

    def create(self, name: str, description: str = "") -> Collection:
        _check_name(name, "collection")
        try:
            with self.engine.begin() as db:
                db.execute(insert(COLLECTIONS).values(name=name, description=description, created_at=_now()))
        except IntegrityError as err:
            raise CollectionError(f"collection '{name}' already exists") from err
        return self.get(name)

    def get(self, name: str) -> Collection:
        found = {c.name: c for c in self.collections()}
        if name not in found:
            raise CollectionError(f"no collection named '{name}' (see `python -m rag collections list`)")
        return found[name]

    def exists(self, name: str) -> bool:
        with self.engine.connect() as db:
            return db.execute(select(COLLECTIONS.c.name).where(COLLECTIONS.c.name == name)).first() is not None

    def collections(self) -> list[Collection]:
        with self.engine.connect() as db:
            rows = db.execute(select(COLLECTIONS).order_by(COLLECTIONS.c.name)).mappings().all()
            grants = db.execute(select(GRANTS).order_by(GRANTS.c.group_name)).mappings().all()
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
        with self.engine.begin() as db:
            if not db.execute(delete(COLLECTIONS).where(COLLECTIONS.c.name == name)).rowcount:
                raise CollectionError(f"no collection named '{name}'")
            db.execute(delete(GRANTS).where(GRANTS.c.collection == name))

    # Groups ----------------------------------------------------------------------------------------------

    def add_group(self, name: str) -> None:
        _check_name(name, "group")
        if name == EVERYONE:
            raise CollectionError(f"'{EVERYONE}' is built in: it stands for every reader")
        try:
            with self.engine.begin() as db:
                db.execute(insert(GROUPS).values(name=name, created_at=_now()))
        except IntegrityError as err:
            raise CollectionError(f"group '{name}' already exists") from err

    def remove_group(self, name: str) -> None:
        with self.engine.begin() as db:
            if not db.execute(delete(GROUPS).where(GROUPS.c.name == name)).rowcount:
                raise CollectionError(f"no group named '{name}'")
            db.execute(delete(MEMBERS).where(MEMBERS.c.group_name == name))
            db.execute(delete(GRANTS).where(GRANTS.c.group_name == name))

    def groups(self) -> dict[str, list[str]]:
        """Each group with its members."""
        with self.engine.connect() as db:
            names = list(db.execute(select(GROUPS.c.name).order_by(GROUPS.c.name)).scalars())
            members = db.execute(select(MEMBERS).order_by(MEMBERS.c.user_name)).mappings().all()
        found: dict[str, list[str]] = {name: [] for name in names}
        for row in members:
            found.setdefault(row["group_name"], []).append(row["user_name"])
        return found

    def add_member(self, group: str, user: str) -> None:
        self._require_group(group)
        with self.engine.begin() as db:
            insert_new(db, MEMBERS, group_name=group, user_name=user)

    def remove_member(self, group: str, user: str) -> None:
        with self.engine.begin() as db:
            removed = db.execute(delete(MEMBERS).where(MEMBERS.c.group_name == group, MEMBERS.c.user_name == user))
            if not removed.rowcount:
                raise CollectionError(f"'{user}' is not in group '{group}'")

    def forget_user(self, user: str) -> None:
        """A removed user leaves every group (a new user of the same name must not inherit them)."""
        with self.engine.begin() as db:
            db.execute(delete(MEMBERS).where(MEMBERS.c.user_name == user))

    def groups_of(self, user: str) -> list[str]:
        query = select(MEMBERS.c.group_name).where(MEMBERS.c.user_name == user).order_by(MEMBERS.c.group_name)
        with self.engine.connect() as db:
            return list(db.execute(query).scalars())

    # Grants ----------------------------------------------------------------------------------------------

    def grant(self, collection: str, group: str) -> None:
        self.get(collection)
        if group != EVERYONE:
            self._require_group(group)
        with self.engine.begin() as db:
            insert_new(db, GRANTS, collection=collection, group_name=group)

    def revoke(self, collection: str, group: str) -> None:
        with self.engine.begin() as db:
            removed = db.execute(delete(GRANTS).where(GRANTS.c.collection == collection, GRANTS.c.group_name == group))
            if not removed.rowcount:
                raise CollectionError(f"collection '{collection}' is not granted to '{group}'")

    def readable(self, user: str | None, role: str = "reader") -> list[str]:
        """The collections `user` may read (None: an anonymous reader); admins read all."""
        if role == "admin":
            return [c.name for c in self.collections()]
        groups = [EVERYONE, *(self.groups_of(user) if user is not None else [])]
        query = select(GRANTS.c.collection).where(GRANTS.c.group_name.in_(groups)).distinct()
        with self.engine.connect() as db:
            return sorted(db.execute(query).scalars())

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
