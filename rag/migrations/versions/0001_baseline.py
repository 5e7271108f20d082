"""Baseline: every table as of the first migration. Tables that an older app.db (made before migrations) already
has are kept, and the columns it lacks are added."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

NAME, STAMP, SHORT = sa.String(200), sa.String(32), sa.String(64)


def key(name: str, kind: sa.types.TypeEngine, **options: object) -> sa.Column:
    return sa.Column(name, kind, primary_key=True, **options)  # type: ignore[arg-type]


def need(name: str, kind: sa.types.TypeEngine, **options: object) -> sa.Column:
    return sa.Column(name, kind, nullable=False, **options)  # type: ignore[arg-type]


def may(name: str, kind: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, kind)


def tables() -> dict[str, list[sa.Column]]:
    """Fresh column objects each time (a column belongs to the one table it is given to)."""
    text, real, number = sa.Text(), sa.Float(), sa.Integer()
    zero = {"server_default": "0"}
    return {
        "users": [key("name", NAME), need("role", SHORT), need("password_hash", text), need("created_at", STAMP)],
        "sign_ins": [key("id", number, autoincrement=True), need("name", NAME), need("client", NAME),
                     need("at", real), need("outcome", SHORT)],
        "api_keys": [key("id", STAMP), need("user", NAME), need("secret_sha256", SHORT), need("created_at", STAMP),
                     may("revoked_at", STAMP)],
        "collections": [key("name", SHORT), need("description", text), need("created_at", STAMP)],
        "user_groups": [key("name", SHORT), need("created_at", STAMP)],
        "group_members": [key("group_name", SHORT), key("user_name", NAME)],
        "grants": [key("collection", SHORT), key("group_name", SHORT)],
        "chats": [key("id", STAMP), need("owner", NAME), need("title", text), need("created_at", STAMP),
                  need("updated_at", STAMP)],
        "chat_turns": [key("chat_id", STAMP), key("position", number), need("turn", text), need("created_at", STAMP)],
        "jobs": [key("id", number, autoincrement=True), need("source", text), need("path", text), may("kind", SHORT),
                 may("submitted_by", NAME), need("force", sa.Boolean(), server_default=sa.false()),
                 need("state", SHORT), need("message", text, server_default=""), need("done", number, **zero),
                 need("total", number, **zero), need("attempts", number, **zero), may("host", NAME),
                 may("pid", number), need("created_at", STAMP), need("updated_at", STAMP), may("worker", NAME),
                 may("heartbeat_at", real), may("collection", SHORT)],
        "guard_events": [key("day", STAMP), key("kind", SHORT), key("source", text, server_default=""),
                         need("count", number)],
        "interactions": [key("id", number, autoincrement=True), need("at", STAMP), need("question", text),
                         need("answer", text), need("sources", text),
                         need("abstained", number), need("refused", number), need("guard", text)],
        "runs": [key("run_id", SHORT), may("created_at", STAMP), may("set_name", text), may("summary", text),
                 may("folder", text)],
        "audit": [key("id", number, autoincrement=True), need("at", STAMP), need("actor", NAME),
                  need("action", SHORT), need("target", sa.String(1000)), need("origin", NAME),
                  need("detail", text)],
        "answers": [key("id", number, autoincrement=True), need("answer_id", SHORT), need("at", STAMP),
                    need("channel", SHORT), may("user", NAME), need("outcome", SHORT), need("mode", SHORT),
                    need("seconds", real), may("first_token_s", real), need("tokens", number),
                    need("cached", sa.Boolean()), need("sources", text)],
        "ratings": [key("id", number, autoincrement=True), need("answer_id", SHORT), need("at", STAMP),
                    may("user", NAME), need("rating", number), need("comment", text), need("correction", text),
                    need("question", text), need("answer", text), need("sources", text), need("channel", SHORT)],
    }  # fmt: skip


INDEXES = [
    ("sign_ins_by_client", "sign_ins", ["client", "at"]),
    ("sign_ins_by_name", "sign_ins", ["name", "at"]),
    ("chats_by_owner", "chats", ["owner", "updated_at"]),
    ("jobs_by_state", "jobs", ["state", "id"]),
    ("audit_by_at", "audit", ["at"]),
    ("answers_by_at", "answers", ["at"]),
    ("answers_by_answer", "answers", ["answer_id"]),
    ("ratings_by_answer", "ratings", ["answer_id"]),
]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, columns in tables().items():
        if name not in present:
            op.create_table(name, *columns)
            continue
        have = {column["name"] for column in inspector.get_columns(name)}
        missing = [column for column in columns if column.name not in have]
        if missing:  # an app.db from before migrations: add what it lacks (SQLite: by copying the table)
            with op.batch_alter_table(name, recreate="always" if "id" not in have else "auto") as table:
                for column in missing:
                    table.add_column(column)
    for index, table, columns in INDEXES:
        have = {found["name"] for found in inspector.get_indexes(table)} if table in present else set()
        if index not in have:
            op.create_index(index, table, columns)
    if "failed_logins" in present:
        op.drop_table("failed_logins")
