"""What happens in the Console that others may react to.

Two hooks, in the caller's thread:

* :class:`PublishListener` — a scan or check result is being stored (policies evaluate
  it). Called inside the publish transaction, in a savepoint of its own: what it writes
  commits with the result (one commit per publish), and a listener that fails loses its
  own writes only, never the result. It returns the events to tell once committed.
* :class:`EventListener` — a :class:`ConsoleEvent` worth telling people about: a policy
  alert or block, a registry scan's outcome, a runtime incident; called after the change
  it describes has committed. Alert channels listen here; it must be quick and must not
  raise (queue real work). :meth:`stockade.console.context.ConsoleContext.emit` fans an
  event out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "EVENT_SEVERITIES",
    "ConsoleEvent",
    "EventListener",
    "PublishListener",
    "ResultPublished",
]


@dataclass(frozen=True, slots=True)
class ResultPublished:
    scan_id: int
    kind: str
    """``vulnerabilities`` or ``compliance``."""
    artifact_key: str
    artifact_name: str
    published_at: dt.datetime
    publisher: str
    summary: dict[str, object]


class PublishListener(Protocol):
    def __call__(self, session: Session, event: ResultPublished) -> Sequence[ConsoleEvent]: ...


EVENT_SEVERITIES = ("critical", "high", "medium", "low", "info")
"""Most severe first; alert rules take a minimum severity from this list."""


@dataclass(frozen=True, slots=True)
class ConsoleEvent:
    """Something to alert on. ``kind`` is dotted, e.g. ``policy.vulnerabilities.block``,
    ``policy.compliance.alert``, ``registry.scan.failed``, ``runtime.incident``."""

    kind: str
    severity: str
    """One of :data:`EVENT_SEVERITIES`."""
    title: str
    """One line a person reads first."""
    subject: str
    """What it is about: an image reference or digest, a host, a registry, a container."""
    at: dt.datetime
    detail: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable particulars (scan id, policy, counts, the explanation)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Scoping facts rules can match: ``namespace``, ``host``, ``image``, ``registry``…"""


class EventListener(Protocol):
    def __call__(self, event: ConsoleEvent) -> None: ...
