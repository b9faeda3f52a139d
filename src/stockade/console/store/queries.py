"""The read side: the lists and details the API and the UI show.

Every list is a :class:`Page` of plain dicts whose keys are the API's field names.
"Latest" means each image's or host's latest vulnerability scan (``latest_scan_id``) and
each target's newest compliance scan; history stays reachable through ``/scans``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from stockade.console.errors import NotFound
from stockade.console.store.models import (
    AuditEntry,
    CheckSummary,
    ComplianceResult,
    FindingRow,
    Host,
    Image,
    ImageTag,
    LatestCompliance,
    PackageRow,
    PackageSummary,
    RuntimeEvent,
    Scan,
    VulnerabilitySummary,
)
from stockade.console.store.summaries import FIXABLE_COLUMNS, IMAGE_COLUMNS, SEARCH_SEPARATOR
from stockade.core.advisory import Severity

__all__ = ["Page", "severity_word"]

_WORDS = {int(s): str(s) for s in Severity}


def severity_word(rank: int) -> str:
    return _WORDS.get(rank, "unknown")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(session: Session, column: Any, text: str) -> Any:
    """``column`` contains ``text``, ignoring case. SQLite's LIKE ignores (ASCII) case
    already, and its lower() knows ASCII only, so ILIKE's lower() of every row would be
    work for nothing there."""
    if session.get_bind().dialect.name == "sqlite":
        return column.like(_like(text), escape="\\")
    return column.ilike(_like(text), escape="\\")


def _page(
    session: Session, query: Any, limit: int, offset: int, *, count: bool = True
) -> tuple[list[Any], int]:
    total = (
        session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        if count
        else 0
    )
    rows = list(session.execute(query.limit(limit).offset(offset)))
    return rows, int(total or 0)


def _counts(row: Image | Host) -> dict[str, int]:
    return {
        "critical": row.critical,
        "high": row.high,
        "medium": row.medium,
        "low": row.low,
        "negligible": row.negligible,
        "unknown": row.unknown,
    }


def image_dict(image: Image) -> dict[str, Any]:
    return {
        "digest": image.digest,
        "name": image.name,
        "os": image.os,
        "firstSeen": image.first_seen,
        "lastScanned": image.last_scanned,
        "latestScanId": image.latest_scan_id,
        "bySeverity": _counts(image),
        "fixable": image.fixable,
        "risk": image.risk,
    }


IMAGE_SORTS: dict[str, tuple[Any, ...]] = {
    "risk": (Image.risk.desc(), Image.id.desc()),
    "name": (Image.name.asc(), Image.id.asc()),
    "lastScanned": (Image.last_scanned.desc(), Image.id.desc()),
    "critical": (Image.critical.desc(), Image.id.desc()),
}


def list_images(
    session: Session,
    *,
    limit: int,
    offset: int,
    q: str | None = None,
    min_severity: int | None = None,
    fixable: bool | None = None,
    sort: str = "risk",
    count: bool = True,
) -> Page:
    query = select(Image)
    if q:
        query = query.where(
            or_(
                _contains(session, Image.name, q),
                Image.digest.startswith(q, autoescape=True),
                Image.id.in_(
                    select(ImageTag.image_id).where(_contains(session, ImageTag.reference, q))
                ),
            )
        )
    if min_severity is not None:
        columns = [Image.critical, Image.high, Image.medium, Image.low, Image.negligible]
        wanted = columns[: max(0, int(Severity.CRITICAL) - min_severity + 1)]
        query = query.where(or_(*(c > 0 for c in wanted)) if wanted else literal(True))
    if fixable is not None:
        query = query.where(Image.fixable > 0 if fixable else Image.fixable == 0)
    query = query.order_by(*IMAGE_SORTS[sort])
    rows, total = _page(session, query, limit, offset, count=count)
    return Page([image_dict(r[0]) for r in rows], total, limit, offset)


def get_image(session: Session, digest: str) -> dict[str, Any]:
    image = session.scalars(select(Image).where(Image.digest == digest)).first()
    if image is None:
        raise NotFound(f"no image with digest {digest!r}")
    result = image_dict(image)
    result["tags"] = list(
        session.scalars(
            select(ImageTag.reference)
            .where(ImageTag.image_id == image.id)
            .order_by(ImageTag.last_seen.desc())
            .limit(100)
        )
    )
    result["latestScan"] = (
        scan_dict(session.get_one(Scan, image.latest_scan_id)) if image.latest_scan_id else None
    )
    return result


def latest_scan_id_of_image(session: Session, digest: str) -> int:
    image = session.scalars(select(Image).where(Image.digest == digest)).first()
    if image is None:
        raise NotFound(f"no image with digest {digest!r}")
    if image.latest_scan_id is None:
        raise NotFound(f"image {digest!r} has no vulnerability scan")
    return image.latest_scan_id


def list_hosts(session: Session, *, limit: int, offset: int, q: str | None = None) -> Page:
    query = select(Host)
    if q:
        query = query.where(_contains(session, Host.name, q))
    query = query.order_by(Host.risk.desc(), Host.id.desc())
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "name": h.name,
            "os": h.os,
            "firstSeen": h.first_seen,
            "lastScanned": h.last_scanned,
            "latestScanId": h.latest_scan_id,
            "bySeverity": _counts(h),
            "fixable": h.fixable,
            "risk": h.risk,
        }
        for (h,) in rows
    ]
    return Page(items, total, limit, offset)


def scan_dict(scan: Scan) -> dict[str, Any]:
    return {
        "id": scan.id,
        "kind": scan.kind,
        "artifactKey": scan.artifact_key,
        "artifactName": scan.artifact_name,
        "artifactType": scan.artifact_type,
        "artifactDigest": scan.artifact_digest,
        "os": scan.os,
        "scannedAt": scan.scanned_at,
        "advisoriesAge": scan.advisories_age,
        "publishedBy": scan.published_by,
        "summary": scan.summary,
    }


def list_scans(
    session: Session,
    *,
    limit: int,
    offset: int,
    image: str | None = None,
    host: str | None = None,
    kind: str | None = None,
) -> Page:
    query = select(Scan)
    if image is not None:
        query = query.where(Scan.artifact_key == f"image:{image}")
    if host is not None:
        query = query.where(Scan.artifact_key == f"host:{host}")
    if kind is not None:
        query = query.where(Scan.kind == kind)
    query = query.order_by(Scan.scanned_at.desc(), Scan.id.desc())
    rows, total = _page(session, query, limit, offset)
    return Page([scan_dict(r[0]) for r in rows], total, limit, offset)


def get_scan(session: Session, scan_id: int) -> dict[str, Any]:
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise NotFound(f"no scan with id {scan_id}")
    result = scan_dict(scan)
    result["document"] = scan.document
    return result


def finding_dict(f: FindingRow) -> dict[str, Any]:
    return {
        "id": f.vuln_id,
        "cve": f.cve,
        "aliases": f.aliases,
        "severity": severity_word(f.severity),
        "cvssScore": f.cvss_score,
        "package": f.package_name,
        "packageType": f.package_type,
        "purl": f.purl,
        "installedVersion": f.installed_version,
        "fixedVersions": f.fixed_versions,
        "fixState": f.fix_state,
        "title": f.title,
        "url": f.url,
        "suppressed": f.suppressed,
        "suppressionReason": f.suppression_reason,
    }


def list_findings(
    session: Session,
    scan_id: int,
    *,
    limit: int,
    offset: int,
    min_severity: int | None = None,
    fixable: bool | None = None,
    include_suppressed: bool = False,
    q: str | None = None,
) -> Page:
    if session.get(Scan, scan_id) is None:
        raise NotFound(f"no scan with id {scan_id}")
    query = select(FindingRow).where(FindingRow.scan_id == scan_id)
    if min_severity is not None:
        query = query.where(FindingRow.severity >= min_severity)
    if fixable is not None:
        fixed = FindingRow.fix_state == "fixed"
        query = query.where(fixed if fixable else ~fixed)
    if not include_suppressed:
        query = query.where(FindingRow.suppressed.is_(False))
    if q:
        query = query.where(
            or_(
                _contains(session, FindingRow.vuln_id, q),
                _contains(session, FindingRow.cve, q),
                _contains(session, FindingRow.package_name, q),
            )
        )
    query = query.order_by(
        FindingRow.severity.desc(), FindingRow.package_name.asc(), FindingRow.id.asc()
    )
    rows, total = _page(session, query, limit, offset)
    return Page([finding_dict(r[0]) for r in rows], total, limit, offset)


def list_packages(
    session: Session, scan_id: int, *, limit: int, offset: int, q: str | None = None
) -> Page:
    if session.get(Scan, scan_id) is None:
        raise NotFound(f"no scan with id {scan_id}")
    query = select(PackageRow).where(PackageRow.scan_id == scan_id)
    if q:
        query = query.where(_contains(session, PackageRow.name, q))
    query = query.order_by(PackageRow.name.asc(), PackageRow.id.asc())
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "name": p.name,
            "version": p.version,
            "type": p.type,
            "purl": p.purl,
            "licenses": p.licenses,
        }
        for (p,) in rows
    ]
    return Page(items, total, limit, offset)


def _latest_active_findings() -> Any:
    """Active findings of every image's latest scan, with the image beside them."""
    return (
        select(FindingRow, Image)
        .join(Image, Image.latest_scan_id == FindingRow.scan_id)
        .where(FindingRow.suppressed.is_(False))
    )


