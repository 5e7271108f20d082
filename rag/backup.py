"""`python -m rag backup DIR` / `restore DIR`: a consistent copy of everything the product keeps, and back.

    app.db                    the app's database, by SQLite's online backup API: a consistent snapshot while
                              other processes write (and an earlier version's eval_history.db, when there)
    database/TABLE.jsonl      instead, with RAG_DATABASE_URL (PostgreSQL): every table's rows, read in one
                              transaction (REPEATABLE READ: one snapshot of all tables)
    store.jsonl               every committed document with its chunks and vectors, read through the Store (so it
                              works the same for the embedded store and a Chroma server); a document replaced
                              while the backup runs is taken in the version the catalog named, or left out
    originals/                the uploaded files, as kept for previews, downloads and re-ingestion
    manifest.json             what was copied, the embedder the vectors came from, and counts

Left out: models (provisioned again by `make run`), page previews (a cache), the keyword index (rebuilt from
the chunks on restore). A restore goes into an empty data dir and store only, so it never mixes two states.
"""

import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Integer, MetaData, insert, select, text
from sqlalchemy.engine import make_url

from rag.db import engine
from rag.keyword import KeywordIndex
from rag.settings import Settings
from rag.store import Store, chunk_id
from rag.types import Chunk, Document

FORMAT = 1
APP_DB, LEGACY_HISTORY = "app.db", "eval_history.db"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done as asked; the message says why and what to do."""


def _copy_sqlite(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)


def _dump_tables(database: str, target: Path) -> list[str]:
    """Every table of a database server as JSON lines, all read from one snapshot; the tables written."""
    db = engine(database)
    tables = MetaData()
    tables.reflect(db)
    folder = target / "database"
    folder.mkdir()
    with db.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as out:
                for row in connection.execute(select(table)).mappings():
                    out.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
    return sorted(path.stem for path in folder.glob("*.jsonl"))


def _load_tables(database: str, source: Path) -> None:
    """Put dumped rows into a database server's (empty, migrated) tables."""
    db = engine(database)
    tables = MetaData()
    tables.reflect(db)
    with db.begin() as connection:
        for table in tables.sorted_tables:
            path = source / "database" / f"{table.name}.jsonl"
            if table.name == "alembic_version" or not path.is_file():
                continue
            connection.execute(table.delete())  # rows a fresh start made (the `default` collection)
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            if rows:
                connection.execute(insert(table), rows)
            if "id" in table.c and table.c.id.autoincrement and isinstance(table.c.id.type, Integer):
                # the next row gets the id after the restored ones
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))  # fmt: skip


def _server_is_empty(database: str) -> bool:
    db = engine(database)
    tables = MetaData()
    tables.reflect(db, only=lambda name, _: name in ("users", "jobs", "audit", "runs"))
    with db.connect() as connection:
        return all(connection.execute(select(table).limit(1)).first() is None for table in tables.sorted_tables)


def _database_file(settings: Settings) -> Path | None:
    """The SQLite file of the app's database; None for a database server."""
    if isinstance(settings.database, Path):
        return settings.database
    url = make_url(settings.database)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def _document_records(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per committed document (its chunks with their vectors) and the sources left out."""
    records, skipped = [], []
    for document in store.documents():
        ids = [chunk_id(document.source, document.sha256, i) for i in range(document.chunks)]
        found = store.chunks_by_id(ids)
        if len(found) != len(ids):  # replaced or deleted while we read it
            skipped.append(document.source)
            continue
        chunks = [found[i] for i in ids]
        records.append({"document": asdict(document), "chunks": [asdict(c) for c, _ in chunks],
                        "vectors": [v.astype(np.float32).tolist() for _, v in chunks]})  # fmt: skip
    return records, skipped


def backup(settings: Settings, store: Store, target: Path) -> dict[str, Any]:
    """Write a backup into `target` (a new or empty folder); the manifest."""
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: back up into a new folder (e.g. one named by the date).")
    target.mkdir(parents=True, exist_ok=True)
    databases, tables, file = [], [], _database_file(settings)
    if file is None:
        tables = _dump_tables(str(settings.database), target)
    elif file.is_file():
        _copy_sqlite(file, target / APP_DB)
        databases.append(APP_DB)
    if (settings.data_dir / LEGACY_HISTORY).is_file():
        _copy_sqlite(settings.data_dir / LEGACY_HISTORY, target / LEGACY_HISTORY)
        databases.append(LEGACY_HISTORY)
    records, skipped = _document_records(store)
    with (target / "store.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    originals = 0
    if settings.originals_dir.is_dir():
        shutil.copytree(settings.originals_dir, target / "originals")
        originals = sum(1 for p in (target / "originals").rglob("*") if p.is_file())
    binding = store.binding()
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "databases": databases, "tables": tables, "documents": len(records),
                "chunks": sum(len(r["chunks"]) for r in records),
                "left_out": skipped, "originals": originals, "collection": settings.collection,
                "embedder": binding[0] if binding else None, "dimension": binding[1] if binding else None}  # fmt: skip
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _manifest(source: Path) -> dict[str, Any]:
    path = source / "manifest.json"
    if not path.is_file():
        raise BackupError(f"{source} is not a backup (no manifest.json): name the folder `rag backup` wrote.")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} has backup format {manifest.get('format')}; this version reads {FORMAT}.")
    return manifest


def restore(settings: Settings, store: Store, source: Path) -> dict[str, Any]:
    """Restore the backup in `source` into the settings' (empty) data dir and store; the manifest."""
    manifest = _manifest(source)
    file = _database_file(settings)
    if manifest.get("tables") and file is not None:
        raise BackupError("This backup holds a database server's tables: restore with RAG_DATABASE_URL set to an "
                          "empty database of that kind.")  # fmt: skip
    if file is None and not manifest.get("tables"):
        raise BackupError("This backup holds a SQLite app.db: restore it without RAG_DATABASE_URL.")
    occupied = [str(path) for path in (file, settings.data_dir / LEGACY_HISTORY) if path is not None and path.exists()]
    if file is None and not _server_is_empty(str(settings.database)):
        occupied.append("the database")
    if occupied or not store.is_empty() or settings.originals_dir.exists():
        raise BackupError(
            f"The data dir {settings.data_dir} (or its store) is not empty ({', '.join(occupied) or 'documents'}): "
            "restore into a new RAG_DATA_DIR (and an empty Chroma collection and database), then point the app at it."
        )
    if manifest["embedder"] is not None:
        store.bind(manifest["embedder"], int(manifest["dimension"]))  # the vectors' embedder travels with them
    with (source / "store.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            document = Document(**record["document"])
            chunks = [Chunk(**c) for c in record["chunks"]]
            store.put_documents([(document, chunks, np.asarray(record["vectors"], dtype=np.float32))])
    if (source / "originals").is_dir():
        shutil.copytree(source / "originals", settings.originals_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if file is None:
        _load_tables(str(settings.database), source)
    for name in manifest["databases"]:
        copy = file if name == APP_DB and file is not None else settings.data_dir / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(source / name, copy)
    KeywordIndex(settings.keyword_dir, settings.bm25_k1, settings.bm25_b).sync(store)
    return manifest
