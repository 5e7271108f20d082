"""Evaluations started and scheduled from the Reports page: the schedule, requested runs, and the evaluation
services that run them (`python -m eval scheduler`)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    text, stamp = sa.Text(), sa.String(32)
    op.create_table(
        "eval_schedule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_path", text, nullable=False),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("judge", sa.String(16), nullable=False),
        sa.Column("redteam", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("last_fired_at", stamp),
    )
    op.create_table(
        "eval_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("set_path", text, nullable=False),
        sa.Column("judge", sa.String(16), nullable=False),
        sa.Column("redteam", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", stamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", stamp),
        sa.Column("finished_at", stamp),
        sa.Column("message", text, nullable=False, server_default=""),
        sa.Column("run_id", sa.String(64)),
        sa.Column("folder", text),
        sa.Column("worker", sa.String(200)),
    )
    op.create_table(
        "eval_services",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
