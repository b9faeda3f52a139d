"""Summaries over the latest results, kept up to date in the publishing transaction.

The vulnerability list, top risks, search and compliance-by-check would otherwise group
every finding of every image's latest scan per request (seconds at 500,000 findings).
Instead each publish that moves an image's latest scan subtracts the old scan's part and
adds the new one's to:

- ``vulnerability_summaries``: per vulnerability, images and fixable findings at each
  severity threshold (see :class:`~stockade.console.store.models.VulnerabilitySummary`);
- ``package_summaries``: per package name and version, the images listing it;
- ``check_summaries`` (with ``latest_compliance``): per compliance check, results over
  every target's latest check result.

Only differences are written: re-publishing an unchanged image writes no summary row.
Rows are written in key order, so concurrent publishes on PostgreSQL lock them in the
same order and cannot deadlock on them. :func:`rebuild` recomputes everything from the
raw rows (after bulk loads, and in tests to prove the increments right).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "CheckPart",
    "VulnerabilityPart",
    "apply_check_change",
    "apply_image_change",
    "check_part",
    "check_part_of_scan",
    "package_part_of_scan",
    "rebuild",
    "search_key",
    "vulnerability_part",
    "vulnerability_part_of_scan",
]

LEVELS = 6
"""Severity ranks 0 (unknown) … 5 (critical): one threshold column each."""

_WORDS = ("", "_negligible", "_low", "_medium", "_high", "_critical")
IMAGE_COLUMNS = tuple(f"images{w}" for w in _WORDS)
FIXABLE_COLUMNS = tuple(f"fixable{w}" for w in _WORDS)
_VULN_COLUMNS = ("vuln_id", "cve", "search_key", "severity", *IMAGE_COLUMNS, *FIXABLE_COLUMNS)
SEARCH_SEPARATOR = "\x1f"
"""Between the id and the CVE in ``search_key`` (a unit separator: no query has one)."""


def search_key(vuln_id: str, cve: str | None) -> str:
    return f"{vuln_id}{SEARCH_SEPARATOR}{cve or ''}".lower()


_CHECK_COLUMNS = ("check_id", "title", "severity", "results", "failed", "passed", "failing_targets")


@dataclass(slots=True)
class VulnerabilityPart:
    """What one image's scan adds to a vulnerability's summary row."""

    cve: str | None
    counts: list[int]
    """``images`` at thresholds 0 to 5, then ``fixable`` at thresholds 0 to 5."""


@dataclass(slots=True)
class CheckPart:
    """What one target's check result adds to a check's summary row."""

    title: str
    severity: int
    counts: list[int]
    """results, failed, passed, failing targets (0 or 1)."""


_NO_VULNERABILITY = VulnerabilityPart(None, [0] * (2 * LEVELS))
_NO_CHECK = CheckPart("", 0, [0, 0, 0, 0])


# --- what one scan contributes ---------------------------------------------------------


def vulnerability_part(
    findings: Iterable[tuple[str, str | None, int, bool]],
) -> dict[str, VulnerabilityPart]:
    """One image scan's part, from its active findings as (id, cve, severity, fixable)."""
    parts: dict[str, VulnerabilityPart] = {}
    worst: dict[str, int] = {}
    for vuln_id, cve, severity, fixable in findings:
        part = parts.get(vuln_id)
        if part is None:
            part = parts[vuln_id] = VulnerabilityPart(cve, [0] * (2 * LEVELS))
            worst[vuln_id] = severity
        else:
            if cve is not None:
                part.cve = cve
            worst[vuln_id] = max(worst[vuln_id], severity)
        if fixable:
            counts = part.counts
            for level in range(min(severity, LEVELS - 1) + 1):
                counts[LEVELS + level] += 1
    for vuln_id, part in parts.items():
        for level in range(min(worst[vuln_id], LEVELS - 1) + 1):
            part.counts[level] = 1
    return parts


