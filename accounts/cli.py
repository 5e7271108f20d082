"""`python -m rag collections ...` and `python -m rag users group ...`: collections of documents, groups of users,
and which groups may read which collection (accounts/collections.py)."""

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from accounts.audit import record_command
from accounts.collections import EVERYONE, CollectionError, Collections
from rag.settings import Settings

collections = typer.Typer(help="Collections of documents and who may read them.", no_args_is_help=True)
groups = typer.Typer(help="Groups of users (grant a collection to a group).", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="Collection name.")]
Group = Annotated[str, typer.Argument(help=f"Group name ('{EVERYONE}': every reader, signed in or not).")]


def _collections() -> Collections:
    return Collections(Settings().database)


def _run(action: Callable[[], object], done: str, audited: str, target: str, **detail: Any) -> None:
    """Do `action`, then record it in the audit trail as `audited` on `target`."""
    try:
        action()
    except CollectionError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    record_command(Settings().database, audited, target, **detail)
    typer.echo(done)


@collections.command("create")
def create(
    name: Name, description: Annotated[str, typer.Option(help="What it holds.")] = "", grant: Annotated[
        list[str] | None, typer.Option("--grant", help="A group that may read it (repeat for more).")] = None,
) -> None:  # fmt: skip
    """Create a collection; only admins read it until it is granted to a group."""
    store = _collections()

    def make() -> None:
        store.create(name, description)
        for group in grant or []:
            store.grant(name, group)

    done = f"Created collection '{name}'" + (f", readable by {', '.join(grant)}" if grant else "")
    _run(make, done, "collection.create", name, groups=grant or [])


@collections.command("list")
def list_collections(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """The collections, who may read each, and how many documents each holds."""
    from rag.store import open_store

    counts: dict[str, int] = {}
    for document in open_store(Settings()).documents():
        counts[document.collection] = counts.get(document.collection, 0) + 1
    found = _collections().collections()
    rows = [{"name": c.name, "description": c.description, "groups": list(c.groups),
             "documents": counts.get(c.name, 0)} for c in found]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        readers = ", ".join(row["groups"]) or "admins only"
        typer.echo(f"{row['name']:24} {row['documents']:5} documents  read by: {readers}")


@collections.command("grant")
def grant(name: Name, group: Group) -> None:
    """Let a group read a collection."""
    _run(
        lambda: _collections().grant(name, group), f"'{group}' may read '{name}'", "collection.grant", name, group=group
    )


@collections.command("revoke")
def revoke(name: Name, group: Group) -> None:
    """Take a group's access to a collection away (at once: its next question no longer searches it)."""
    _run(
        lambda: _collections().revoke(name, group),
        f"'{group}' may no longer read '{name}'",
        "collection.revoke",
        name,
        group=group,
    )


@collections.command("delete")
def delete(name: Name) -> None:
    """Delete an empty collection."""
    from rag.store import open_store

    held = len(open_store(Settings()).documents_in([name]))
    _run(lambda: _collections().delete(name, held), f"Deleted collection '{name}'", "collection.delete", name)


@groups.command("add")
def group_add(group: Group) -> None:
    """Create a group."""
    _run(lambda: _collections().add_group(group), f"Created group '{group}'", "group.create", group)


@groups.command("remove")
def group_remove(group: Group) -> None:
    """Delete a group (its members lose what it was granted)."""
    _run(lambda: _collections().remove_group(group), f"Deleted group '{group}'", "group.remove", group)


@groups.command("join")
def group_join(group: Group, user: Annotated[str, typer.Argument(help="A user name.")]) -> None:
    """Put a user in a group."""
    from accounts.users import UserStore

    if UserStore(Settings().database).get(user) is None:
        typer.echo(f"error: no user named '{user}'", err=True)
        raise typer.Exit(1)
    _run(
        lambda: _collections().add_member(group, user),
        f"'{user}' is in group '{group}'",
        "group.join",
        group,
        user=user,
    )


@groups.command("leave")
def group_leave(group: Group, user: Annotated[str, typer.Argument(help="A user name.")]) -> None:
    """Take a user out of a group."""
    _run(
        lambda: _collections().remove_member(group, user),
        f"'{user}' left group '{group}'",
        "group.leave",
        group,
        user=user,
    )


@groups.command("list")
def group_list(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False) -> None:
    """The groups and their members."""
    found = _collections().groups()
    if as_json:
        typer.echo(json.dumps(found))
        return
    for name, members in found.items():
        typer.echo(f"{name:24} {', '.join(members) or '(no members)'}")
