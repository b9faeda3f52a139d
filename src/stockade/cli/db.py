"""``stockade db``: the local advisory store: ``update``, ``import`` and ``status``.

Every subcommand works on the store named by ``--db PATH`` (given to ``db`` or to the
subcommand), else by ``STOCKADE_DB``, else the default in the user's data directory.
``update`` and ``import`` start a store that does not exist yet from the advisory bundle
shipped with Stockade (unless ``--no-bundle``); ``status`` does so for the default store
only, as ``stockade scan`` does.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from stockade.cli.output import UI
from stockade.report.table import DEFAULT_WIDTH, printable
from stockade.vulndb.bundle import (
    BundleError,
    describe_install,
    install_if_missing,
    read_manifest,
)
from stockade.vulndb.errors import VulnDBError
from stockade.vulndb.importing import import_path
from stockade.vulndb.store import AdvisoryStore, default_path
from stockade.vulndb.update import (
    RetryPolicy,
    SourceReport,
    UpdateResult,
    UpdateSettings,
    default_feeds,
    describe_store,
    human_age,
    mirrors_from_environment,
    parse_mirrors,
    record_import,
    store_lock,
    update_store,
)

STORE_VARIABLE = "STOCKADE_DB"
_MAX_WARNINGS = 10

F = TypeVar("F", bound=Callable[..., Any])


def store_option(*, envvar: str | None) -> Callable[[F], F]:
    """``--db PATH``; a command that reads advisories adds it with ``envvar=STOCKADE_DB``
    and passes the value to :func:`store_path`."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=envvar,
        help="The advisory store (default: STOCKADE_DB, else the user data directory).",
    )


def store_path(ctx: click.Context, given: Path | None) -> Path:
    """The store a ``db`` subcommand works on: its own ``--db``, the group's (which also
    reads ``STOCKADE_DB``), or the default."""
    if given is not None:
        return given
    group: Path | None = ctx.meta.get("stockade.db")
    return group if group is not None else default_path()


def _install_bundle(ui: UI, path: Path, *, required: bool = False) -> None:
    try:
        installed = install_if_missing(path)
    except BundleError as exc:
        if required:
            raise
        # The feeds (or the files imported) build a store without it.
        ui.warn(f"{exc.message}; starting an empty store")
        return
    if installed is not None:
        ui.info(describe_install(installed))


_NO_BUNDLE = click.option(
    "--no-bundle",
    is_flag=True,
    help="Start a store that does not exist yet empty, not from the bundled data.",
)


@click.group()
@store_option(envvar=STORE_VARIABLE)
@click.pass_context
def db(ctx: click.Context, db_path: Path | None) -> None:
    """Manage the local advisory store: update it, import feeds, show its state."""
    ctx.meta["stockade.db"] = db_path


@db.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="NAME",
    help="Update only this feed (repeatable; `osv` for every OSV feed). Default: all.",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="SOURCE=URL",
    help="Download SOURCE (a feed or `osv`) from URL instead (repeatable; also "
    "STOCKADE_DB_MIRRORS). A URL ending in / is a directory laid out like upstream.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep downloads here between updates (default: the user cache directory).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds to wait for a server before trying again.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=20),
    default=3,
    show_default=True,
    help="Tries after the first, with growing pauses, when a download fails.",
)
@_NO_BUNDLE
@store_option(envvar=None)
@click.pass_context
def update(
    ctx: click.Context,
    sources: tuple[str, ...],
    mirrors: tuple[str, ...],
    cache_dir: Path | None,
    timeout: float,
    retries: int,
    no_bundle: bool,
    db_path: Path | None,
) -> None:
    """Download the advisory feeds and update the store.

    Feeds: OSV's archive of each ecosystem (osv-pypi, osv-npm, osv-go, …), the Debian
    security tracker and Alpine's secdb. Unchanged feeds are not downloaded again; a cut
    download continues where it stopped; the store changes only when every feed
    succeeded. For air-gapped sites, see `stockade db import`.
    """
    ui: UI = ctx.obj
    path = store_path(ctx, db_path)
    feeds = default_feeds()
    names = {feed.name for feed in feeds} | {feed.family for feed in feeds}
    settings = UpdateSettings(
        cache_dir=cache_dir,
        mirrors=parse_mirrors([*mirrors_from_environment(), *mirrors], known=names),
        sources=sources,
        timeout=timeout,
        retry=RetryPolicy(attempts=retries + 1),
    )
    if not no_bundle:
        _install_bundle(ui, path)
    result = update_store(
        path,
        settings=settings,
        feeds=feeds,
        report=ui.info,
        warn=ui.warn,
        progress=ui.progress,
    )
    ui.info(_update_summary(result))