def vulnerability_part_of_scan(
    connection: Connection, scan_id: int
) -> tuple[dict[str, VulnerabilityPart], list[tuple[int, bool]]]:
    """A stored scan's part, and its active findings' (severity, fixable) for counts."""
    rows = _execute(
        connection,
        "SELECT vuln_id, cve, severity, fix_state FROM findings "
        "WHERE scan_id = ? AND NOT suppressed",
        (scan_id,),
    ).all()
    findings = [(v, c, int(s), f == "fixed") for v, c, s, f in rows]
    return vulnerability_part(findings), [(s, f) for _, _, s, f in findings]


def package_part_of_scan(connection: Connection, scan_id: int) -> set[tuple[str, str]]:
    rows = _execute(
        connection, "SELECT DISTINCT name, version FROM packages WHERE scan_id = ?", (scan_id,)
    ).all()
    return {(n, v) for n, v in rows}


def check_part(results: Iterable[tuple[str, str, int, str]]) -> dict[str, CheckPart]:
    """One check result's part, from its rows as (check id, title, severity, status)."""
    parts: dict[str, CheckPart] = {}
    for check_id, title, severity, status in results:
        part = parts.get(check_id)
        if part is None:
            part = parts[check_id] = CheckPart(title, severity, [0, 0, 0, 0])
        elif severity > part.severity:
            part.severity = severity
        counts = part.counts
        counts[0] += 1
        if status == "failed":
            counts[1] += 1
            counts[3] = 1
        elif status == "passed":
            counts[2] += 1
    return parts


def check_part_of_scan(connection: Connection, scan_id: int) -> dict[str, CheckPart]:
    rows = _execute(
        connection,
        "SELECT check_id, title, severity, status FROM compliance_results WHERE scan_id = ?",
        (scan_id,),
    ).all()
    return check_part((c, t, int(s), st) for c, t, s, st in rows)


# --- applying a change ------------------------------------------------------------------


def apply_image_change(
    connection: Connection,
    *,
    old_vulnerabilities: Mapping[str, VulnerabilityPart],
    new_vulnerabilities: Mapping[str, VulnerabilityPart],
    old_packages: set[tuple[str, str]],
    new_packages: set[tuple[str, str]],
) -> None:
    """An image's latest scan changed from the old parts to the new ones."""
    vulns: list[tuple[Any, ...]] = []
    gone: list[str] = []
    for vuln_id in sorted(old_vulnerabilities.keys() | new_vulnerabilities.keys()):
        new = new_vulnerabilities.get(vuln_id, _NO_VULNERABILITY)
        old = old_vulnerabilities.get(vuln_id, _NO_VULNERABILITY)
        delta = [n - o for n, o in zip(new.counts, old.counts, strict=True)]
        if not any(delta):
            continue
        cve = new.cve if new is not _NO_VULNERABILITY else old.cve
        if delta[0] < 0:
            gone.append(vuln_id)
        vulns.append((vuln_id, cve, search_key(vuln_id, cve), _worst(delta), *delta))
    if vulns:
        _upsert_vulnerabilities(connection, vulns)
    if gone:
        _delete_empty(connection, "vulnerability_summaries", ("vuln_id",), [(v,) for v in gone])

    added = new_packages - old_packages
    removed = old_packages - new_packages
    if added or removed:
        packages = sorted(
            [(n, v, n.lower(), 1) for n, v in added] + [(n, v, n.lower(), -1) for n, v in removed]
        )
        _upsert_packages(connection, packages)
    if removed:
        _delete_empty(connection, "package_summaries", ("name", "version"), sorted(removed))


def apply_check_change(
    connection: Connection, old: Mapping[str, CheckPart], new: Mapping[str, CheckPart]
) -> None:
    """A compliance target's latest result changed from the old part to the new one."""
    rows: list[tuple[Any, ...]] = []
    gone: list[tuple[str]] = []
    for check_id in sorted(old.keys() | new.keys()):
        after, before = new.get(check_id, _NO_CHECK), old.get(check_id, _NO_CHECK)
        delta = [a - b for a, b in zip(after.counts, before.counts, strict=True)]
        if not any(delta) and (after.title, after.severity) == (before.title, before.severity):
            continue
        title, severity = (
            (after.title, after.severity)
            if after is not _NO_CHECK
            else (before.title, before.severity)
        )
        if delta[0] < 0:
            gone.append((check_id,))
        rows.append((check_id, title, severity, *delta))
    if rows:
        _upsert_checks(connection, rows)
    if gone:
        _delete_empty(connection, "check_summaries", ("check_id",), gone, count="results")


