"""Policies in the store: rows to :mod:`model` records, subjects of scans, fix dates and
verdicts. Every function works in the caller's session (and transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from stockade.console.errors import NotFound
from stockade.console.policies.model import (
    ALL_COLLECTION,
    Collection,
    ComplianceItem,
    FixKey,
    Kind,
    PolicyException,
    Rule,
    Subject,
    Verdict,
    VulnerabilityItem,
    evaluate,
)
from stockade.console.store.ingest import KIND_VULNERABILITIES
from stockade.console.store.models import (
    ComplianceResult,
    FindingRow,
    Host,
    Image,
    ImageTag,
    PolicyCollection,
    PolicyContext,
    PolicyFixSeen,
    PolicyRule,
    PolicyVerdict,
    Scan,
)
from stockade.core.advisory import Severity

__all__ = [
    "Evaluation",
    "collection_from_row",
    "evaluate_scan",
    "fix_dates",
    "load_collections",
    "load_rules",
    "record_fixes",
    "rule_from_row",
    "subject_of_scan",
]

_SEVERITIES = {int(s): s for s in Severity}
_CHUNK = 400
"""Rows per statement: under SQLite's bound-parameter limit with room to spare."""


def collection_from_row(row: PolicyCollection) -> Collection:
    return Collection(
        name=row.name,
        images=tuple(row.images),
        hosts=tuple(row.hosts),
        namespaces=tuple(row.namespaces),
        labels=tuple(row.labels),
        description=row.description,
    )


def _severity(rank: int | None) -> Severity | None:
    return None if rank is None else Severity(rank)


def rule_from_row(row: PolicyRule) -> Rule:
    kind: Kind = "vulnerabilities" if row.kind == "vulnerabilities" else "compliance"
    return Rule(
        kind=kind,
        name=row.name,
        collections=tuple(row.collections) or (ALL_COLLECTION,),
        alert=_severity(row.alert_severity),
        block=_severity(row.block_severity),
        only_fixed=row.only_fixed,
        grace_days=row.grace_days,
        count_suppressed=row.count_suppressed,
        checks=tuple(row.checks),
        exceptions=tuple(
            PolicyException(
                id=e["id"],
                reason=e.get("reason", ""),
                expires=dt.date.fromisoformat(e["expires"]) if e.get("expires") else None,
            )
            for e in row.exceptions
        ),
        disabled=row.disabled,
        position=row.position,
        description=row.description,
    )


def load_rules(session: Session, kind: str) -> list[Rule]:
    rows = session.scalars(
        select(PolicyRule)
        .where(PolicyRule.kind == kind)
        .order_by(PolicyRule.position, PolicyRule.id)
    )
    return [rule_from_row(r) for r in rows]


def load_collections(session: Session) -> dict[str, Collection]:
    return {r.name: collection_from_row(r) for r in session.scalars(select(PolicyCollection))}


def _image_references(session: Session, image_id: int) -> list[str]:
    image = session.get(Image, image_id)
    references = [] if image is None else [image.name]
    references.extend(
        session.scalars(
            select(ImageTag.reference).where(ImageTag.image_id == image_id).order_by(ImageTag.id)
        )
    )
    return references


def subject_of_scan(session: Session, scan: Scan) -> Subject:
    """Who a stored result is about: its image references (tags published with it and
    tags seen before for the same digest), its name, its host, and the namespace and
    labels its publisher gave the artifact (``PUT /api/v1/policies/context``)."""
    references: dict[str, None] = {}
    artifact = scan.document.get("artifact") if isinstance(scan.document, dict) else None
    if isinstance(artifact, dict):
        for key in ("repoTags", "repoDigests"):
            for reference in artifact.get(key) or ():
                if isinstance(reference, str):
                    references[reference] = None
    if scan.artifact_type == "registry":
        references[scan.artifact_name] = None
    if scan.image_id is not None:
        references.update(dict.fromkeys(_image_references(session, scan.image_id)))
    host = None
    if scan.host_id is not None:
        row = session.get(Host, scan.host_id)
        host = row.name if row is not None else None
    context = session.scalars(
        select(PolicyContext).where(PolicyContext.artifact_key == scan.artifact_key)
    ).first()
    return Subject(
        references=tuple(references),
        artifact=scan.artifact_name,
        host=host,
        namespace=context.namespace if context is not None else None,
        labels=tuple(sorted(context.labels.items())) if context is not None else (),
    )


