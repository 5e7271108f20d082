"""`python -m ingest`: add, list and delete documents in the store of RAG_DATA_DIR."""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accounts.audit import record_command
from ingest.index import IngestResult
from ingest.loaders import LoadError, is_supported
from rag.settings import Settings

app = typer.Typer(help="Manage the documents in the store.", no_args_is_help=True, add_completion=False)


@dataclass
class Batch:
    """Files named on the command line, resolved to (path, source name)."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0


def collect(paths: list[Path]) -> Batch:
    """A file keeps its own name as source; files in a folder are named by their path inside the folder."""
    batch = Batch()
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)):
                if is_supported(found):
                    batch.files.append((found, found.relative_to(path).as_posix()))
                else:
                    batch.skipped += 1
        elif path.is_file():
            batch.files.append((path, path.name))
        else:
            batch.problems.append(f"{path}: no such file or folder")
    return batch


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def summary(results: list[IngestResult], failed: int, skipped: int, seconds: float) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("added", "updated", "unchanged")}
    changed = [r for r in results if r.status != "unchanged"]
    pages = sum(r.pages or 0 for r in changed)
    chunks = sum(r.chunks for r in changed)
    parts = [f"{n} {status}" for status, n in counts.items() if n] + ([f"{failed} failed"] if failed else [])
    parts += [f"{skipped} unsupported skipped"] if skipped else []
    files = len(results) + failed
    return (
        f"Ingested {files} file{'s' * (files != 1)} ({', '.join(parts) or 'nothing to do'}): "
        f"{pages} pages, {chunks} chunks in {seconds:.1f} s"
    )


@app.command()
def add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when the store has documents.")] = False,
    collection: Annotated[
        str | None, typer.Option(help="Put the documents in this collection (default: where they are, or default).")
    ] = None,
) -> None:
    """Ingest PDF, Markdown and text files. Unchanged files are skipped; changed files replace their chunks.
    Each file is also kept as an original (for page previews and downloads)."""
    from accounts.collections import Collections
    from ingest.index import Indexer
    from ingest.originals import keep_original
    from rag.models import quiet_model_loading

    started = time.perf_counter()
    settings = Settings()
    if collection is not None and not Collections(settings.database).exists(collection):
        typer.echo(f"error: no collection named '{collection}' (create it: python -m rag collections create)", err=True)
        raise typer.Exit(1)
    batch = collect(paths)
    paths_of = {source: path for path, source in batch.files}
    quiet_model_loading()
    indexer = Indexer.from_settings(settings)
    if if_empty and not indexer.store.is_empty():
        typer.echo(f"The store in {settings.data_dir} already has documents: nothing to do (--if-empty).")
        return
    results: list[IngestResult] = []
    problems = list(batch.problems)
    err_console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        files = progress.add_task("files", total=len(batch.files))
        chunks = progress.add_task("embedding chunks", total=None)
        on_progress = lambda done, total: progress.update(chunks, completed=done, total=total)  # noqa: E731
        for source, outcome in indexer.ingest_files(batch.files, on_progress, collection):
            if isinstance(outcome, LoadError):
                problems.append(f"{source}: {outcome}")
            else:
                results.append(outcome)
                keep_original(settings.originals_dir, source, paths_of[source], indexer.store.document(source))
            progress.advance(files)
    for result in results:
        if result.status != "unchanged":
            record_command(settings.database, f"document.{'add' if result.status == 'added' else 'update'}",
                           result.source, chunks=result.chunks, collection=collection)  # fmt: skip
    for problem in problems:
        err_console.print(f"[red]error[/red]: {problem}", highlight=False, soft_wrap=True)
    typer.echo(summary(results, len(problems), batch.skipped, time.perf_counter() - started))
    if problems:
        raise typer.Exit(1)


@app.command("list")
def list_documents(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the documents in the store."""
    from rag.store import open_store

    documents = open_store(Settings()).documents()
    if as_json:
        fields = ("source", "chunks", "pages", "sha256", "title", "organisation", "doc_type", "period", "collection")
        rows = [{field: getattr(d, field) for field in fields} for d in documents]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not documents:
        typer.echo("The store is empty. Add documents with: python -m ingest add PATH")
        return
    table = Table("source", "collection", "about", "pages", "chunks", "size", "ingested (UTC)", "sha256")
    for d in documents:
        pages = "" if d.pages is None else str(d.pages)
        size = f"{d.size / 1024:.0f} KiB"
        table.add_row(d.source, d.collection, d.about, pages, str(d.chunks), size, d.ingested_at, d.sha256[:12])
    Console().print(table)


@app.command()
def delete(source: Annotated[str, typer.Argument(help="The document's source name, as `list` shows it.")]) -> None:
    """Remove a document: its chunks, its keyword-index entries and the uploaded original kept for it."""
    from ingest.documents import DocumentService

    settings = Settings()
    if not DocumentService.from_settings(settings).delete(source):
        typer.echo(f"error: no document named '{source}' (see `python -m ingest list`)", err=True)
        raise typer.Exit(1)
    record_command(settings.database, "document.delete", source)
    typer.echo(f"Deleted {source}")


@app.command()
def move(
    source: Annotated[str, typer.Argument(help="The document's source name, as `list` shows it.")],
    collection: Annotated[str, typer.Argument(help="The collection to put it in.")],
) -> None:
    """Put a document in another collection: who may read it changes at once."""
    from accounts.collections import Collections
    from rag.store import open_store

    settings = Settings()
    if not Collections(settings.database).exists(collection):
        typer.echo(f"error: no collection named '{collection}' (see `python -m rag collections list`)", err=True)
        raise typer.Exit(1)
    if not open_store(settings).move_document(source, collection):
        typer.echo(f"error: no document named '{source}' (see `python -m ingest list`)", err=True)
        raise typer.Exit(1)
    record_command(settings.database, "document.move", source, collection=collection)
    typer.echo(f"Moved {source} to {collection}")


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
) -> None:
    """Run an ingestion worker without the app: it takes uploaded files' jobs from the shared queue until stopped
    (Ctrl+C or SIGTERM lets the job at hand finish first). Run as many as you like, on any host sharing the
    data dir's database and store."""
    import signal
    import threading

    from ingest.jobs import JobQueue, Worker
    from rag.models import quiet_model_loading
    from rag.observe.logs import setup_logging
    from rag.observe.metrics import serve_metrics

    settings = Settings()
    setup_logging(settings, "worker")
    if metrics_port is not None:
        serve_metrics(settings.metrics_host, metrics_port)
    quiet_model_loading()
    running = Worker.from_settings(settings, JobQueue.from_settings(settings))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    running.start()
    typer.echo(f"Ingestion worker {running.id} on {settings.data_dir} (Ctrl+C to stop)", err=True)
    stop.wait()
    running.stop()
    running.join()


@app.command()
def reembed() -> None:
    """Embed every stored chunk again with RAG_EMBEDDING_MODEL (after changing the embedder, e.g. to a
    fine-tuned one). The old vectors stay in use until the new ones are complete."""
    from ingest.reembed import reembed as reembed_store
    from rag.embedder import SentenceTransformerEmbedder
    from rag.models import quiet_model_loading
    from rag.store import StoreMismatchError, chroma_client

    quiet_model_loading()
    settings = Settings()
    embedder = SentenceTransformerEmbedder.from_settings(settings)
    columns = (TextColumn("Re-embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("documents", total=None)
        try:
            report = reembed_store(
                chroma_client(settings),
                settings.collection,
                embedder,
                settings.chunk_size,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
        except StoreMismatchError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from err
    typer.echo(json.dumps(report))
