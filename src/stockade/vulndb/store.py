"""The local advisory store: one SQLite file, by default in the user's data directory.

Schema (version :data:`SCHEMA_VERSION`)::

    schema_version(version)                 -- one row
    sources(name PRIMARY KEY, last_import, origin, advisories, newest, ecosystems)
    advisories(rowid, source, id, newest, record)       UNIQUE (source, id), INDEX (id)
    affected(advisory → advisories.rowid, ecosystem_base, ecosystem, name)
        INDEX (ecosystem_base, name, ecosystem, advisory)  -- package lookups
        INDEX (advisory)
    aliases(alias, advisory → advisories.rowid)  INDEX (alias), INDEX (advisory)

An advisory is kept whole as compressed JSON in ``record`` (see
:mod:`stockade.vulndb.codec`); ``affected`` holds one row per distinct package it names,
with the name normalised as :func:`~stockade.core.advisory.normalize_package_name` does.
The package index answers both kinds of lookup: a language package by
(``PyPI``, ``django``), and a distribution's source package in one release by
(``Debian``, ``openssl``, ``Debian:12``), or in every release by (``Debian``,
``openssl``). ``newest`` is an advisory's latest ``modified``/``published`` time, from
which :meth:`AdvisoryStore.status` tells how old each source's data is.

The database runs in WAL mode, so scans keep reading the previous data while an import
writes; an import is one transaction, so a failed import leaves the store as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import platformdirs

from stockade.core.advisory import (
    Advisory,
    Affected,
    ecosystem_base,
    normalize_package_name,
)
from stockade.vulndb import codec
from stockade.vulndb.errors import VulnDBError

SCHEMA_VERSION: Final = 1
STORE_FILE_NAME: Final = "vulndb.sqlite"
_CHUNK: Final = 500
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_SCHEMA: Final = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    last_import TEXT NOT NULL,
    origin TEXT,
    advisories INTEGER NOT NULL,
    newest TEXT,
    ecosystems TEXT NOT NULL
);
CREATE TABLE advisories (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    newest TEXT,
    record BLOB NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX advisories_by_id ON advisories (id);
CREATE TABLE affected (
    advisory INTEGER NOT NULL,
    ecosystem_base TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX affected_by_package ON affected (ecosystem_base, name, ecosystem, advisory);
CREATE INDEX affected_by_advisory ON affected (advisory);
CREATE TABLE aliases (alias TEXT NOT NULL, advisory INTEGER NOT NULL);
CREATE INDEX aliases_by_alias ON aliases (alias);
CREATE INDEX aliases_by_advisory ON aliases (advisory);
"""