_IMAGES_AT = {
    level: getattr(VulnerabilitySummary, name) for level, name in enumerate(IMAGE_COLUMNS)
}
_FIXABLE_AT = {
    level: getattr(VulnerabilitySummary, name) for level, name in enumerate(FIXABLE_COLUMNS)
}


def list_vulnerabilities(
    session: Session,
    *,
    limit: int,
    offset: int,
    min_severity: int | None = None,
    q: str | None = None,
    sort: str = "impact",
    count: bool = True,
) -> Page:
    """Vulnerabilities of images' latest scans, one summary row each.

    With ``min_severity`` only findings at that severity or worse count: a vulnerability
    is listed if one of them is, and ``images``/``fixableFindings`` count those only.
    """
    level = max(0, min(int(Severity.CRITICAL), min_severity or 0))
    summary = VulnerabilitySummary
    images, fixable = _IMAGES_AT[level], _FIXABLE_AT[level]
    query = select(summary.vuln_id, summary.cve, summary.severity, images, fixable)
    if level > 0:
        query = query.where(images > 0)
    if q:
        # One lower-case column: cheaper than ILIKE on two (several times, on PostgreSQL).
        query = query.where(
            summary.search_key.like(_like(q.lower()), escape="\\")
            if SEARCH_SEPARATOR not in q
            else literal(False)
        )
    order = (
        (summary.severity.desc(), images.desc(), summary.vuln_id)
        if sort == "severity"
        else (images.desc(), summary.severity.desc(), summary.vuln_id)
    )
    rows, total = _page(session, query.order_by(*order), limit, offset, count=count)
    items = [
        {
            "id": vuln_id,
            "cve": cve,
            "severity": severity_word(sev),
            "images": n,
            "fixableFindings": fix,
        }
        for vuln_id, cve, sev, n, fix in rows
    ]
    return Page(items, total, limit, offset)


