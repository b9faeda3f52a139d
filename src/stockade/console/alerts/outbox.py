"""The outbox in the Console's store: events routed by rules into deliveries, and
deliveries claimed, finished and retried by workers.

A delivery is one message to one channel. It is ``collecting`` while its rule's
aggregation interval runs: every matching event for the same rule and channel is added
to it (counted; the first few kept in full). At ``due_at`` any Console process may claim
it. Claiming sets a lease (``sending``, ``lease_owner``, ``lease_until``) in one
transaction: on PostgreSQL rows are taken with ``SELECT … FOR UPDATE SKIP LOCKED``, so
workers in several processes never take the same row; on SQLite the write transaction
itself (``BEGIN IMMEDIATE``) serialises claims. A worker that dies mid-send leaves a
lease that runs out, and the delivery is claimed again (at least once, never lost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from stockade.console.alerts.interface import DeliveryError, Digest
from stockade.console.alerts.messages import event_from_json, event_to_json
from stockade.console.alerts.rules import RuleSpec, matches, more_severe
from stockade.console.errors import Conflict, NotFound
from stockade.console.events import ConsoleEvent
from stockade.console.store.engine import Store
from stockade.console.store.models import (
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertRuleChannel,
)
from stockade.console.store.queries import Page

__all__ = [
    "DELIVERY_STATUSES",
    "Claimed",
    "RetryPolicy",
    "claim_due",
    "delivery_out",
    "finish",
    "list_deliveries",
    "prune_deliveries",
    "retry_delivery",
    "route_event",
    "rule_spec",
]

DELIVERY_STATUSES = ("collecting", "pending", "sending", "delivered", "failed")
_JITTER = random.Random()  # noqa: S311  # spreads retries; nothing secret
MAX_KINDS = 20
"""Distinct event kinds counted per delivery; more are counted as ``other``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base * factor ** (n - 1)`` seconds after the n-th failed
    attempt, at most ``cap``, less up to ``jitter`` of it at random (so many deliveries
    failing together do not retry together); after ``max_attempts`` the delivery fails."""

    base_seconds: float = 30.0
    factor: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 8
    jitter: float = 0.1

    def delay(
        self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        seconds = min(self.cap_seconds, self.base_seconds * self.factor ** max(0, attempts - 1))
        if self.jitter:
            seconds *= 1 - self.jitter * (rng or _JITTER).random()
        if retry_after is not None:
            # The receiver's own wish wins over a shorter backoff, within the cap.
            seconds = max(seconds, min(retry_after, self.cap_seconds))
        return seconds


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds the lease on, with what it needs to send it."""

    delivery_id: int
    channel_id: int
    channel_name: str
    kind: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    digest: Digest
    attempt: int


def rule_spec(rule: AlertRule) -> RuleSpec:
    return RuleSpec(
        kinds=tuple(rule.kinds), min_severity=rule.min_severity, labels=dict(rule.labels)
    )


def _add_event(
    delivery: AlertDelivery, event: ConsoleEvent, data: dict[str, Any], samples: int
) -> None:
    delivery.event_count += 1
    if len(delivery.events) < samples:
        delivery.events = [*delivery.events, data]
    counts = dict(delivery.kind_counts)
    key = event.kind if event.kind in counts or len(counts) < MAX_KINDS else "other"
    counts[key] = counts.get(key, 0) + 1
    delivery.kind_counts = counts
    delivery.severity = more_severe(delivery.severity, event.severity)
    delivery.first_event_at = min(delivery.first_event_at, event.at)
    delivery.last_event_at = max(delivery.last_event_at, event.at)


def route_event(store: Store, event: ConsoleEvent, now: dt.datetime, *, samples: int) -> int:
    """Add ``event`` to a collecting delivery of every enabled channel of every rule it
    matches (opening one where none collects); the number of deliveries touched."""
    with store.read() as session:
        rules = session.scalars(
            select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id)
        ).all()
        matched = [r.id for r in rules if matches(rule_spec(r), event)]
    if not matched:
        return 0
    if event.at.tzinfo is None:  # a naive time from an emitter is taken to be UTC
        event = dataclasses.replace(event, at=event.at.replace(tzinfo=dt.UTC))
    data = event_to_json(event)
    touched = 0
    with store.write() as session:
        # Locking the rules serialises events of one rule across processes, so two
        # Consoles never open two collecting deliveries for the same rule and channel.
        locked = session.scalars(
            select(AlertRule)
            .where(AlertRule.id.in_(matched), AlertRule.enabled.is_(True))
            .order_by(AlertRule.id)
            .with_for_update()
        ).all()
        for rule in locked:
            if not matches(rule_spec(rule), event):
                continue  # changed since it was read
            channel_ids = session.scalars(
                select(AlertRuleChannel.channel_id)
                .join(AlertChannel, AlertChannel.id == AlertRuleChannel.channel_id)
                .where(AlertRuleChannel.rule_id == rule.id, AlertChannel.enabled.is_(True))
                .order_by(AlertRuleChannel.channel_id)
            ).all()
            for channel_id in channel_ids:
                collecting = session.scalars(
                    select(AlertDelivery)
                    .where(
                        AlertDelivery.rule_id == rule.id,
                        AlertDelivery.channel_id == channel_id,
                        AlertDelivery.status == "collecting",
                        AlertDelivery.due_at > now,
                    )
                    .order_by(AlertDelivery.id)
                    .limit(1)
                    .with_for_update()
                ).first()
                if collecting is None:
                    session.add(
                        AlertDelivery(
                            rule_id=rule.id,
                            rule_name=rule.name,
                            channel_id=channel_id,
                            status="collecting",
                            event_count=1,
                            events=[data] if samples > 0 else [],
                            kind_counts={event.kind: 1},
                            severity=event.severity,
                            first_event_at=event.at,
                            last_event_at=event.at,
                            created_at=now,
                            due_at=now + dt.timedelta(seconds=rule.aggregate_seconds),
                            attempts=0,
                        )
                    )
                else:
                    _add_event(collecting, event, data, samples)
                touched += 1
    return touched


