"""``stockade console``: serve the Console, migrate, back up and restore, create tokens.

Every command takes the store options (``--data-dir``, ``--db``) and opens the same
database the server uses; ``serve`` migrates on start, the others need no server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stockade.cli.output import UI
from stockade.core.errors import UsageError

if TYPE_CHECKING:
    from stockade.console.config import ConsoleConfig

ADMIN_PASSWORD_VARIABLE = "STOCKADE_ADMIN_PASSWORD"  # noqa: S105  # a variable's name
DEFAULT_LISTEN = "127.0.0.1:8443"


def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Where the SQLite store, TLS files and backups live "
                "(default: the user's data dir).",
            ),
            click.option(
                "--db",
                "db",
                envvar="STOCKADE_CONSOLE_DB",
                help="postgresql://USER@HOST/DB to use PostgreSQL instead of SQLite "
                "(also STOCKADE_CONSOLE_DB).",
            ),
        )
    ):
        command = option(command)
    return command


def _config(data_dir: Path | None, db: str | None) -> ConsoleConfig:
    from stockade.console.config import ConsoleConfig, database_url, default_data_dir

    directory = data_dir or default_data_dir()
    return ConsoleConfig(database_url=database_url(directory, db), data_dir=directory)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) <= 65535:
        raise UsageError(f"--listen {value!r} is not HOST:PORT", hint="e.g. 0.0.0.0:8443")
    return host.strip("[]") or "127.0.0.1", int(port)


def _admin_password(password_file: Path | None, ui: UI) -> str | None:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read {password_file}: {exc.strerror}") from exc
    from_env = os.environ.get(ADMIN_PASSWORD_VARIABLE)
    if from_env:
        return from_env
    if sys.stdin.isatty() and ui.interactive:
        return str(
            click.prompt(
                "password for the first administrator (user 'admin')",
                hide_input=True,
                confirmation_prompt=True,
                err=True,
            )
        )
    return None


@click.group()
def console() -> None:
    """The Console: REST API over one store of images, findings, compliance and events."""


@console.command("serve")
@_store_options
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--admin-password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"First run: the first administrator's password (or {ADMIN_PASSWORD_VARIABLE}, "
    "or a prompt in a terminal).",
)
@click.option(
    "--unsafe-plain-http",
    is_flag=True,
    help="Serve plain HTTP (only behind a proxy that terminates TLS).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes serving the port: more use more cores (each opens its own database "
    "connections).",
)
@click.pass_obj
def serve(
    ui: UI,
    data_dir: Path | None,
    db: str | None,
    listen: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    admin_password_file: Path | None,
    unsafe_plain_http: bool,
    workers: int,
) -> None:
    """Migrate the store and serve the API over HTTPS (a self-signed certificate is made
    in the data dir unless --tls-cert/--tls-key are given)."""
    from stockade.console.server import ServeOptions
    from stockade.console.server import serve as run_server
    from stockade.console.service import create_first_admin, open_store

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    host, port = _listen(listen)
    config = _config(data_dir, db)
    store = open_store(config)
    try:
        from stockade.console.identity.accounts import has_administrator

        with store.read() as session:
            needs_admin = not has_administrator(session)
        if needs_admin:
            password = _admin_password(admin_password_file, ui)
            if password is not None and create_first_admin(store, password):
                ui.info("created the first administrator, user 'admin'")
    finally:
        store.close()
    if unsafe_plain_http:
        ui.warn("serving plain HTTP: cookies and tokens cross the network in clear")
    scheme = "http" if unsafe_plain_http else "https"
    processes = f" ({workers} worker processes)" if workers > 1 else ""
    ui.info(f"serving the Console on {scheme}://{listen}{processes}")
    run_server(
        config,
        ServeOptions(
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            insecure_http=unsafe_plain_http,
            workers=workers,
        ),
    )


@console.command("migrate")
@_store_options
@click.pass_obj
def migrate(ui: UI, data_dir: Path | None, db: str | None) -> None:
    """Bring the store's schema to this version's head revision."""
    from stockade.console.store.engine import Store
    from stockade.console.store.migrate import current_revision, head_revision, upgrade

    store = Store(_config(data_dir, db).database_url)
    try:
        before = current_revision(store)
        upgrade(store)
        ui.info(f"{store.display_url}: schema {before or 'empty'} -> {head_revision()}")
    finally:
        store.close()


@console.command("backup")
@_store_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(ui: UI, data_dir: Path | None, db: str | None, file: Path) -> None:
    """Write a backup to FILE (SQLite: a SQLite copy; PostgreSQL: JSON lines)."""
    from stockade.console.service import open_store
    from stockade.console.store.backup import backup as take_backup

    store = open_store(_config(data_dir, db), upgrade=False)
    try:
        kind = take_backup(store, file)
    finally:
        store.close()
    ui.info(f"wrote a {kind} backup of {store.display_url} to {file}")


@console.command("restore")
@_store_options
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace everything in the store.")
@click.pass_obj
def restore(ui: UI, data_dir: Path | None, db: str | None, file: Path, yes: bool) -> None:
    """Replace everything in the store with the backup in FILE (stop the Console first)."""
    from stockade.console.service import open_store
    from stockade.console.store.backup import restore as restore_backup

    if not yes and not (
        sys.stdin.isatty()
        and click.confirm("replace everything in the Console's store with the backup?", err=True)
    ):
        raise UsageError(
            "not restored: a restore replaces everything in the store",
            hint="pass --yes to restore without the question",
        )
    store = open_store(_config(data_dir, db))
    try:
        kind = restore_backup(store, file)
    finally:
        store.close()
    ui.info(f"restored {store.display_url} from the {kind} backup {file}")


@console.group("token")
def token() -> None:
    """API tokens for CI, scripts and Defenders."""


@token.command("create")
@_store_options
@click.option(
    "--role",
    type=click.Choice(["administrator", "operator", "auditor", "ci", "defender"]),
    required=True,
)
@click.option("--name", required=True, help="What the token is for (shown in lists and logs).")
@click.option("--expires-in-days", type=click.IntRange(min=1, max=3650))
def create_token(
    data_dir: Path | None, db: str | None, role: str, name: str, expires_in_days: int | None
) -> None:
    """Create a token and print it, this once (only its digest is stored)."""
    import datetime as dt

    from stockade.console.clock import utc_now
    from stockade.console.identity.accounts import create_token as issue
    from stockade.console.roles import Role
    from stockade.console.service import open_store

    store = open_store(_config(data_dir, db))
    now = utc_now()
    expires = now + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with store.write() as session:
            issued = issue(
                session,
                name=name,
                role=Role(role),
                actor=f"cli:{_local_user()}",
                now=now,
                expires_at=expires,
            )
    finally:
        store.close()
    click.echo(issued.token)


@console.group("defender")
def defender() -> None:
    """Enrol Defenders: one host, one token bound to it."""


@defender.command("enrol")
@_store_options
@click.argument("host")
@click.option("--expires-in-days", type=click.IntRange(min=1, max=3650))
def enrol_defender(
    data_dir: Path | None, db: str | None, host: str, expires_in_days: int | None
) -> None:
    """Enrol a Defender for HOST and print its token, this once.

    The token may push events for HOST only; revoke or rotate it with the API
    (DELETE /api/v1/defenders/ID, POST /api/v1/defenders/ID/token).
    """
    import datetime as dt

    from stockade.console import defenders
    from stockade.console.clock import utc_now
    from stockade.console.service import open_store

    store = open_store(_config(data_dir, db))
    now = utc_now()
    expires = now + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with store.write() as session:
            done = defenders.enrol(
                session, host, actor=f"cli:{_local_user()}", now=now, expires_at=expires
            )
    finally:
        store.close()
    click.echo(done.token)


def _local_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
