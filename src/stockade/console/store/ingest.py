"""Storing published results: each document in the caller's one transaction.

The caller opens :meth:`Store.write`; if anything here raises, nothing of the document
is stored. Images are keyed by digest and hosts by name; both are created on first
publish with an ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, which also locks the row
on PostgreSQL (SQLite has one writer at a time), so Console processes publishing the
same image at once agree on which scan is the latest, and on the summaries
(:mod:`stockade.console.store.summaries`) that follow it.

Speed: a publish is a handful of statements whatever its size. Findings, packages and
compliance results go in with one ``COPY`` on PostgreSQL and one ``executemany`` on
SQLite, their JSON columns encoded with orjson; no ORM object is made per row.

Scans and images are deleted with :func:`delete_scan` and :func:`delete_image`, which
keep the latest-scan pointers and the summaries right; deleting their rows directly
would leave the summaries counting what is gone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy.exc
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached

from stockade.console.documents import CheckDocument, ScanDocument, SeverityWord
from stockade.console.errors import NotFound
from stockade.console.store import summaries
from stockade.console.store.models import Base, Scan
from stockade.core.advisory import Severity

__all__ = [
    "KIND_COMPLIANCE",
    "KIND_VULNERABILITIES",
    "bulk_insert",
    "delete_image",
    "delete_scan",
    "risk_score",
    "store_check",
    "store_scan",
]

KIND_VULNERABILITIES = "vulnerabilities"
KIND_COMPLIANCE = "compliance"
_RANK = {str(s): int(s) for s in Severity}
_TABLES = Base.metadata.tables
_IMAGES = _TABLES["images"]
_HOSTS = _TABLES["hosts"]
_SCANS = _TABLES["scans"]
_TAGS = _TABLES["image_tags"]
_LATEST_COMPLIANCE = _TABLES["latest_compliance"]
_UPDATE_TARGET = {
    table.name: update(table).where(table.c.id == bindparam("target_id"))
    for table in (_IMAGES, _HOSTS)
}

_FINDING_COLUMNS = (
    "scan_id",
    "vuln_id",
    "cve",
    "aliases",
    "severity",
    "cvss_score",
    "package_name",
    "package_type",
    "purl",
    "installed_version",
    "fixed_versions",
    "fix_state",
    "title",
    "url",
    "suppressed",
    "suppression_reason",
)
_PACKAGE_COLUMNS = ("scan_id", "name", "version", "type", "purl", "licenses")
_RESULT_COLUMNS = (
    "scan_id",
    "check_id",
    "title",
    "severity",
    "status",
    "resource",
    "file",
    "line",
    "message",
    "suppressed",
)


def severity_rank(word: SeverityWord | str) -> int:
    return _RANK.get(word, int(Severity.UNKNOWN))


def risk_score(counts: Counter[int]) -> int:
    """One sortable number: any critical outranks any number of highs, and so on down."""
    return (
        min(counts[Severity.CRITICAL], 999_999) * 10**12
        + min(counts[Severity.HIGH], 9_999) * 10**8
        + min(counts[Severity.MEDIUM], 9_999) * 10**4
        + min(counts[Severity.LOW], 9_999)
    )


def _json(value: Sequence[str]) -> str:
    return orjson.dumps(list(value)).decode()


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(connection: Connection, name: str, build: Callable[[Any], Any]) -> Any:
    """A statement built once per dialect (values come as parameters, so its compiled
    form is cached too)."""
    dialect = connection.dialect.name
    statement = _STATEMENTS.get((dialect, name))
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _STATEMENTS[(dialect, name)] = build(insert)
    return statement


def _upsert_returning(insert: Any, table: Any, key: str, *returning: Any) -> Any:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` a no-op that locks the row, ``RETURNING``."""
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[key], set_={key: statement.excluded[key]}
    ).returning(*returning)


_INSERT_SCAN = _SCANS.insert().returning(_SCANS.c.id)


def bulk_insert(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in one go, in the open transaction.

    JSON columns take JSON text. For publishing and bulk loads (the benchmark's); rows
    put in this way bypass the summaries: call :func:`summaries.rebuild` after."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        import psycopg

        statement = f"COPY {table} ({names}) FROM STDIN"
        driver = connection.connection.driver_connection
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            # The same exception SQLAlchemy raises for its own statements (a NUL in a
            # text is a DataError, answered 422), so callers see one kind of error.
            raise sqlalchemy.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join(mark for _ in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608  # our names
    connection.exec_driver_sql(sql, rows)


def _lock_target(
    connection: Connection,
    table: Any,
    key: str,
    value: str,
    *,
    name: str | None = None,
    now: dt.datetime,
) -> tuple[int, int | None]:
    """Create the image or host row if new, lock it; its id and latest scan id."""
    values: dict[str, Any] = {key: value, "first_seen": now, "last_scanned": now}
    if name is not None:
        values["name"] = name
    statement = _statement(
        connection,
        f"lock {table.name}",
        lambda insert: _upsert_returning(insert, table, key, table.c.id, table.c.latest_scan_id),
    )
    row = connection.execute(statement, values).one()
    return int(row[0]), row[1]


def _os_label(document: ScanDocument) -> str | None:
    if document.os is None:
        return None
    label = " ".join(p for p in (document.os.family, document.os.version) if p)
    return label or None


def _counts_of(active: list[tuple[int, bool]]) -> dict[str, int]:
    """The latest-scan columns of an image or host, from (severity, fixable) pairs."""
    counts: Counter[int] = Counter(s for s, _ in active)
    return {
        "critical": counts[Severity.CRITICAL],
        "high": counts[Severity.HIGH],
        "medium": counts[Severity.MEDIUM],
        "low": counts[Severity.LOW],
        "negligible": counts[Severity.NEGLIGIBLE],
        "unknown": counts[Severity.UNKNOWN],
        "fixable": sum(1 for _, f in active if f),
        "risk": risk_score(counts),
    }


def _attached_scan(session: Session, values: dict[str, Any]) -> Scan:
    """The stored scan as an ORM object in ``session``, without loading it back."""
    scan = Scan(**values)
    make_transient_to_detached(scan)
    session.add(scan)
    return scan


def store_scan(
    session: Session,
    document: ScanDocument,
    *,
    publisher: str,
    now: dt.datetime,
    host: str | None = None,
) -> Scan:
    """Store a ``stockade scan`` result; the image or host's latest scan becomes this one."""
    connection = session.connection()
    artifact = document.artifact
    image_id = host_id = previous = None
    if host is not None:
        host_id, previous = _lock_target(connection, _HOSTS, "name", host, now=now)
        key = f"host:{host}"
    elif artifact.digest:
        name = artifact.repo_tags[0] if artifact.repo_tags else artifact.name
        image_id, previous = _lock_target(
            connection, _IMAGES, "digest", artifact.digest, name=name, now=now
        )
        key = f"image:{artifact.digest}"
    else:
        key = f"artifact:{artifact.name}"

    findings = document.findings
    ranks = [_RANK.get(f.severity, 0) for f in findings]
    active = [
        (r, f.fix_state == "fixed")
        for f, r in zip(findings, ranks, strict=True)
        if not f.suppressed
    ]
    by_severity: Counter[int] = Counter(r for r, _ in active)
    summary = {
        "findings": len(findings),
        "active": len(active),
        "suppressed": len(findings) - len(active),
        "bySeverity": {str(s): by_severity[s] for s in sorted(Severity, reverse=True)},
    }
    values: dict[str, Any] = {
        "kind": KIND_VULNERABILITIES,
        "artifact_key": key[:600],
        "artifact_name": artifact.name,
        "artifact_type": artifact.type,
        "artifact_digest": artifact.digest,
        "image_id": image_id,
        "host_id": host_id,
        "os": _os_label(document),
        "scanned_at": now,
        "advisories_age": document.advisories_age,
        "published_by": publisher,
        "summary": summary,
        "document": document.model_dump(
            mode="json", by_alias=True, exclude={"findings", "packages"}
        ),
    }
    scan_id = int(connection.execute(_INSERT_SCAN, values).scalar_one())
    values["id"] = scan_id

    bulk_insert(
        connection,
        "findings",
        _FINDING_COLUMNS,
        [
            (
                scan_id,
                f.id,
                f.cve,
                _json(f.aliases),
                rank,
                f.cvss.score if f.cvss else None,
                f.package.name,
                f.package.type,
                f.package.purl,
                f.installed_version,
                _json(f.fixed_versions),
                f.fix_state,
                f.title,
                f.url,
                f.suppressed,
                f.suppression.reason if f.suppression else None,
            )
            for f, rank in zip(findings, ranks, strict=True)
        ],
    )
    packages = _package_rows(document, scan_id)
    bulk_insert(connection, "packages", _PACKAGE_COLUMNS, packages)

    target = _IMAGES if image_id is not None else _HOSTS if host_id is not None else None
    if target is not None:
        changes: dict[str, Any] = {
            "latest_scan_id": scan_id,
            "last_scanned": now,
            "os": values["os"],
            **_counts_of(active),
        }
        if image_id is not None and artifact.repo_tags:
            changes["name"] = artifact.repo_tags[0]
        changes["target_id"] = image_id if image_id is not None else host_id
        connection.execute(_UPDATE_TARGET[target.name], changes)
    if image_id is not None:
        _record_tags(connection, image_id, artifact.repo_tags, now)
        new_part = summaries.vulnerability_part(
            (f.id, f.cve, rank, f.fix_state == "fixed")
            for f, rank in zip(findings, ranks, strict=True)
            if not f.suppressed
        )
        old_part: dict[str, summaries.VulnerabilityPart] = {}
        old_packages: set[tuple[str, str]] = set()
        if previous is not None:
            old_part = summaries.vulnerability_part_of_scan(connection, previous)[0]
            old_packages = summaries.package_part_of_scan(connection, previous)
        summaries.apply_image_change(
            connection,
            old_vulnerabilities=old_part,
            new_vulnerabilities=new_part,
            old_packages=old_packages,
            new_packages={(p[1], p[2]) for p in packages},
        )
    return _attached_scan(session, values)


def _package_rows(document: ScanDocument, scan_id: int) -> list[tuple[Any, ...]]:
    if document.packages is not None:
        return [
            (scan_id, p.name, p.version, p.type, p.purl, _json(p.licenses))
            for p in document.packages
        ]
    seen: dict[tuple[str, str, str, str | None], tuple[Any, ...]] = {}
    for f in document.findings:
        p = f.package
        seen.setdefault(
            (p.name, p.version, p.type, p.purl), (scan_id, p.name, p.version, p.type, p.purl, "[]")
        )
    return list(seen.values())


def _record_tags(
    connection: Connection, image_id: int, references: list[str], now: dt.datetime
) -> None:
    if not references:
        return

    def build(insert: Any) -> Any:
        statement = insert(_TAGS)
        return statement.on_conflict_do_update(
            index_elements=["image_id", "reference"],
            set_={"last_seen": statement.excluded.last_seen},
        )

    connection.execute(
        _statement(connection, "tags", build),
        [
            {"image_id": image_id, "reference": r, "last_seen": now}
            for r in sorted(dict.fromkeys(references))
        ],
    )


def store_check(
    session: Session,
    document: CheckDocument,
    *,
    publisher: str,
    now: dt.datetime,
    host: str | None = None,
    image_digest: str | None = None,
) -> Scan:
    """Store a ``stockade check`` result, for a host, an image or a named target."""
    connection = session.connection()
    image_id = host_id = None
    if host is not None:
        host_id = _lock_target(connection, _HOSTS, "name", host, now=now)[0]
        key = f"host:{host}"
    elif image_digest is not None:
        image_id = _lock_target(
            connection, _IMAGES, "digest", image_digest, name=document.target, now=now
        )[0]
        key = f"image:{image_digest}"
    else:
        key = f"target:{document.target}"
    key = key[:600]
    previous = _lock_latest_compliance(connection, key)

    failed = Counter(r.check.severity for r in document.results if r.status == "failed")
    statuses = Counter(r.status for r in document.results)
    values: dict[str, Any] = {
        "kind": KIND_COMPLIANCE,
        "artifact_key": key,
        "artifact_name": document.target,
        "artifact_type": "check",
        "artifact_digest": image_digest,
        "image_id": image_id,
        "host_id": host_id,
        "os": None,
        "scanned_at": now,
        "advisories_age": None,
        "published_by": publisher,
        "summary": {
            "passed": statuses["passed"],
            "failed": statuses["failed"],
            "skipped": statuses["skipped"],
            "secrets": len(document.secrets),
            "failedBySeverity": dict(sorted(failed.items())),
        },
        "document": {"schemaVersion": document.schema_version, "target": document.target},
    }
    scan_id = int(connection.execute(_INSERT_SCAN, values).scalar_one())
    values["id"] = scan_id
    rows: list[tuple[Any, ...]] = [
        (
            scan_id,
            r.check.id,
            r.check.title,
            severity_rank(r.check.severity),
            r.status,
            r.resource,
            r.file,
            r.line,
            r.message,
            r.suppression is not None,
        )
        for r in document.results
    ]
    rows.extend(
        (
            scan_id,
            f"secret:{s.rule_id}",
            s.description,
            severity_rank(s.severity),
            "failed",
            s.file or "",
            s.file,
            s.line,
            "secret found (redacted)",
            False,
        )
        for s in document.secrets
    )
    bulk_insert(connection, "compliance_results", _RESULT_COLUMNS, rows)
    connection.execute(
        update(_LATEST_COMPLIANCE)
        .where(_LATEST_COMPLIANCE.c.artifact_key == key)
        .values(scan_id=scan_id)
    )
    old = summaries.check_part_of_scan(connection, previous) if previous is not None else {}
    new = summaries.check_part((r[1], r[2], r[3], r[4]) for r in rows)
    summaries.apply_check_change(connection, old, new)
    return _attached_scan(session, values)


def _lock_latest_compliance(connection: Connection, key: str) -> int | None:
    """Lock the target's latest-result row (made empty if new); its scan id."""
    statement = _statement(
        connection,
        "lock latest compliance",
        lambda insert: _upsert_returning(
            insert, _LATEST_COMPLIANCE, "artifact_key", _LATEST_COMPLIANCE.c.scan_id
        ),
    )
    scan_id = connection.execute(statement, {"artifact_key": key, "scan_id": None}).scalar_one()
    return None if scan_id is None else int(scan_id)


# --- deleting ----------------------------------------------------------------------------


def delete_scan(session: Session, scan_id: int) -> None:
    """Delete a scan; where it was the latest, the newest remaining one takes its place."""
    connection = session.connection()
    row = connection.execute(
        select(_SCANS.c.kind, _SCANS.c.artifact_key, _SCANS.c.image_id, _SCANS.c.host_id).where(
            _SCANS.c.id == scan_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no scan with id {scan_id}")
    kind, key, image_id, host_id = row
    if kind == KIND_COMPLIANCE:
        _replace_latest_compliance(connection, key, leaving=scan_id)
    else:
        for table, target_id in ((_IMAGES, image_id), (_HOSTS, host_id)):
            if target_id is None:
                continue
            latest = connection.execute(
                select(table.c.latest_scan_id).where(table.c.id == target_id).with_for_update()
            ).scalar_one_or_none()
            if latest == scan_id:
                _replace_latest_scan(connection, table, target_id, key, leaving=scan_id)
    connection.execute(_SCANS.delete().where(_SCANS.c.id == scan_id))
    session.expire_all()


def delete_image(session: Session, digest: str) -> None:
    """Delete an image with its scans, tags and check results."""
    connection = session.connection()
    row = connection.execute(
        select(_IMAGES.c.id, _IMAGES.c.latest_scan_id)
        .where(_IMAGES.c.digest == digest)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no image with digest {digest!r}")
    image_id, latest = row
    if latest is not None:
        summaries.apply_image_change(
            connection,
            old_vulnerabilities=summaries.vulnerability_part_of_scan(connection, latest)[0],
            new_vulnerabilities={},
            old_packages=summaries.package_part_of_scan(connection, latest),
            new_packages=set(),
        )
    checked = connection.execute(
        select(_LATEST_COMPLIANCE.c.artifact_key, _LATEST_COMPLIANCE.c.scan_id)
        .join(_SCANS, _SCANS.c.id == _LATEST_COMPLIANCE.c.scan_id)
        .where(_SCANS.c.image_id == image_id)
    ).all()
    for key, scan_id in checked:
        summaries.apply_check_change(
            connection, summaries.check_part_of_scan(connection, scan_id), {}
        )
        connection.execute(
            _LATEST_COMPLIANCE.delete().where(_LATEST_COMPLIANCE.c.artifact_key == key)
        )
    connection.execute(_IMAGES.delete().where(_IMAGES.c.id == image_id))
    session.expire_all()


def _replace_latest_scan(
    connection: Connection, table: Any, target_id: int, key: str, *, leaving: int
) -> None:
    """Point an image or host at its newest vulnerability scan other than ``leaving``."""
    successor = connection.execute(
        select(_SCANS.c.id, _SCANS.c.os)
        .where(
            _SCANS.c.artifact_key == key,
            _SCANS.c.kind == KIND_VULNERABILITIES,
            _SCANS.c.id != leaving,
        )
        .order_by(_SCANS.c.scanned_at.desc(), _SCANS.c.id.desc())
        .limit(1)
    ).first()
    old_part, _ = summaries.vulnerability_part_of_scan(connection, leaving)
    if successor is None:
        new_part: dict[str, summaries.VulnerabilityPart] = {}
        active: list[tuple[int, bool]] = []
        new_packages: set[tuple[str, str]] = set()
        changes: dict[str, Any] = {"latest_scan_id": None}
    else:
        new_part, active = summaries.vulnerability_part_of_scan(connection, successor.id)
        new_packages = summaries.package_part_of_scan(connection, successor.id)
        changes = {"latest_scan_id": successor.id, "os": successor.os}
    connection.execute(
        update(table).where(table.c.id == target_id).values(**changes, **_counts_of(active))
    )
    if table is _IMAGES:
        summaries.apply_image_change(
            connection,
            old_vulnerabilities=old_part,
            new_vulnerabilities=new_part,
            old_packages=summaries.package_part_of_scan(connection, leaving),
            new_packages=new_packages,
        )


def _replace_latest_compliance(connection: Connection, key: str, *, leaving: int) -> None:
    latest = connection.execute(
        select(_LATEST_COMPLIANCE.c.scan_id)
        .where(_LATEST_COMPLIANCE.c.artifact_key == key)
        .with_for_update()
    ).scalar_one_or_none()
    if latest != leaving:
        return
    successor = connection.execute(
        select(_SCANS.c.id)
        .where(
            _SCANS.c.artifact_key == key,
            _SCANS.c.kind == KIND_COMPLIANCE,
            _SCANS.c.id != leaving,
        )
        .order_by(_SCANS.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    new = summaries.check_part_of_scan(connection, successor) if successor is not None else {}
    summaries.apply_check_change(connection, summaries.check_part_of_scan(connection, leaving), new)
    if successor is None:
        connection.execute(
            _LATEST_COMPLIANCE.delete().where(_LATEST_COMPLIANCE.c.artifact_key == key)
        )
    else:
        connection.execute(
            update(_LATEST_COMPLIANCE)
            .where(_LATEST_COMPLIANCE.c.artifact_key == key)
            .values(scan_id=successor)
        )