def _digest(row: AlertDelivery) -> Digest:
    return Digest(
        rule=row.rule_name,
        count=row.event_count,
        severity=row.severity,
        first_at=row.first_event_at,
        last_at=row.last_event_at,
        events=tuple(event_from_json(e) for e in row.events),
        kind_counts=dict(row.kind_counts),
        delivery_id=row.id,
    )


def claim_due(
    store: Store,
    *,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    max_attempts: int,
) -> list[Claimed]:
    """Take up to ``limit`` deliveries that are due (or whose lease ran out) for
    ``owner``; each claim counts as an attempt."""
    due = or_(
        and_(AlertDelivery.status.in_(("collecting", "pending")), AlertDelivery.due_at <= now),
        and_(AlertDelivery.status == "sending", AlertDelivery.lease_until <= now),
    )
    claimed: list[Claimed] = []
    with store.write() as session:
        rows = session.scalars(
            select(AlertDelivery)
            .where(due)
            .order_by(AlertDelivery.due_at, AlertDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            channel = session.get_one(AlertChannel, row.channel_id)
            row.lease_owner = None
            row.lease_until = None
            if not channel.enabled:
                row.status = "failed"
                row.last_error = "the channel is disabled"
                continue
            if row.attempts >= max_attempts:
                # The last attempt's worker stopped before it could say how it went.
                row.status = "failed"
                row.last_error = f"gave up after {row.attempts} attempts (the last did not finish)"
                continue
            row.attempts += 1
            row.last_attempt_at = now
            row.status = "sending"
            row.lease_owner = owner
            row.lease_until = now + lease
            claimed.append(
                Claimed(
                    delivery_id=row.id,
                    channel_id=channel.id,
                    channel_name=channel.name,
                    kind=channel.kind,
                    config=dict(channel.config),
                    secrets=dict(channel.secrets),
                    digest=_digest(row),
                    attempt=row.attempts,
                )
            )
    return claimed


def finish(
    store: Store,
    claimed: Claimed,
    *,
    owner: str,
    now: dt.datetime,
    error: DeliveryError | None,
    policy: RetryPolicy,
) -> str | None:
    """Record how an attempt went: ``delivered``, ``pending`` (a retry is scheduled) or
    ``failed``; None when the lease was lost meanwhile (another worker has it)."""
    with store.write() as session:
        row = session.get(AlertDelivery, claimed.delivery_id, with_for_update=True)
        if row is None or row.status != "sending" or row.lease_owner != owner:
            return None
        row.lease_owner = None
        row.lease_until = None
        if error is None:
            row.status = "delivered"
            row.delivered_at = now
            row.last_error = None
        elif not error.retryable or row.attempts >= policy.max_attempts:
            row.status = "failed"
            row.last_error = error.message[:2000]
        else:
            row.status = "pending"
            row.last_error = error.message[:2000]
            row.due_at = now + dt.timedelta(seconds=policy.delay(row.attempts, error.retry_after))
        return row.status


def retry_delivery(session: Session, delivery_id: int, now: dt.datetime) -> AlertDelivery:
    """Send a failed delivery again, with a fresh count of attempts."""
    row = session.get(AlertDelivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no alert delivery with id {delivery_id}")
    if row.status != "failed":
        raise Conflict(f"delivery {delivery_id} is {row.status}; only a failed one is retried")
    row.status = "pending"
    row.attempts = 0
    row.due_at = now
    return row


def prune_deliveries(session: Session, before: dt.datetime) -> int:
    """Forget delivered and failed deliveries created before ``before``."""
    result = session.execute(
        delete(AlertDelivery).where(
            AlertDelivery.status.in_(("delivered", "failed")), AlertDelivery.created_at < before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def delivery_out(row: AlertDelivery, channel_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "ruleId": row.rule_id,
        "ruleName": row.rule_name,
        "channelId": row.channel_id,
        "channelName": channel_name,
        "eventCount": row.event_count,
        "severity": row.severity,
        "kinds": dict(row.kind_counts),
        "firstEventAt": row.first_event_at,
        "lastEventAt": row.last_event_at,
        "createdAt": row.created_at,
        "dueAt": row.due_at,
        "attempts": row.attempts,
        "lastAttemptAt": row.last_attempt_at,
        "lastError": row.last_error,
        "deliveredAt": row.delivered_at,
        "events": list(row.events),
    }


def list_deliveries(
    session: Session,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    channel_id: int | None = None,
    rule_id: int | None = None,
) -> Page:
    """Deliveries, newest first."""
    query = select(AlertDelivery, AlertChannel.name).join(
        AlertChannel, AlertChannel.id == AlertDelivery.channel_id
    )
    if status:
        query = query.where(AlertDelivery.status == status)
    if channel_id is not None:
        query = query.where(AlertDelivery.channel_id == channel_id)
    if rule_id is not None:
        query = query.where(AlertDelivery.rule_id == rule_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AlertDelivery.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page([delivery_out(d, name) for d, name in rows], int(total), limit, offset)
