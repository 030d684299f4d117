"""Alembic environment: migrations run on a connection handed over by `core.db.migrate`
(`lippejob db upgrade`, or `serve` on the embedded SQLite default)."""

from __future__ import annotations

from alembic import context

from core.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrations run through `lippejob db upgrade`, not the alembic command")

# render_as_batch: SQLite alters tables by copying them; batch mode does that for us.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
