"""Schema migrations: Alembic revisions shipped in ``migrations/``, applied on start.

On PostgreSQL an advisory lock makes concurrent starts of several Console processes
migrate once; SQLite's write lock does the same for SQLite.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from stockade.console.errors import StoreError
from stockade.console.store.engine import Store
from stockade.core.errors import InternalError

__all__ = ["current_revision", "head_revision", "is_at_head", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x5354_4B43  # "STKC": any constant every Console process agrees on


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise InternalError("the Console ships no migrations")
    return head


def current_revision(store: Store) -> str | None:
    try:
        with store.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema version of {store.display_url}: {exc}") from exc


def is_at_head(store: Store) -> bool:
    return current_revision(store) == head_revision()


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to ``revision``, in one transaction."""
    config = _config()
    try:
        with store.engine.connect() as connection:
            if store.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot migrate the database {store.display_url}: {exc}",
            "check that the database exists and that the user may create tables",
        ) from exc