def _update_summary(result: UpdateResult) -> str:
    imported = [feed for feed in result.feeds if feed.imported]
    unchanged = len(result.feeds) - len(imported)
    if not result.changed:
        return f"the store is up to date with {_count(len(result.feeds), 'feed')}"
    advisories = sum(feed.advisories or 0 for feed in imported)
    return (
        f"updated {_count(len(imported), 'feed')} ({advisories} advisories), "
        f"{unchanged} unchanged, in {result.seconds:.1f}s: {result.store}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@db.command("import")
@click.argument("source_path", metavar="PATH", type=click.Path(path_type=Path))
@click.option(
    "--source",
    help="Store the advisories as this source (default: the format's own name, such as "
    "osv; use a feed's name, such as osv-pypi, to replace what `db update` fetched).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Empty each source the import writes first, so advisories the feed dropped go.",
)
@_NO_BUNDLE
@store_option(envvar=None)
@click.pass_context
def import_command(
    ctx: click.Context,
    source_path: Path,
    source: str | None,
    replace: bool,
    no_bundle: bool,
    db_path: Path | None,
) -> None:
    """Import advisories from PATH: a file, a directory or a zip archive.

    Reads OSV (JSON or YAML, such as OSV's all.zip), the Debian security tracker's JSON,
    Alpine's secdb, RubySec and the Node.js security WG's database, recognising each
    document by its shape. The way to keep an air-gapped store current.
    """
    ui: UI = ctx.obj
    path = store_path(ctx, db_path)
    if not source_path.exists():
        raise VulnDBError(
            f"{source_path}: no such file or directory",
            hint="give an advisory file, a directory of them, or a zip archive",
        )
    if not no_bundle:
        _install_bundle(ui, path)
    warnings: list[str] = []
    with store_lock(path, wait=False), AdvisoryStore.open(path) as store:
        summary = import_path(
            store, source_path, source=source, replace_source=replace, warn=warnings.append
        )
        if summary.documents == 0:
            raise VulnDBError(
                f"{source_path}: no advisory document this Stockade can read",
                hint=warnings[0] if warnings else "check the path and the files' formats",
            )
        record_import(path, summary)
    for line in warnings[:_MAX_WARNINGS]:
        ui.warn(line)
    if len(warnings) > _MAX_WARNINGS:
        ui.warn(f"… and {len(warnings) - _MAX_WARNINGS} more")
    per_source = ", ".join(f"{name} {count}" for name, count in summary.sources.items())
    ui.info(
        f"imported {summary.advisories} advisories ({per_source}) from {summary.documents} "
        f"documents, {summary.skipped} skipped, in {summary.seconds:.1f}s"
    )


@db.command()
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@store_option(envvar=None)
@click.pass_context
def status(ctx: click.Context, fmt: str, db_path: Path | None) -> None:
    """Show each source of the store: advisories, where they came from, how old."""
    ui: UI = ctx.obj
    path = store_path(ctx, db_path)
    if path == default_path():
        _install_bundle(ui, path, required=True)  # the first use of the default store
    elif not path.exists():
        raise VulnDBError(
            f"no advisory store at {path}",
            hint="create it with `stockade db update` or `stockade db import PATH`",
        )
    now = dt.datetime.now(dt.UTC)
    reports = describe_store(path, now=now)
    if fmt == "json":
        json.dump(_status_json(path, reports), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print_status(path, reports, color=ui.color)


def _status_json(path: Path, reports: Sequence[SourceReport]) -> dict[str, Any]:
    def when(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    manifest = read_manifest() if any(r.origin == "bundle" for r in reports) else None
    return {
        "store": str(path),
        "advisories": sum(r.advisories for r in reports),
        "sources": [
            {
                "name": r.name,
                "advisories": r.advisories,
                "origin": r.origin,
                "location": r.location,
                "as_of": when(r.as_of),
                "age_seconds": int(r.age.total_seconds()) if r.age else None,
                "newest_advisory": when(r.newest),
                "updated": when(r.updated),
                "checked": when(r.checked),
                "error": r.error,
                "failed": when(r.failed),
                "ecosystems": dict(r.ecosystems),
            }
            for r in reports
        ],
        "bundle": (
            {"built": manifest.built.isoformat(), "sources": [s.name for s in manifest.sources]}
            if manifest
            else None
        ),
    }


def _print_status(path: Path, reports: Sequence[SourceReport], *, color: bool) -> None:
    console = Console(
        file=sys.stdout,
        color_system="auto" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,  # sentences are never folded; the table still fits the width
        width=None if sys.stdout.isatty() else DEFAULT_WIDTH,
    )
    total = sum(r.advisories for r in reports)
    console.print(Text(printable(f"store: {path} ({total} advisories)")))
    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold" if color else None,
        show_edge=False,
        pad_edge=False,
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("SOURCE", "left"),
        ("ADVISORIES", "right"),
        ("FROM", "left"),
        ("DATA AS OF", "left"),
        ("AGE", "right"),
        ("LAST UPDATE", "left"),
    )
    for heading, justify in columns:
        table.add_column(heading, justify=justify)
    for r in reports:
        table.add_row(
            printable(r.name),
            str(r.advisories),
            r.origin or "?",
            _as_of_text(r),
            human_age(r.age) if r.age else "-",
            "failed" if r.error else ("ok" if r.origin == "update" else "-"),
        )
    console.print(table)
    if any(r.origin == "bundle" or r.error for r in reports):
        console.print()
    bundled = [r for r in reports if r.origin == "bundle"]
    if bundled:
        oldest = min((r.snapshot.get("date", "") for r in bundled), default="")
        since = f", the oldest from {oldest}" if oldest else ""
        console.print(
            Text(
                f"{len(bundled)} sources come from the bundled snapshot shipped with Stockade"
                f"{since}; run `stockade db update` for current data."
            )
        )
    for r in reports:
        if r.error:
            failed = f" at {r.failed:%Y-%m-%d %H:%M} UTC" if r.failed else ""
            console.print(Text(printable(f"{r.name}: the last update failed{failed}: {r.error}")))


def _as_of_text(report: SourceReport) -> str:
    if report.as_of is None:
        return "-"
    if report.origin == "update":
        return f"{report.as_of:%Y-%m-%d %H:%M}"
    if report.origin == "bundle" and report.snapshot.get("date"):
        return report.snapshot["date"]  # as precise as the snapshot is known: 2020-06
    return report.as_of.date().isoformat()
