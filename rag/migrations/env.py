"""Alembic's entry: migrations run on the connection rag.db.migrate hands over (in its transaction and lock).

New migration: copy the newest file in versions/, set `revision` and `down_revision`, and write the change with
`op` by hand (the tables live beside the code that uses them, in several packages)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
