"""Storing published results: each document in the caller's one transaction.

The caller opens :meth:`Store.write`; if anything here raises, nothing of the document
is stored. Images are keyed by digest and hosts by name; both are created on first
publish with an ``INSERT … ON CONFLICT DO NOTHING`` and then locked (``FOR UPDATE`` on
PostgreSQL; SQLite has one writer at a time), so Console processes publishing the same
image at once agree on which scan is the latest.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from stockade.console.documents import CheckDocument, ScanDocument, SeverityWord
from stockade.console.store.models import (
    Base,
    Host,
    Image,
    ImageTag,
    Scan,
)
from stockade.core.advisory import Severity

__all__ = ["KIND_COMPLIANCE", "KIND_VULNERABILITIES", "risk_score", "store_check", "store_scan"]

KIND_VULNERABILITIES = "vulnerabilities"
KIND_COMPLIANCE = "compliance"
_RANK = {str(s): int(s) for s in Severity}
_TABLES = Base.metadata.tables


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


def _insert_ignoring_conflict(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(model).values(**values).on_conflict_do_nothing())


def _locked_image(session: Session, digest: str, name: str, now: dt.datetime) -> Image:
    _insert_ignoring_conflict(
        session, Image, {"digest": digest, "name": name, "first_seen": now, "last_scanned": now}
    )
    image = session.scalars(select(Image).where(Image.digest == digest).with_for_update()).one()
    session.refresh(image)
    return image


def _locked_host(session: Session, name: str, now: dt.datetime) -> Host:
    _insert_ignoring_conflict(session, Host, {"name": name, "first_seen": now, "last_scanned": now})
    host = session.scalars(select(Host).where(Host.name == name).with_for_update()).one()
    session.refresh(host)
    return host


def _os_label(document: ScanDocument) -> str | None:
    if document.os is None:
        return None
    label = " ".join(p for p in (document.os.family, document.os.version) if p)
    return label or None


def store_scan(
    session: Session,
    document: ScanDocument,
    *,
    publisher: str,
    now: dt.datetime,
    host: str | None = None,
) -> Scan:
    """Store a ``stockade scan`` result; the image or host's latest scan becomes this one."""
    artifact = document.artifact
    target: Image | Host | None = None
    if host is not None:
        target = _locked_host(session, host, now)
        key = f"host:{host}"
    elif artifact.digest:
        name = artifact.repo_tags[0] if artifact.repo_tags else artifact.name
        target = _locked_image(session, artifact.digest, name, now)
        key = f"image:{artifact.digest}"
    else:
        key = f"artifact:{artifact.name}"

    active = [f for f in document.findings if not f.suppressed]
    counts: Counter[int] = Counter(severity_rank(f.severity) for f in active)
    summary = {
        "findings": len(document.findings),
        "active": len(active),
        "suppressed": len(document.findings) - len(active),
        "bySeverity": {str(s): counts[s] for s in sorted(Severity, reverse=True)},
    }
    kept = document.model_dump(mode="json", by_alias=True, exclude={"findings", "packages"})
    scan = Scan(
        kind=KIND_VULNERABILITIES,
        artifact_key=key[:600],
        artifact_name=artifact.name,
        artifact_type=artifact.type,
        artifact_digest=artifact.digest,
        image_id=target.id if isinstance(target, Image) else None,
        host_id=target.id if isinstance(target, Host) else None,
        os=_os_label(document),
        scanned_at=now,
        advisories_age=document.advisories_age,
        published_by=publisher,
        summary=summary,
        document=kept,
    )
    session.add(scan)
    session.flush()

    if document.findings:
        # Core inserts on the session's connection: one executemany, no ORM bookkeeping
        # (several times faster than ORM bulk inserts for a few hundred rows).
        session.connection().execute(
            insert(_TABLES["findings"]),
            [
                {
                    "scan_id": scan.id,
                    "vuln_id": f.id,
                    "cve": f.cve,
                    "aliases": list(f.aliases),
                    "severity": severity_rank(f.severity),
                    "cvss_score": f.cvss.score if f.cvss else None,
                    "package_name": f.package.name,
                    "package_type": f.package.type,
                    "purl": f.package.purl,
                    "installed_version": f.installed_version,
                    "fixed_versions": list(f.fixed_versions),
                    "fix_state": f.fix_state,
                    "title": f.title,
                    "url": f.url,
                    "suppressed": f.suppressed,
                    "suppression_reason": f.suppression.reason if f.suppression else None,
                }
                for f in document.findings
            ],
        )
    packages = _package_rows(document, scan.id)
    if packages:
        session.connection().execute(insert(_TABLES["packages"]), packages)

    if target is not None:
        target.latest_scan_id = scan.id
        target.last_scanned = now
        target.os = scan.os
        target.critical = counts[Severity.CRITICAL]
        target.high = counts[Severity.HIGH]
        target.medium = counts[Severity.MEDIUM]
        target.low = counts[Severity.LOW]
        target.negligible = counts[Severity.NEGLIGIBLE]
        target.unknown = counts[Severity.UNKNOWN]
        target.fixable = sum(1 for f in active if f.fix_state == "fixed")
        target.risk = risk_score(counts)
        if isinstance(target, Image):
            if artifact.repo_tags:
                target.name = artifact.repo_tags[0]
            _record_tags(session, target.id, artifact.repo_tags, now)
    session.flush()
    return scan