def _worst(delta: list[int]) -> int:
    """The severity of a new row: the highest threshold with images."""
    for level in range(LEVELS - 1, -1, -1):
        if delta[level] > 0:
            return level
    return 0


def _execute(connection: Connection, sql: str, parameters: Any = None) -> Any:
    """Run ``sql`` written with ``?`` marks (rewritten to ``%s`` for psycopg)."""
    if connection.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    return connection.exec_driver_sql(sql, parameters)


def _is_postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


_SEVERITY_FROM_THRESHOLDS = (
    "CASE "
    + " ".join(
        f"WHEN vulnerability_summaries.{c} + excluded.{c} > 0 THEN {level}"
        for level, c in reversed(list(enumerate(IMAGE_COLUMNS)))
        if level > 0
    )
    + " ELSE 0 END"
)
_VULN_UPDATE = ", ".join(
    [
        "cve = coalesce(excluded.cve, vulnerability_summaries.cve)",
        "search_key = CASE WHEN excluded.cve IS NULL THEN vulnerability_summaries.search_key"
        " ELSE excluded.search_key END",
        f"severity = {_SEVERITY_FROM_THRESHOLDS}",
        *(f"{c} = vulnerability_summaries.{c} + excluded.{c}" for c in _VULN_COLUMNS[4:]),
    ]
)
_VULN_TYPES = ("varchar", "varchar", "varchar", "smallint", *(["integer"] * (2 * LEVELS)))


def _upsert_sql(
    connection: Connection,
    *,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    key: str,
    update: str,
) -> str:
    names = ", ".join(columns)
    if _is_postgresql(connection):
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        source = f"SELECT * FROM unnest({arrays}) AS u({names})"  # noqa: S608  # our names
    else:
        source = "VALUES (" + ", ".join("?" for _ in columns) + ")"
    return f"INSERT INTO {table} ({names}) {source} ON CONFLICT ({key}) DO UPDATE SET {update}"