def default_path() -> Path:
    """Where the store lives unless told otherwise: ``<user data dir>/stockade/vulndb.sqlite``."""
    return platformdirs.user_data_path("stockade") / STORE_FILE_NAME


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What the store holds from one feed, and how fresh it is."""

    source: str
    advisories: int
    last_import: dt.datetime
    """When an import last changed this source."""
    newest: dt.datetime | None
    """The latest ``modified`` (or ``published``) time of any of its advisories; None
    when the feed dates nothing (Alpine's secdb)."""
    data_age: dt.timedelta | None
    """How long before :meth:`AdvisoryStore.status` was asked ``newest`` is."""
    origin: str | None = None
    """The file, directory or archive the last import read."""
    ecosystems: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    """How many of its advisories name a package in each ecosystem."""


class AdvisoryStore:
    """The advisory store; open one with :meth:`open` and close it (or use ``with``)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, *, read_only: bool) -> None:
        self._db = connection
        self.path = path
        self.read_only = read_only

    @classmethod
    def open(cls, path: Path | str | None = None, *, read_only: bool = False) -> Self:
        """Open the store at ``path`` (default :func:`default_path`), creating it unless
        ``read_only``. Raises :class:`VulnDBError` when it cannot be opened or was written
        by an incompatible version."""
        location = Path(path) if path is not None else default_path()
        try:
            if read_only:
                if not location.is_file():
                    raise VulnDBError(
                        f"no advisory store at {location}",
                        hint="import advisories first (the store is created on import)",
                    )
                connection = sqlite3.connect(
                    f"{location.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
                )
            else:
                location.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(location, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise VulnDBError(f"cannot open the advisory store {location}: {exc}") from exc
        store = cls(connection, location, read_only=read_only)
        try:
            store._prepare()
        except BaseException:
            connection.close()
            raise
        return store

    def _prepare(self) -> None:
        try:
            self._db.execute("PRAGMA busy_timeout = 60000")
            if not self.read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            has_schema = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            if not has_schema:
                if self.read_only:
                    raise VulnDBError(f"{self.path} is an empty advisory store")
                self._create_schema()
                return
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.Error as exc:
            raise VulnDBError(
                f"{self.path} is not a readable advisory store: {exc}",
                hint="move the file away (or delete it) and import the feeds again",
            ) from exc
        version = row[0] if row else None
        if version != SCHEMA_VERSION:
            raise VulnDBError(
                f"the advisory store {self.path} has schema version {version}, "
                f"this Stockade reads version {SCHEMA_VERSION}",
                hint="delete the store file and import the feeds again",
            )

    def _create_schema(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created it between our look and the lock.
            if not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
            ).fetchone():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------

    @contextmanager
    def importing(self, *, origin: str | None = None) -> Iterator[ImportBatch]:
        """One import as one transaction: everything added in the ``with`` block appears
        together when it ends, or not at all if it raises."""
        if self.read_only:
            raise VulnDBError(f"the advisory store {self.path} was opened read-only")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot write the advisory store {self.path}: {exc}") from exc
        batch = ImportBatch(self._db)
        try:
            yield batch
            batch.finish(origin)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise VulnDBError(f"cannot write the advisory store {self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk, say).
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def import_advisories(
        self,
        advisories: Iterable[Advisory],
        *,
        merge: bool = False,
        replace_sources: Iterable[str] = (),
        origin: str | None = None,
    ) -> int:
        """Add advisories in one transaction; returns how many were written.

        ``replace_sources`` are emptied first (a full feed update). With ``merge``, an
        advisory already stored is merged with the new one package by package (see
        :func:`merge_by_package`) instead of replaced.
        """
        with self.importing(origin=origin) as batch:
            for source in replace_sources:
                batch.clear_source(source)
            for advisory in advisories:
                batch.add(advisory, merge=merge)
            return batch.added

    # --- reading --------------------------------------------------------------------

    def advisories_for(self, ecosystem: str, name: str) -> list[Advisory]:
        """Advisories naming one package. An ecosystem with a release (``Debian:12``)
        matches that release; without one (``Debian``, ``PyPI``) it matches every release.
        """
        return self.lookup([(ecosystem, name)])[(ecosystem, name)]

    def advisories_for_many(
        self, ecosystem: str, names: Iterable[str]
    ) -> dict[str, list[Advisory]]:
        """:meth:`advisories_for` for many names of one ecosystem at once."""
        wanted = list(dict.fromkeys(names))
        found = self.lookup((ecosystem, name) for name in wanted)
        return {name: found[(ecosystem, name)] for name in wanted}

    def lookup(self, packages: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Advisory]]:
        """Advisories for many (ecosystem, name) pairs, each pair's list sorted by
        (source, id). An advisory naming several of the packages is decoded once."""
        queries = list(dict.fromkeys(packages))
        by_key: dict[tuple[str, str | None, str], list[tuple[str, str]]] = {}
        for ecosystem, name in queries:
            release_ecosystem = ecosystem if ":" in ecosystem else None
            key = (
                ecosystem_base(ecosystem),
                release_ecosystem,
                normalize_package_name(ecosystem, name),
            )
            by_key.setdefault(key, []).append((ecosystem, name))

        hits: dict[tuple[str, str | None, str], set[int]] = {key: set() for key in by_key}
        groups: dict[tuple[str, str | None], list[str]] = {}
        for base, release, name in by_key:
            groups.setdefault((base, release), []).append(name)
        try:
            for (base, release), names in groups.items():
                for start in range(0, len(names), _CHUNK):
                    chunk = names[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    # Only placeholders are formatted into the text; values are bound.
                    query = f"SELECT DISTINCT name, advisory FROM affected WHERE ecosystem_base = ? AND name IN ({marks})"  # noqa: S608, E501
                    if release is None:
                        rows = self._db.execute(query, (base, *chunk))
                    else:
                        rows = self._db.execute(
                            f"{query} AND ecosystem = ?", (base, *chunk, release)
                        )
                    for name, advisory in rows:
                        hits[(base, release, name)].add(advisory)
            records = self._records({rowid for found in hits.values() for rowid in found})
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot read the advisory store {self.path}: {exc}") from exc

        result: dict[tuple[str, str], list[Advisory]] = {}
        for key, originals in by_key.items():
            advisories = sorted((records[rowid] for rowid in hits[key]), key=_order)
            for original in originals:
                result[original] = advisories
        return result

    def _records(self, rowids: set[int]) -> dict[int, Advisory]:
        decoded: dict[int, Advisory] = {}
        ordered = sorted(rowids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for rowid, blob in self._db.execute(
                f"SELECT rowid, record FROM advisories WHERE rowid IN ({marks})",  # noqa: S608
                chunk,
            ):
                decoded[rowid] = codec.decode(blob)
        return decoded

    def advisory(self, identifier: str) -> list[Advisory]:
        """Every stored advisory with this id or alias (one per source that has it)."""
        try:
            rows = self._db.execute(
                "SELECT rowid FROM advisories WHERE id = ? "
                "UNION SELECT advisory FROM aliases WHERE alias = ?",
                (identifier, identifier),
            ).fetchall()
            records = self._records({row[0] for row in rows})
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot read the advisory store {self.path}: {exc}") from exc
        return sorted(records.values(), key=_order)

    def __len__(self) -> int:
        try:
            return int(self._db.execute("SELECT count(*) FROM advisories").fetchone()[0])
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot read the advisory store {self.path}: {exc}") from exc

    def status(self, *, now: dt.datetime | None = None) -> list[SourceStatus]:
        """One entry per source, sorted by name."""
        moment = now or dt.datetime.now(dt.UTC)
        try:
            rows = self._db.execute(
                "SELECT name, advisories, last_import, newest, origin, ecosystems "
                "FROM sources ORDER BY name"
            ).fetchall()
        except sqlite3.Error as exc:
            raise VulnDBError(f"cannot read the advisory store {self.path}: {exc}") from exc
        statuses: list[SourceStatus] = []
        for name, count, last_import, newest_text, origin, ecosystems in rows:
            newest = dt.datetime.fromisoformat(newest_text) if newest_text else None
            statuses.append(
                SourceStatus(
                    source=name,
                    advisories=count,
                    last_import=dt.datetime.fromisoformat(last_import),
                    newest=newest,
                    data_age=(moment - newest) if newest else None,
                    origin=origin,
                    ecosystems=json.loads(ecosystems),
                )
            )
        return statuses


def _order(advisory: Advisory) -> tuple[str, str]:
    return (advisory.source, advisory.id)


class ImportBatch:
    """The writing side of one :meth:`AdvisoryStore.importing` transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._touched: set[str] = set()
        self.added = 0

    def add(self, advisory: Advisory, *, merge: bool = False) -> None:
        """Write one advisory, replacing (or with ``merge``, merging into) the stored
        record with the same source and id."""
        existing = self._db.execute(
            "SELECT rowid, record FROM advisories WHERE source = ? AND id = ?",
            (advisory.source, advisory.id),
        ).fetchone()
        if existing is not None and merge:
            advisory = merge_by_package(codec.decode(existing[1]), advisory)
        record = codec.encode(advisory)
        newest = _newest(advisory)
        if existing is None:
            cursor = self._db.execute(
                "INSERT INTO advisories (source, id, newest, record) VALUES (?, ?, ?, ?)",
                (advisory.source, advisory.id, newest, record),
            )
            rowid = cursor.lastrowid
        else:
            rowid = existing[0]
            self._db.execute(
                "UPDATE advisories SET newest = ?, record = ? WHERE rowid = ?",
                (newest, record, rowid),
            )
            self._db.execute("DELETE FROM affected WHERE advisory = ?", (rowid,))
            self._db.execute("DELETE FROM aliases WHERE advisory = ?", (rowid,))
        packages = {
            (
                entry.ecosystem_base,
                entry.ecosystem,
                normalize_package_name(entry.ecosystem, entry.name),
            )
            for entry in advisory.affected
        }
        self._db.executemany(
            "INSERT INTO affected (advisory, ecosystem_base, ecosystem, name) VALUES (?, ?, ?, ?)",
            [(rowid, *package) for package in sorted(packages)],
        )
        aliases = {alias for alias in advisory.aliases if alias != advisory.id}
        self._db.executemany(
            "INSERT INTO aliases (alias, advisory) VALUES (?, ?)",
            [(alias, rowid) for alias in sorted(aliases)],
        )
        self._touched.add(advisory.source)
        self.added += 1

    def clear_source(self, source: str) -> int:
        """Remove everything one source holds; returns how many advisories that was."""
        selection = "SELECT rowid FROM advisories WHERE source = ?"
        self._db.execute(f"DELETE FROM affected WHERE advisory IN ({selection})", (source,))  # noqa: S608
        self._db.execute(f"DELETE FROM aliases WHERE advisory IN ({selection})", (source,))  # noqa: S608
        removed = self._db.execute("DELETE FROM advisories WHERE source = ?", (source,)).rowcount
        self._touched.add(source)
        return int(removed)

    def finish(self, origin: str | None) -> None:
        """Bring the per-source summary up to date; called just before the commit."""
        now = dt.datetime.now(dt.UTC).isoformat()
        for source in sorted(self._touched):
            count, newest = self._db.execute(
                "SELECT count(*), max(newest) FROM advisories WHERE source = ?", (source,)
            ).fetchone()
            if not count:
                self._db.execute("DELETE FROM sources WHERE name = ?", (source,))
                continue
            ecosystems = dict(
                self._db.execute(
                    "SELECT f.ecosystem, count(DISTINCT f.advisory) FROM advisories a "
                    "JOIN affected f ON f.advisory = a.rowid WHERE a.source = ? "
                    "GROUP BY f.ecosystem ORDER BY f.ecosystem",
                    (source,),
                ).fetchall()
            )
            self._db.execute(
                "INSERT INTO sources (name, last_import, origin, advisories, newest, ecosystems) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "last_import = excluded.last_import, origin = excluded.origin, "
                "advisories = excluded.advisories, newest = excluded.newest, "
                "ecosystems = excluded.ecosystems",
                (source, now, origin, count, newest, json.dumps(ecosystems)),
            )


def _newest(advisory: Advisory) -> str | None:
    # Placeholder times (Go's vulndb writes 0001-01-01 for "modified") say nothing.
    times = [
        moment.astimezone(dt.UTC)
        for moment in (advisory.modified, advisory.published)
        if moment is not None and moment.astimezone(dt.UTC) > _EPOCH
    ]
    return max(times).isoformat() if times else None


def merge_by_package(stored: Advisory, incoming: Advisory) -> Advisory:
    """One advisory from a stored record and a newer piece of it.

    The incoming entries replace stored entries for the same package (ecosystem and
    normalised name); stored entries for other packages are kept. Lists of ids and
    references are joined; other fields come from the incoming record unless it leaves
    them empty.
    """

    def package(entry: Affected) -> tuple[str, str]:
        return (entry.ecosystem, normalize_package_name(entry.ecosystem, entry.name))

    replaced = {package(entry) for entry in incoming.affected}
    kept = tuple(entry for entry in stored.affected if package(entry) not in replaced)
    return dataclasses.replace(
        incoming,
        summary=incoming.summary or stored.summary,
        details=incoming.details or stored.details,
        aliases=_joined(stored.aliases, incoming.aliases, drop=incoming.id),
        related=_joined(stored.related, incoming.related, drop=incoming.id),
        upstream=_joined(stored.upstream, incoming.upstream, drop=incoming.id),
        severity=max(stored.severity, incoming.severity),
        cvss=incoming.cvss or stored.cvss,
        published=incoming.published or stored.published,
        modified=incoming.modified or stored.modified,
        references=tuple(dict.fromkeys((*incoming.references, *stored.references))),
        affected=(*kept, *incoming.affected),
        database_specific=incoming.database_specific or stored.database_specific,
    )


def _joined(first: tuple[str, ...], second: tuple[str, ...], *, drop: str) -> tuple[str, ...]:
    return tuple(item for item in dict.fromkeys((*first, *second)) if item != drop)