def vulnerability_impact(session: Session, vuln_id: str, *, limit: int, offset: int) -> Page:
    """Images whose latest scan has ``vuln_id`` (an advisory id or a CVE)."""
    query = (
        _latest_active_findings()
        .where(or_(FindingRow.vuln_id == vuln_id, FindingRow.cve == vuln_id))
        .order_by(Image.risk.desc(), Image.id, FindingRow.id)
    )
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "image": {"digest": image.digest, "name": image.name},
            "finding": finding_dict(finding),
        }
        for finding, image in rows
    ]
    return Page(items, total, limit, offset)


def top_risks(session: Session, *, limit: int) -> dict[str, Any]:
    images = session.scalars(
        select(Image).where(Image.risk > 0).order_by(*IMAGE_SORTS["risk"]).limit(limit)
    )
    vulns = list_vulnerabilities(
        session,
        limit=limit,
        offset=0,
        min_severity=int(Severity.HIGH),
        sort="severity",
        count=False,
    )
    return {"images": [image_dict(i) for i in images], "vulnerabilities": vulns.items}


def compliance_by_check(session: Session, *, limit: int, offset: int, q: str | None = None) -> Page:
    """Checks over each target's latest result, from their summary rows."""
    summary = CheckSummary
    query = select(
        summary.check_id,
        summary.title,
        summary.severity,
        summary.failed,
        summary.passed,
        summary.failing_targets,
    ).order_by(summary.failed.desc(), summary.check_id)
    if q:
        query = query.where(
            or_(_contains(session, summary.check_id, q), _contains(session, summary.title, q))
        )
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "check": check,
            "title": title,
            "severity": severity_word(sev),
            "failed": f,
            "passed": p,
            "failingTargets": t,
        }
        for check, title, sev, f, p, t in rows
    ]
    return Page(items, total, limit, offset)


