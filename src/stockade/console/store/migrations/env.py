"""Alembic environment: always run by :func:`stockade.console.store.migrate.upgrade`,
which passes the connection in (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context

from stockade.console.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
