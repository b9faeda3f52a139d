"""Defenders: enrolment (one host, one token), and storing what they push exactly once.

A Defender is enrolled by an administrator (``POST /api/v1/defenders`` or
``stockade console defender enrol HOST``), which issues a token of role ``defender``
bound to that host: events it pushes must name its host, so a stolen token cannot speak
for another machine. Each event may carry a sequence number; the Console records which
numbers it stored, so a Defender that resends a batch after a lost answer (the Console
stored it, the acknowledgement never arrived) does not create duplicates — on any replica,
since the record is a primary key in the shared store. ``last_seq`` tells a reconnecting
Defender where the Console stands.

Events of kind ``incident`` (and ``alert``) are runtime incidents: after they are stored,
each becomes a ``runtime.incident`` :class:`~stockade.console.events.ConsoleEvent` for the
alert channels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.console.errors import Conflict, NotFound, PermissionDenied
from stockade.console.events import ConsoleEvent
from stockade.console.identity import accounts, audit
from stockade.console.identity.accounts import Principal
from stockade.console.roles import Role
from stockade.console.store.models import ApiToken, Defender, DefenderEventSeq, RuntimeEvent

__all__ = [
    "INCIDENT_KINDS",
    "Enrolled",
    "StoredEvents",
    "enrol",
    "incident_event",
    "revoke",
    "rotate",
    "store_events",
]

INCIDENT_KINDS = frozenset({"incident", "alert"})

_PRIORITY_SEVERITY = {
    "emergency": "critical",
    "alert": "critical",
    "critical": "critical",
    "error": "high",
    "high": "high",
    "warning": "medium",
    "medium": "medium",
    "notice": "low",
    "low": "low",
    "informational": "info",
    "info": "info",
    "debug": "info",
}


@dataclass(frozen=True, slots=True)
class Enrolled:
    defender: Defender
    token: str
    """Shown once; only its digest is stored."""


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    kind: str
    occurred_at: dt.datetime
    seq: int | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvents:
    accepted: int
    duplicates: int
    last_seq: int
    incidents: tuple[RuntimeEvent, ...]


def _valid_name(name: str) -> str:
    label = name.strip()
    if not label or len(label) > 256 or not label.isprintable():
        raise Conflict(
            f"invalid Defender host name {name[:64]!r}", "use 1 to 256 printable characters"
        )
    return label


def enrol(
    session: Session,
    name: str,
    *,
    actor: str,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    remote: str | None = None,
) -> Enrolled:
    """Enrol a Defender for host ``name`` and issue its token."""
    label = _valid_name(name)
    existing = session.scalars(select(Defender).where(Defender.name == label)).first()
    if existing is not None and existing.revoked_at is None:
        raise Conflict(
            f"a Defender is already enrolled for {label}",
            "rotate its token (POST /api/v1/defenders/{id}/token) or revoke it first",
        )
    issued = accounts.create_token(
        session,
        name=f"defender:{label}"[:128],
        role=Role.DEFENDER,
        actor=actor,
        now=now,
        expires_at=expires_at,
        remote=remote,
    )
    if existing is None:
        defender = Defender(
            name=label, token_id=issued.id, created_by=actor, created_at=now, last_seq=0
        )
        session.add(defender)
    else:  # re-enrolment of a revoked host keeps its history and sequence
        defender = existing
        defender.token_id, defender.revoked_at = issued.id, None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="defender.enrol",
        target=f"defender:{defender.id}:{label}",
        now=now,
        remote=remote,
    )
    return Enrolled(defender=defender, token=issued.token)


def get(session: Session, defender_id: int) -> Defender:
    defender = session.get(Defender, defender_id)
    if defender is None:
        raise NotFound(f"no Defender with id {defender_id}")
    return defender


def _revoke_token(session: Session, defender: Defender, now: dt.datetime) -> None:
    if defender.token_id is not None:
        token = session.get(ApiToken, defender.token_id)
        if token is not None and token.revoked_at is None:
            token.revoked_at = now


def rotate(
    session: Session, defender_id: int, *, actor: str, now: dt.datetime, remote: str | None = None
) -> Enrolled:
    """Revoke a Defender's token and issue a new one (a reinstalled host, a leaked token)."""
    defender = get(session, defender_id)
    _revoke_token(session, defender, now)
    defender.revoked_at = now
    session.flush()
    return enrol(session, defender.name, actor=actor, now=now, remote=remote)