def compliance_results(
    session: Session,
    *,
    limit: int,
    offset: int,
    check_id: str | None = None,
    scan_id: int | None = None,
    status: str | None = None,
) -> Page:
    """Compliance results of one scan, or of every target's latest result; worst first,
    then newest first."""
    query = select(ComplianceResult, Scan).join(Scan, Scan.id == ComplianceResult.scan_id)
    if scan_id is not None:
        query = query.where(ComplianceResult.scan_id == scan_id)
    else:
        # Row by row down the (check, severity, id) index, each checked against the
        # latest results: the first page costs the same however long the history.
        query = query.where(exists().where(LatestCompliance.scan_id == ComplianceResult.scan_id))
    if check_id is not None:
        query = query.where(ComplianceResult.check_id == check_id)
    if status is not None:
        query = query.where(ComplianceResult.status == status)
    query = query.order_by(ComplianceResult.severity.desc(), ComplianceResult.id.desc())
    if scan_id is None and check_id is not None:
        rows, _ = _page(session, query, limit, offset, count=False)
        total = _check_results_total(session, check_id, status)
    else:
        rows, total = _page(session, query, limit, offset)
    items = [
        {
            "check": r.check_id,
            "title": r.title,
            "severity": severity_word(r.severity),
            "status": r.status,
            "target": s.artifact_name,
            "scanId": s.id,
            "resource": r.resource,
            "file": r.file,
            "line": r.line,
            "message": r.message,
            "suppressed": r.suppressed,
        }
        for r, s in rows
    ]
    return Page(items, total, limit, offset)


def _check_results_total(session: Session, check_id: str, status: str | None) -> int:
    """How many latest results a check has (with ``status``), from its summary row."""
    row = session.execute(
        select(CheckSummary.results, CheckSummary.failed, CheckSummary.passed).where(
            CheckSummary.check_id == check_id
        )
    ).first()
    if row is None:
        return 0
    results, failed, passed = row
    by_status = {"failed": failed, "passed": passed, "skipped": results - failed - passed}
    return int(results if status is None else by_status.get(status, 0))


def search(session: Session, q: str, *, limit: int) -> dict[str, Any]:
    """Images, vulnerabilities and packages (name and version) whose name or id contains
    ``q``, ignoring case; packages most used first."""
    images = list_images(session, limit=limit, offset=0, q=q, sort="risk", count=False).items
    vulns = list_vulnerabilities(session, limit=limit, offset=0, q=q, count=False).items
    packages = session.execute(
        select(PackageSummary.name, PackageSummary.version, PackageSummary.images)
        .where(PackageSummary.name_key.like(_like(q.lower()), escape="\\"))
        .order_by(PackageSummary.images.desc(), PackageSummary.name_key, PackageSummary.version)
        .limit(limit)
    )
    return {
        "images": images,
        "vulnerabilities": vulns,
        "packages": [{"name": n, "version": v, "images": c} for n, v, c in packages],
    }


def list_audit(session: Session, *, limit: int, offset: int, actor: str | None = None) -> Page:
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "id": a.id,
            "at": a.at,
            "actor": a.actor,
            "action": a.action,
            "target": a.target,
            "detail": a.detail,
            "remote": a.remote,
        }
        for (a,) in rows
    ]
    return Page(items, total, limit, offset)


def list_events(session: Session, *, limit: int, offset: int, host: str | None = None) -> Page:
    query = select(RuntimeEvent)
    if host:
        query = query.where(RuntimeEvent.host == host)
    query = query.order_by(RuntimeEvent.occurred_at.desc(), RuntimeEvent.id.desc())
    rows, total = _page(session, query, limit, offset)
    items = [
        {
            "id": e.id,
            "host": e.host,
            "kind": e.kind,
            "occurredAt": e.occurred_at,
            "receivedAt": e.received_at,
            "sender": e.sender,
            "payload": e.payload,
        }
        for (e,) in rows
    ]
    return Page(items, total, limit, offset)


def overview_counts(session: Session) -> dict[str, Any]:
    """Figures for ``/metrics`` and the dashboard: a handful of indexed counts."""
    severities = session.execute(
        select(
            func.coalesce(func.sum(Image.critical), 0),
            func.coalesce(func.sum(Image.high), 0),
            func.coalesce(func.sum(Image.medium), 0),
            func.coalesce(func.sum(Image.low), 0),
            func.coalesce(func.sum(Image.negligible), 0),
            func.coalesce(func.sum(Image.unknown), 0),
        )
    ).one()
    return {
        "images": session.scalar(select(func.count()).select_from(Image)) or 0,
        "hosts": session.scalar(select(func.count()).select_from(Host)) or 0,
        "scans": session.scalar(select(func.count()).select_from(Scan)) or 0,
        "latestFindings": dict(
            zip(
                ("critical", "high", "medium", "low", "negligible", "unknown"),
                (int(v) for v in severities),
                strict=True,
            )
        ),
        "imagesWithCritical": session.scalar(
            select(func.count()).select_from(Image).where(and_(Image.critical > 0))
        )
        or 0,
    }
