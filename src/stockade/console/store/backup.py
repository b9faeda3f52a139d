"""Backups: SQLite's online backup API for SQLite; a logical export for PostgreSQL.

* SQLite: ``backup`` copies the live database page by page into a new SQLite file (safe
  while the Console runs); ``restore`` copies such a file back the same way.
* PostgreSQL: ``backup`` writes JSON lines, a header and then one line per row of every
  table in dependency order, in one ``REPEATABLE READ`` snapshot; ``restore`` empties the
  tables and loads the rows in one transaction, then moves the id sequences past them.
  The same file restores into SQLite too (logical files work across stores).

Either way the restored schema revision must be the one this Console runs: restore
into a migrated database, from a backup taken by the same version.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, LargeBinary, insert, select, text, update
from sqlalchemy.engine import make_url

from stockade.console.errors import BackupError
from stockade.console.store.engine import Store
from stockade.console.store.migrate import current_revision, head_revision
from stockade.console.store.models import Base, UtcDateTime

__all__ = ["FORMAT", "backup", "restore"]

FORMAT = "stockade-console-backup"
SQLITE_MAGIC = b"SQLite format 3\x00"
_BATCH = 5000
_CYCLIC = frozenset({"images", "hosts"})


def _sqlite_path(store: Store) -> str:
    database = make_url(store.url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return database


def backup(store: Store, destination: Path) -> str:
    """Write a backup of ``store`` to ``destination``; returns the format written."""
    if destination.exists():
        raise BackupError(f"{destination} exists already", "choose a new file name")
    try:
        if store.dialect == "sqlite":
            with (
                sqlite3.connect(_sqlite_path(store)) as source,
                sqlite3.connect(destination) as target,
            ):
                source.backup(target)
            source.close()
            target.close()
            return "sqlite"
        with destination.open("x", encoding="utf-8") as out:
            _export(store, out)
        return "jsonl"
    except (OSError, sqlite3.Error) as exc:
        destination.unlink(missing_ok=True)
        raise BackupError(f"cannot write the backup {destination}: {exc}") from exc


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    return value


def _export(store: Store, out: IO[str]) -> None:
    with store.engine.connect() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        header = {"format": FORMAT, "version": 1, "revision": current_revision(store)}
        out.write(json.dumps(header) + "\n")
        for table in Base.metadata.sorted_tables:
            result = connection.execution_options(yield_per=_BATCH).execute(
                select(table).order_by(*table.primary_key.columns)
            )
            for row in result.mappings():
                record = {"t": table.name, "r": {k: _encode(v) for k, v in row.items()}}
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
        connection.rollback()


def restore(store: Store, source: Path) -> str:
    """Replace everything in ``store`` with the backup in ``source``; returns its format."""
    try:
        with source.open("rb") as probe:
            magic = probe.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc}") from exc
    if magic == SQLITE_MAGIC:
        if store.dialect != "sqlite":
            raise BackupError(
                "a SQLite backup restores into SQLite only",
                "back the SQLite Console up on PostgreSQL's side with a logical export",
            )
        _check_sqlite_revision(source)
        try:
            with sqlite3.connect(source) as backup_db, sqlite3.connect(_sqlite_path(store)) as live:
                backup_db.backup(live)
            backup_db.close()
            live.close()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot restore {source}: {exc}") from exc
        store.engine.dispose()  # pooled connections saw the old file
        return "sqlite"
    with source.open(encoding="utf-8") as lines:
        _import(store, lines, source)
    return "jsonl"


def _check_sqlite_revision(source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        db.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source} is not a Stockade Console backup: {exc}") from exc
    if row is None or row[0] != head_revision():
        raise BackupError(
            f"{source} has schema revision {row[0] if row else None}, this Console "
            f"{head_revision()}",
            "restore with the Stockade version that took the backup, then upgrade",
        )


def _decoder(table_name: str) -> Any:
    table = Base.metadata.tables[table_name]
    times = {c.name for c in table.columns if isinstance(c.type, UtcDateTime)}
    blobs = {c.name for c in table.columns if isinstance(c.type, LargeBinary)}

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        for name in times:
            value = row.get(name)
            if isinstance(value, dict) and "$t" in value:
                row[name] = dt.datetime.fromisoformat(value["$t"])
        for name in blobs:
            value = row.get(name)
            if isinstance(value, dict) and "$b" in value:
                row[name] = base64.b64decode(value["$b"])
        return row

    return decode


def _records(lines: IO[str], source: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(lines, start=2):
        try:
            record = json.loads(line)
            yield record["t"], record["r"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{source}:{number}: not a backup record") from exc


def _import(store: Store, lines: IO[str], source: Path) -> None:
    try:
        header = json.loads(lines.readline())
    except ValueError as exc:
        raise BackupError(f"{source} is not a Stockade Console backup") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{source} is not a Stockade Console backup")
    if header.get("revision") != head_revision():
        raise BackupError(
            f"{source} has schema revision {header.get('revision')}, this Console "
            f"{head_revision()}",
            "restore with the Stockade version that took the backup",
        )
    tables = Base.metadata.sorted_tables
    decoders = {t.name: _decoder(t.name) for t in tables}
    with store.engine.connect() as connection, connection.begin():
        _empty(connection, store.dialect)
        batch: list[dict[str, Any]] = []
        current: str | None = None
        latest: list[tuple[str, int, int]] = []
        for name, row in _records(lines, source):
            if name not in decoders:
                raise BackupError(f"{source}: unknown table {name!r}")
            if name in _CYCLIC and row.get("latest_scan_id") is not None:
                # The scan it points at is loaded later: link the two once both exist.
                latest.append((name, int(row["id"]), int(row["latest_scan_id"])))
                row["latest_scan_id"] = None
            if name != current and batch:
                connection.execute(insert(Base.metadata.tables[current or name]), batch)
                batch = []
            current = name
            batch.append(decoders[name](row))
            if len(batch) >= _BATCH:
                connection.execute(insert(Base.metadata.tables[name]), batch)
                batch = []
        if batch and current is not None:
            connection.execute(insert(Base.metadata.tables[current]), batch)
        for name, row_id, scan_id in latest:
            table = Base.metadata.tables[name]
            connection.execute(
                update(table).where(table.c.id == row_id).values(latest_scan_id=scan_id)
            )
        if store.dialect == "postgresql":
            _reset_sequences(connection)


def _empty(connection: Connection, dialect: str) -> None:
    names = [t.name for t in Base.metadata.sorted_tables]
    if dialect == "postgresql":
        connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        return
    # images/hosts and scans point at each other: break the cycle first.
    connection.execute(text("UPDATE images SET latest_scan_id = NULL"))
    connection.execute(text("UPDATE hosts SET latest_scan_id = NULL"))
    for name in reversed(names):
        connection.execute(text(f"DELETE FROM {name}"))  # noqa: S608  # our table names


def _reset_sequences(connection: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        column = table.columns.get("id")
        if column is None or not column.autoincrement:
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )
