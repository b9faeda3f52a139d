"""The few reads the UI needs that ``store/queries.py`` does not have: each one paged
or limited, and ordered by an indexed column (primary keys, ``occurred_at``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.console.store.models import ApiToken, PolicyVerdict, RuntimeEvent, User
from stockade.console.store.queries import Page

__all__ = ["list_tokens", "list_users", "recent_events", "verdict_reasons"]


def _total(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def list_users(session: Session, *, limit: int, offset: int) -> Page:
    rows = session.scalars(select(User).order_by(User.id).limit(limit).offset(offset))
    items = [
        {
            "id": u.id,
            "username": u.username,
            "role": u.role,
            "disabled": u.disabled,
            "createdAt": u.created_at,
            "updatedAt": u.updated_at,
        }
        for u in rows
    ]
    return Page(items, _total(session, User), limit, offset)


def list_tokens(session: Session, *, limit: int, offset: int) -> Page:
    """Newest first; never the token (only its digest is stored anyway) nor its digest."""
    rows = session.scalars(
        select(ApiToken).order_by(ApiToken.id.desc()).limit(limit).offset(offset)
    )
    items = [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "prefix": t.prefix,
            "createdBy": t.created_by,
            "createdAt": t.created_at,
            "expiresAt": t.expires_at,
            "revokedAt": t.revoked_at,
        }
        for t in rows
    ]
    return Page(items, _total(session, ApiToken), limit, offset)


def recent_events(session: Session, *, limit: int) -> list[dict[str, Any]]:
    """The newest runtime events, without counting them all (the dashboard's list)."""
    rows = session.scalars(
        select(RuntimeEvent)
        .order_by(RuntimeEvent.occurred_at.desc(), RuntimeEvent.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": e.id,
            "host": e.host,
            "kind": e.kind,
            "occurredAt": e.occurred_at,
            "payload": e.payload,
        }
        for e in rows
    ]


def verdict_reasons(
    session: Session, scan_ids: list[int]
) -> dict[int, tuple[list[dict[str, Any]], list[str]]]:
    """The stored reasons and notes of the verdicts on a page of scans (one query by the
    unique ``scan_id``): what ``GET /api/v1/scans/{id}/verdict`` answers, for a list."""
    if not scan_ids:
        return {}
    rows = session.execute(
        select(PolicyVerdict.scan_id, PolicyVerdict.detail).where(
            PolicyVerdict.scan_id.in_(scan_ids)
        )
    )
    return {
        scan_id: (list(detail.get("reasons") or []), list(detail.get("notes") or []))
        for scan_id, detail in rows
    }