def _package_rows(document: ScanDocument, scan_id: int) -> list[dict[str, Any]]:
    if document.packages is not None:
        return [
            {
                "scan_id": scan_id,
                "name": p.name,
                "version": p.version,
                "type": p.type,
                "purl": p.purl,
                "licenses": list(p.licenses),
            }
            for p in document.packages
        ]
    seen: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    for f in document.findings:
        p = f.package
        seen.setdefault(
            (p.name, p.version, p.type, p.purl),
            {
                "scan_id": scan_id,
                "name": p.name,
                "version": p.version,
                "type": p.type,
                "purl": p.purl,
                "licenses": [],
            },
        )
    return list(seen.values())


def _record_tags(session: Session, image_id: int, references: list[str], now: dt.datetime) -> None:
    for reference in dict.fromkeys(references):
        _insert_ignoring_conflict(
            session,
            ImageTag,
            {"image_id": image_id, "reference": reference, "last_seen": now},
        )
    if references:
        session.execute(
            update(ImageTag)
            .where(ImageTag.image_id == image_id, ImageTag.reference.in_(references))
            .values(last_seen=now)
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
    image_id = host_id = None
    if host is not None:
        host_id = _locked_host(session, host, now).id
        key = f"host:{host}"
    elif image_digest is not None:
        image_id = _locked_image(session, image_digest, document.target, now).id
        key = f"image:{image_digest}"
    else:
        key = f"target:{document.target}"
    failed = Counter(r.check.severity for r in document.results if r.status == "failed")
    statuses = Counter(r.status for r in document.results)
    summary = {
        "passed": statuses["passed"],
        "failed": statuses["failed"],
        "skipped": statuses["skipped"],
        "secrets": len(document.secrets),
        "failedBySeverity": dict(sorted(failed.items())),
    }
    scan = Scan(
        kind=KIND_COMPLIANCE,
        artifact_key=key[:600],
        artifact_name=document.target,
        artifact_type="check",
        artifact_digest=image_digest,
        image_id=image_id,
        host_id=host_id,
        os=None,
        scanned_at=now,
        advisories_age=None,
        published_by=publisher,
        summary=summary,
        document={"schemaVersion": document.schema_version, "target": document.target},
    )
    session.add(scan)
    session.flush()
    rows: list[dict[str, Any]] = [
        {
            "scan_id": scan.id,
            "check_id": r.check.id,
            "title": r.check.title,
            "severity": severity_rank(r.check.severity),
            "status": r.status,
            "resource": r.resource,
            "file": r.file,
            "line": r.line,
            "message": r.message,
            "suppressed": r.suppression is not None,
        }
        for r in document.results
    ]
    rows.extend(
        {
            "scan_id": scan.id,
            "check_id": f"secret:{s.rule_id}",
            "title": s.description,
            "severity": severity_rank(s.severity),
            "status": "failed",
            "resource": s.file or "",
            "file": s.file,
            "line": s.line,
            "message": "secret found (redacted)",
            "suppressed": False,
        }
        for s in document.secrets
    )
    if rows:
        session.connection().execute(insert(_TABLES["compliance_results"]), rows)
    return scan
