"""Retention: how much scan history to keep, and the pruning that applies it.

The newest scan of every artifact is always kept, whatever its age: an image that was
scanned once a year ago still shows its findings. Expired sessions go too. The audit
log is never pruned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Result, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from stockade.console.store.models import RuntimeEvent, Scan
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
    rank = (
        func.row_number()
        .over(
            partition_by=(Scan.artifact_key, Scan.kind),
            order_by=(Scan.scanned_at.desc(), Scan.id.desc()),
        )
        .label("rank")
    )
    ranked = select(Scan.id, Scan.scanned_at, rank)
    if artifact_key is not None:
        ranked = ranked.where(Scan.artifact_key == artifact_key)
    sub = ranked.subquery()
    doomed = [sub.c.rank > max(1, policy.keep_scans)]
    if policy.max_age_days is not None:
        cutoff = now - dt.timedelta(days=policy.max_age_days)
        doomed.append(and_(sub.c.rank > 1, sub.c.scanned_at < cutoff))
    ids = select(sub.c.id).where(or_(*doomed))
    scans = _deleted(session.execute(delete(Scan).where(Scan.id.in_(ids))))

    events = 0
    if artifact_key is None and policy.event_max_age_days is not None:
        cutoff = now - dt.timedelta(days=policy.event_max_age_days)
        events = _deleted(
            session.execute(delete(RuntimeEvent).where(RuntimeEvent.occurred_at < cutoff))
        )
    sessions = 0
    if artifact_key is None:
        sessions = _deleted(session.execute(delete(WebSession).where(WebSession.expires_at < now)))
    return PruneReport(scans=scans, events=events, sessions=sessions)


def _deleted(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
