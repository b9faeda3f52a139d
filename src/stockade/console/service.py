"""Putting a Console together: open and migrate the store, create the first administrator,
build the app. The CLI calls these; so can a library user embedding the Console."""

from __future__ import annotations

from fastapi import FastAPI

from stockade.console.api.app import create_app
from stockade.console.clock import Clock, utc_now
from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.errors import SetupError
from stockade.console.identity import accounts
from stockade.console.roles import Role
from stockade.console.store import migrate
from stockade.console.store.engine import Store

__all__ = ["ADMIN_USERNAME", "build_app", "create_first_admin", "open_store", "require_admin"]

ADMIN_USERNAME = "admin"


def open_store(config: ConsoleConfig, *, upgrade: bool = True) -> Store:
    """The store, migrated to the head revision (or checked to be there)."""
    store = Store(config.database_url)
    if upgrade:
        migrate.upgrade(store)
    elif not migrate.is_at_head(store):
        store.close()
        raise SetupError(
            f"the database {store.display_url} is not at the current schema",
            "run 'stockade console migrate' first",
        )
    return store


def create_first_admin(
    store: Store, password: str, *, username: str = ADMIN_USERNAME, clock: Clock = utc_now
) -> bool:
    """Create the first administrator unless one exists; True when it was created."""
    with store.write() as session:
        if accounts.has_administrator(session):
            return False
        accounts.create_user(
            session,
            username=username,
            password=password,
            role=Role.ADMINISTRATOR,
            actor="system:first-run",
            now=clock(),
        )
    return True


def require_admin(store: Store) -> None:
    with store.read() as session:
        if not accounts.has_administrator(session):
            raise SetupError(
                "the Console has no administrator yet, and there is no default password",
                "set STOCKADE_ADMIN_PASSWORD, pass --admin-password-file FILE, or run "
                "'stockade console serve' in a terminal to be asked for one",
            )


def build_app(store: Store, config: ConsoleConfig, *, clock: Clock = utc_now) -> FastAPI:
    context = ConsoleContext(config=config, store=store, clock=clock)
    return create_app(context)
