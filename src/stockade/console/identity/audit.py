"""The audit log: who changed users, tokens or settings, when and from where."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from stockade.console.store.models import AuditEntry

__all__ = ["record"]


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
    remote: str | None = None,
) -> None:
    """Add an entry in the caller's transaction: the change and its record commit together.

    ``detail`` must never hold a secret (passwords, tokens): callers pass names and roles.
    """
    session.add(
        AuditEntry(
            at=now,
            actor=actor[:160],
            action=action,
            target=target[:256],
            detail=detail or {},
            remote=remote,
        )
    )
