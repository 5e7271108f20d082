"""The app's state database: users, sign-ins, API keys, groups, saved chats, ingestion jobs, guardrail counts,
the audit trail, answers and ratings, eval history. One database for every process and host:

    RAG_DATABASE_URL unset    a SQLite file, <RAG_DATA_DIR>/app.db (WAL: readers go on while one process
                              writes; a writer waits up to 30 s for a lock instead of failing)
    postgresql+psycopg://...  PostgreSQL, for several app, API and worker hosts

Tables are SQLAlchemy Core tables on `METADATA`, defined beside the code that uses them; the schema is made and
upgraded by Alembic migrations (rag/migrations), once per database and process, when `engine` first opens it.
"""

import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_S = 30.0
METADATA = MetaData()
MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def database_url(target: Path | str) -> str:
    """A SQLAlchemy URL: a Path is a SQLite file, a string is taken as a URL."""
    if isinstance(target, Path):
        return f"sqlite:///{target.resolve()}"
    return target


def is_sqlite(db: Engine | Connection) -> bool:
    return db.dialect.name == "sqlite"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


def insert_new(db: Connection, table: Table, **row: Any) -> int:
    """Insert a row unless one with the same key is there (INSERT ... ON CONFLICT DO NOTHING); 1 when added."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    return db.execute(dialect.insert(table).values(**row).on_conflict_do_nothing()).rowcount


def upsert_add(db: Connection, table: Table, counter: str, **row: Any) -> None:
    """Insert a row, or add its `counter` to the one with the same key."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**row)
    keys = [column.name for column in table.primary_key.columns]
    existing = table.c[counter] + statement.excluded[counter]
    db.execute(statement.on_conflict_do_update(index_elements=keys, set_={counter: existing}))


def claim_oldest(db: Connection, table: Table, **values: Any) -> int | None:
    """Take the oldest `queued` row of `table` (an `id` and a `state` column) and set `values` on it, atomically
    across processes and hosts: the row is locked while it is taken (`FOR UPDATE SKIP LOCKED`: rows others are
    taking are skipped), and the update only succeeds while it is still queued. Its id, or None."""
    oldest = (
        select(table.c.id).where(table.c.state == "queued").order_by(table.c.id).limit(1)
        .with_for_update(skip_locked=True)
    )  # fmt: skip
    found = db.execute(oldest).scalar()
    if found is None:
        return None
    guarded = update(table).where(table.c.id == found, table.c.state == "queued")
    return found if db.execute(guarded.values(state="running", **values)).rowcount else None


def engine(target: Path | str) -> Engine:
    """One engine per database and process (it pools its connections), with the schema brought up to date."""
    url = database_url(target)
    with _lock:
        if url not in _engines:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite" and parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                made = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
                event.listen(made, "connect", _sqlite_pragmas)
            else:
                made = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            migrate(made)
            _engines[url] = made
        return _engines[url]


def migrate(db: Engine) -> None:
    """Upgrade the schema to the newest migration. Processes that start together take turns: an advisory lock
    on PostgreSQL, a lock file beside a SQLite database."""
    from alembic import command
    from alembic.config import Config
    from filelock import FileLock

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    database = make_url(str(db.url)).database
    turn = FileLock(f"{database}.migrate.lock") if is_sqlite(db) and database else nullcontext()
    with turn, db.begin() as connection:
        if not is_sqlite(connection):
            connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