def _run_upsert(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if _is_postgresql(connection):
        # One statement, one array per column: rows go in the order given (key order).
        connection.exec_driver_sql(sql, tuple(list(column) for column in zip(*rows, strict=True)))
    else:
        connection.exec_driver_sql(sql, rows)


def _upsert_vulnerabilities(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    sql = _upsert_sql(
        connection,
        table="vulnerability_summaries",
        columns=_VULN_COLUMNS,
        types=_VULN_TYPES,
        key="vuln_id",
        update=_VULN_UPDATE,
    )
    _run_upsert(connection, sql, rows)


def _upsert_packages(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    sql = _upsert_sql(
        connection,
        table="package_summaries",
        columns=("name", "version", "name_key", "images"),
        types=("varchar", "varchar", "varchar", "integer"),
        key="name, version",
        update="images = package_summaries.images + excluded.images",
    )
    _run_upsert(connection, sql, rows)


def _upsert_checks(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    update = ", ".join(
        [
            "title = excluded.title",
            "severity = excluded.severity",
            *(f"{c} = check_summaries.{c} + excluded.{c}" for c in _CHECK_COLUMNS[3:]),
        ]
    )
    sql = _upsert_sql(
        connection,
        table="check_summaries",
        columns=_CHECK_COLUMNS,
        types=("varchar", "text", "smallint", "integer", "integer", "integer", "integer"),
        key="check_id",
        update=update,
    )
    _run_upsert(connection, sql, rows)


def _delete_empty(
    connection: Connection,
    table: str,
    key: tuple[str, ...],
    keys: list[tuple[Any, ...]],
    *,
    count: str = "images",
) -> None:
    """Delete the rows of ``keys`` whose count fell to zero."""
    if _is_postgresql(connection):
        arrays = ", ".join("%s::varchar[]" for _ in key)
        names = ", ".join(key)
        match = " AND ".join(f"t.{k} = d.{k}" for k in key)
        connection.exec_driver_sql(
            f"DELETE FROM {table} AS t USING unnest({arrays}) AS d({names}) "  # noqa: S608
            f"WHERE {match} AND t.{count} <= 0",
            tuple(list(column) for column in zip(*keys, strict=True)),
        )
    else:
        match = " AND ".join(f"{k} = ?" for k in key)
        sql = f"DELETE FROM {table} WHERE {match} AND {count} <= 0"  # noqa: S608  # our names
        connection.exec_driver_sql(sql, keys)


# --- rebuilding from the raw rows -------------------------------------------------------

_REBUILD_VULNERABILITIES = f"""
INSERT INTO vulnerability_summaries ({", ".join(_VULN_COLUMNS)})
SELECT vuln_id, max(cve), '', max(worst), count(*),
    {", ".join(f"sum(CASE WHEN worst >= {level} THEN 1 ELSE 0 END)" for level in range(1, LEVELS))},
    {", ".join(f"sum(fixable_{level})" for level in range(LEVELS))}
FROM (
    SELECT f.vuln_id AS vuln_id, max(f.cve) AS cve, max(f.severity) AS worst,
        {
    ", ".join(
        f"sum(CASE WHEN f.fix_state = 'fixed' AND f.severity >= {level} THEN 1 ELSE 0 END)"
        f" AS fixable_{level}"
        for level in range(LEVELS)
    )
}
    FROM findings f JOIN images i ON i.latest_scan_id = f.scan_id
    WHERE NOT f.suppressed
    GROUP BY f.vuln_id, i.id
) per_image
GROUP BY vuln_id
"""  # noqa: S608  # our column names

_REBUILD_LATEST_COMPLIANCE = """
INSERT INTO latest_compliance (artifact_key, scan_id)
SELECT artifact_key, max(id) FROM scans WHERE kind = 'compliance' GROUP BY artifact_key
"""

_REBUILD_CHECKS = """
INSERT INTO check_summaries (check_id, title, severity, results, failed, passed, failing_targets)
SELECT r.check_id, max(r.title), max(r.severity), count(*),
    sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END),
    sum(CASE WHEN r.status = 'passed' THEN 1 ELSE 0 END),
    count(DISTINCT CASE WHEN r.status = 'failed' THEN r.scan_id END)
FROM compliance_results r JOIN latest_compliance l ON l.scan_id = r.scan_id
GROUP BY r.check_id
"""


def rebuild(connection: Connection) -> None:
    """Recompute every summary from the raw rows (in the caller's transaction)."""
    for table in ("vulnerability_summaries", "package_summaries", "check_summaries"):
        connection.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608  # our table names
    connection.exec_driver_sql("DELETE FROM latest_compliance")
    connection.exec_driver_sql(_REBUILD_VULNERABILITIES)
    keys = connection.exec_driver_sql("SELECT vuln_id, cve FROM vulnerability_summaries").all()
    if keys:  # lowered here, not in SQL: SQLite's lower() knows ASCII only
        _execute(
            connection,
            "UPDATE vulnerability_summaries SET search_key = ? WHERE vuln_id = ?",
            [(search_key(v, c), v) for v, c in keys],
        )
    packages = connection.exec_driver_sql(
        "SELECT p.name, p.version, count(DISTINCT i.id) FROM packages p "
        "JOIN images i ON i.latest_scan_id = p.scan_id GROUP BY p.name, p.version"
    ).all()
    for start in range(0, len(packages), 10_000):
        # The key is lowered here, not in SQL: SQLite's lower() knows ASCII only.
        batch = [(n, v, n.lower(), c) for n, v, c in packages[start : start + 10_000]]
        _upsert_packages(connection, batch)
    connection.exec_driver_sql(_REBUILD_LATEST_COMPLIANCE)
    connection.exec_driver_sql(_REBUILD_CHECKS)
