"""Retention: how much scan history to keep, and the pruning that applies it.

The newest scan of every artifact is always kept, whatever its age: an image that was
scanned once a year ago still shows its findings. So is every scan something points at
as its latest (an image's or host's latest scan, a target's latest check result) even
where clocks disagree about which is newest, so pruning never changes what the lists
and their summaries show. Expired sessions go too. The audit log is never pruned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Result, and_, bindparam, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from stockade.console.store.models import Host, Image, LatestCompliance, RuntimeEvent, Scan
from stockade.console.store.models import Session as WebSession

__all__ = ["PruneReport", "RetentionPolicy", "prune"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_scans: int = 30
    """Scans kept per artifact and kind (vulnerabilities, compliance); at least 1."""
    max_age_days: int | None = 365
    """Scans older than this go (except each artifact's newest); None keeps them."""
    event_max_age_days: int | None = 90
    """Runtime events older than this go; None keeps them."""


@dataclass(frozen=True, slots=True)
class PruneReport:
    scans: int
    events: int
    sessions: int


def prune(
    session: Session,
    policy: RetentionPolicy,
    now: dt.datetime,
    *,
    artifact_key: str | None = None,
) -> PruneReport:
    """Delete what ``policy`` no longer keeps (one artifact's history with ``artifact_key``).

    Findings, packages and compliance results go with their scan (``ON DELETE CASCADE``).
    """
    if artifact_key is not None:
        # After every publish: a few dozen rows read by index, a delete only if needed.
        scans = _prune_artifact(session, policy, now, artifact_key)
        return PruneReport(scans=scans, events=0, sessions=0)
    rank = (
        func.row_number()
        .over(
            partition_by=(Scan.artifact_key, Scan.kind),
            order_by=(Scan.scanned_at.desc(), Scan.id.desc()),
        )
        .label("rank")
    )
    sub = select(Scan.id, Scan.scanned_at, rank).subquery()
    doomed = [sub.c.rank > max(1, policy.keep_scans)]
    if policy.max_age_days is not None:
        cutoff = now - dt.timedelta(days=policy.max_age_days)
        doomed.append(and_(sub.c.rank > 1, sub.c.scanned_at < cutoff))
    ids = select(sub.c.id).where(or_(*doomed), *_not_latest(sub.c.id))
    scans = _deleted(session.execute(delete(Scan).where(Scan.id.in_(ids))))

    events = 0
    if policy.event_max_age_days is not None:
        cutoff = now - dt.timedelta(days=policy.event_max_age_days)
        events = _deleted(
            session.execute(delete(RuntimeEvent).where(RuntimeEvent.occurred_at < cutoff))
        )
    sessions = _deleted(session.execute(delete(WebSession).where(WebSession.expires_at < now)))
    return PruneReport(scans=scans, events=events, sessions=sessions)


def _not_latest(scan_id: Any) -> tuple[Any, ...]:
    """Conditions: no image, host or compliance target has ``scan_id`` as its latest."""
    return (
        ~exists().where(Image.latest_scan_id == scan_id),
        ~exists().where(Host.latest_scan_id == scan_id),
        ~exists().where(LatestCompliance.scan_id == scan_id),
    )


_HISTORY = (
    select(Scan.id, Scan.kind, Scan.scanned_at)
    .where(Scan.artifact_key == bindparam("key"))
    .order_by(Scan.kind, Scan.scanned_at.desc(), Scan.id.desc())
)


def _prune_artifact(
    session: Session, policy: RetentionPolicy, now: dt.datetime, artifact_key: str
) -> int:
    cutoff = None if policy.max_age_days is None else now - dt.timedelta(days=policy.max_age_days)
    keep = max(1, policy.keep_scans)
    doomed: list[int] = []
    rank, kind = 0, None
    for scan_id, scan_kind, scanned_at in session.execute(_HISTORY, {"key": artifact_key}):
        rank = rank + 1 if scan_kind == kind else 1
        kind = scan_kind
        if rank > keep or (rank > 1 and cutoff is not None and scanned_at < cutoff):
            doomed.append(scan_id)
    if not doomed:
        return 0
    return _deleted(session.execute(delete(Scan).where(Scan.id.in_(doomed), *_not_latest(Scan.id))))


def _deleted(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