def _vulnerability_items(session: Session, scan_id: int) -> list[VulnerabilityItem]:
    # Columns, not ORM objects: a big image has thousands of findings.
    rows = session.execute(
        select(
            FindingRow.vuln_id,
            FindingRow.aliases,
            FindingRow.package_name,
            FindingRow.package_type,
            FindingRow.installed_version,
            FindingRow.severity,
            FindingRow.fixed_versions,
            FindingRow.fix_state,
            FindingRow.suppressed,
        ).where(FindingRow.scan_id == scan_id)
    )
    return [
        VulnerabilityItem(
            id=vuln_id,
            aliases=tuple(aliases),
            package=package,
            package_type=package_type,
            version=version,
            severity=_SEVERITIES.get(severity, Severity.UNKNOWN),
            fixable=bool(fixed_versions) or fix_state == "fixed",
            suppressed=suppressed,
        )
        for (
            vuln_id,
            aliases,
            package,
            package_type,
            version,
            severity,
            fixed_versions,
            fix_state,
            suppressed,
        ) in rows
    ]


def _compliance_items(session: Session, scan_id: int) -> list[ComplianceItem]:
    rows = session.scalars(
        select(ComplianceResult).where(
            ComplianceResult.scan_id == scan_id,
            # A suppressed failure is stored as skipped, with its suppression.
            or_(ComplianceResult.status == "failed", ComplianceResult.suppressed.is_(True)),
        )
    )
    return [
        ComplianceItem(
            check_id=r.check_id,
            title=r.title,
            severity=_SEVERITIES.get(r.severity, Severity.UNKNOWN),
            resource=r.resource,
            suppressed=r.suppressed,
        )
        for r in rows
    ]


def record_fixes(
    session: Session, keys: Iterable[FixKey], now: dt.datetime
) -> dict[FixKey, dt.datetime]:
    """Remember ``now`` as the day a fix was first seen for each key not seen before;
    returns when each key's fix was first seen."""
    wanted = list(dict.fromkeys(keys))
    known = fix_dates(session, wanted)
    new = [key for key in wanted if key not in known]
    if new:
        rows = [
            {"vuln_id": v, "package_type": t, "package_name": n, "first_seen": now}
            for v, t, n in new
        ]
        dialect = session.get_bind().dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        # One statement, many parameter sets. A replica that recorded a key in between
        # keeps its date (seconds apart at most); this evaluation counts from now.
        statement = module.insert(PolicyFixSeen.__table__).on_conflict_do_nothing()
        session.connection().execute(statement, rows)
    return {**known, **dict.fromkeys(new, now)}


def fix_dates(session: Session, keys: Iterable[FixKey]) -> dict[FixKey, dt.datetime]:
    """When a fix was first seen, for the keys the Console has seen a fix for."""
    wanted = set(keys)
    ids = sorted({vuln_id for vuln_id, _, _ in wanted})
    found: dict[FixKey, dt.datetime] = {}
    # By advisory id (the unique index's first column), the rest compared here.
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(
                PolicyFixSeen.vuln_id,
                PolicyFixSeen.package_type,
                PolicyFixSeen.package_name,
                PolicyFixSeen.first_seen,
            ).where(PolicyFixSeen.vuln_id.in_(ids[start : start + _CHUNK]))
        )
        for vuln_id, package_type, package_name, first_seen in rows:
            key = (vuln_id, package_type, package_name)
            if key in wanted:
                found[key] = first_seen
    return found


@dataclass(frozen=True, slots=True)
class Evaluation:
    scan_id: int
    subject: Subject
    verdict: Verdict


def evaluate_scan(session: Session, scan_id: int, now: dt.datetime) -> Evaluation:
    """Evaluate a stored result against the policy of its kind and store the verdict
    (replacing an earlier one). A vulnerability scan's fixes are recorded first, so a
    fix first seen in this very scan starts its grace period now."""
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise NotFound(f"no scan with id {scan_id}")
    subject = subject_of_scan(session, scan)
    collections = load_collections(session)
    items: Sequence[VulnerabilityItem] | Sequence[ComplianceItem]
    fixes: Mapping[FixKey, dt.datetime] = {}
    if scan.kind == KIND_VULNERABILITIES:
        kind: Kind = "vulnerabilities"
        items = _vulnerability_items(session, scan_id)
        fixable = [i.fix_key for i in items if i.fixable]
        fixes = record_fixes(session, fixable, now)
    else:
        kind = "compliance"
        items = _compliance_items(session, scan_id)
    verdict = evaluate(
        kind, load_rules(session, kind), collections, subject, items, now=now, fix_seen=fixes
    )
    row = session.scalars(select(PolicyVerdict).where(PolicyVerdict.scan_id == scan_id)).first()
    if row is None:
        row = PolicyVerdict(scan_id=scan_id)
        session.add(row)
    row.kind = kind
    row.outcome = verdict.outcome.value
    row.rule_name = verdict.rule
    row.collection = verdict.collection
    row.severity = int(verdict.severity) if verdict.severity is not None else 0
    row.evaluated_at = now
    row.detail = {**verdict.to_json(), "subject": subject.to_json()}
    session.flush()
    return Evaluation(scan_id=scan_id, subject=subject, verdict=verdict)