def revoke(
    session: Session, defender_id: int, *, actor: str, now: dt.datetime, remote: str | None = None
) -> None:
    defender = get(session, defender_id)
    _revoke_token(session, defender, now)
    defender.revoked_at = now
    audit.record(
        session,
        actor=actor,
        action="defender.revoke",
        target=f"defender:{defender.id}:{defender.name}",
        now=now,
        remote=remote,
    )


def of_caller(session: Session, caller: Principal) -> Defender | None:
    """The enrolment a token belongs to (None for a user, or an unbound defender token)."""
    if caller.kind != "token":
        return None
    return session.scalars(select(Defender).where(Defender.token_id == caller.id)).first()


def store_events(
    session: Session,
    caller: Principal,
    host: str,
    events: list[IncomingEvent],
    *,
    now: dt.datetime,
    version: str | None = None,
) -> StoredEvents:
    """Store a batch in the caller's transaction, skipping sequence numbers already stored.

    An enrolled Defender may only push for its own host. Numbers repeated inside the
    batch count once.
    """
    defender = of_caller(session, caller)
    if defender is not None:
        if defender.revoked_at is not None:
            raise PermissionDenied("this Defender has been revoked")
        if host != defender.name:
            raise PermissionDenied(
                f"this Defender's token is for host {defender.name!r}, not {host[:64]!r}"
            )
    seen: set[int] = set()
    if defender is not None:
        numbers = sorted({e.seq for e in events if e.seq is not None})
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            seen.update(
                session.scalars(
                    select(DefenderEventSeq.seq).where(
                        DefenderEventSeq.defender_id == defender.id,
                        DefenderEventSeq.seq.in_(chunk),
                    )
                )
            )
    stored: list[tuple[int | None, RuntimeEvent]] = []
    duplicates = 0
    for event in events:
        if defender is not None and event.seq is not None:
            if event.seq in seen:
                duplicates += 1
                continue
            seen.add(event.seq)
        row = RuntimeEvent(
            host=host,
            kind=event.kind,
            occurred_at=event.occurred_at,
            received_at=now,
            sender=caller.label,
            payload=event.payload,
        )
        stored.append((event.seq, row))
    session.add_all([row for _, row in stored])
    last_seq = 0
    if defender is not None:
        session.flush()
        session.add_all(
            DefenderEventSeq(defender_id=defender.id, seq=seq, event_id=row.id)
            for seq, row in stored
            if seq is not None
        )
        numbers_stored = [seq for seq, _ in stored if seq is not None]
        if numbers_stored:
            defender.last_seq = max(defender.last_seq, *numbers_stored)
        defender.last_seen_at = now
        if version:
            defender.version = version[:64]
        last_seq = defender.last_seq
    incidents = tuple(row for _, row in stored if row.kind in INCIDENT_KINDS)
    return StoredEvents(
        accepted=len(stored), duplicates=duplicates, last_seq=last_seq, incidents=incidents
    )


def incident_event(row: RuntimeEvent) -> ConsoleEvent:
    """A stored runtime incident as an event for the alert channels."""
    payload = row.payload
    priority = str(payload.get("priority") or payload.get("severity") or "warning").lower()
    labels = {"host": row.host}
    for key in ("container", "image", "namespace", "rule"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            labels[key] = value[:256]
    title = payload.get("title") or payload.get("output") or payload.get("rule") or row.kind
    subject = labels.get("container") or labels.get("image") or row.host
    return ConsoleEvent(
        kind="runtime.incident",
        severity=_PRIORITY_SEVERITY.get(priority, "medium"),
        title=str(title)[:500],
        subject=subject,
        at=row.occurred_at,
        detail={"eventId": row.id, "host": row.host, "payload": payload},
        labels=labels,
    )
