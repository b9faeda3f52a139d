"""Publishing results: scans and checks from CI, events from Defenders."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from stockade.console import defenders
from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context
from stockade.console.api.schemas import PublishedOut
from stockade.console.context import ConsoleContext
from stockade.console.documents import CheckDocument, EventBatch, ScanDocument
from stockade.console.errors import InvalidDocument
from stockade.console.events import ConsoleEvent, ResultPublished
from stockade.console.roles import Permission
from stockade.console.store import retention, settings
from stockade.console.store.ingest import store_check, store_scan
from stockade.console.store.models import Scan

router = APIRouter(prefix="/api/v1", tags=["publish"])
_log = logging.getLogger("stockade.console")

HostParam = Annotated[
    str | None,
    Query(min_length=1, max_length=256, description="record the result for this host"),
]


def _publish(
    context: ConsoleContext, session: Session, scan: Scan, publisher: str
) -> list[ConsoleEvent]:
    """Tell the publish listeners (in the storing transaction); the events to emit."""
    event = ResultPublished(
        scan_id=scan.id,
        kind=scan.kind,
        artifact_key=scan.artifact_key,
        artifact_name=scan.artifact_name,
        published_at=scan.scanned_at,
        publisher=publisher,
        summary=dict(scan.summary),
    )
    return context.published(session, event)


def _answer(context: ConsoleContext, scan: Scan, events: list[ConsoleEvent]) -> dict[str, Any]:
    """After commit: emit the listeners' events and answer."""
    for event in events:
        context.emit(event)
    _log.info("stored %s scan %d of %s", scan.kind, scan.id, scan.artifact_key)
    return {
        "scanId": scan.id,
        "kind": scan.kind,
        "artifactKey": scan.artifact_key,
        "findings": int(scan.summary.get("findings", scan.summary.get("failed", 0))),
        "url": f"/api/v1/scans/{scan.id}",
    }


def _prune(context: ConsoleContext, session: Any, key: str, now: dt.datetime) -> None:
    if context.config.prune_on_publish:
        policy = settings.load_retention(session)
        retention.prune(session, policy, now, artifact_key=key)


@router.post("/scans", status_code=201, response_model=PublishedOut)
@requires(Permission.PUBLISH)
def publish_scan(
    document: ScanDocument, caller: Caller, context: Context, host: HostParam = None
) -> dict[str, Any]:
    """Store a ``stockade scan -f json`` result, in one transaction.

    An image (an artifact with a digest) gets this scan as its latest; with ``host`` the
    result is recorded for that host instead.
    """
    now = context.clock()
    with context.store.write() as session:
        scan = store_scan(session, document, publisher=caller.label, now=now, host=host)
        _prune(context, session, scan.artifact_key, now)
        events = _publish(context, session, scan, caller.label)
    return _answer(context, scan, events)


@router.post("/checks", status_code=201, response_model=PublishedOut)
@requires(Permission.PUBLISH)
def publish_check(
    document: CheckDocument,
    caller: Caller,
    context: Context,
    host: HostParam = None,
    image: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="the digest of the image checked"),
    ] = None,
) -> dict[str, Any]:
    """Store a ``stockade check -f json`` result, in one transaction."""
    if host is not None and image is not None:
        raise InvalidDocument("a check result is for a host or for an image, not both")
    now = context.clock()
    with context.store.write() as session:
        scan = store_check(
            session, document, publisher=caller.label, now=now, host=host, image_digest=image
        )
        _prune(context, session, scan.artifact_key, now)
        events = _publish(context, session, scan, caller.label)
    return _answer(context, scan, events)


def _event_time(text: str | None, now: dt.datetime) -> dt.datetime:
    if text is None:
        return now
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidDocument(f"occurredAt is not an RFC 3339 time: {text[:64]!r}") from exc
    if when.tzinfo is None:
        raise InvalidDocument("occurredAt needs a time zone offset (Z or ±hh:mm)")
    return when


class EventsStored(BaseModel):
    accepted: int = Field(description="Events stored now.")
    duplicates: int = Field(description="Events skipped: their sequence number was stored.")
    lastSeq: int = Field(description="The highest sequence number stored from this Defender.")


@router.post("/events", status_code=202, response_model=EventsStored)
@requires(Permission.PUSH_EVENTS)
def push_events(batch: EventBatch, caller: Caller, context: Context) -> dict[str, int]:
    """Store a Defender's runtime events (all of the batch or none).

    An enrolled Defender pushes for its own host only; events whose ``seq`` it already
    stored are skipped, so resending after a lost answer duplicates nothing.
    """
    now = context.clock()
    incoming = [
        defenders.IncomingEvent(
            kind=e.kind, occurred_at=_event_time(e.occurred_at, now), seq=e.seq, payload=e.payload
        )
        for e in batch.events
    ]
    with context.store.write() as session:
        result = defenders.store_events(
            session, caller, batch.host, incoming, now=now, version=batch.version
        )
    for row in result.incidents:
        context.emit(defenders.incident_event(row))
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "lastSeq": result.last_seq,
    }
