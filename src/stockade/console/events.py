"""What happens in the Console that others may react to.

Two hooks, both called after the change they describe has committed, in the caller's
thread; a listener must be quick and must not raise (queue real work):

* :class:`PublishListener` — a scan or check result was stored (policies evaluate it).
* :class:`EventListener` — a :class:`ConsoleEvent` worth telling people about: a policy
  alert or block, a registry scan's outcome, a runtime incident. Alert channels listen
  here; :meth:`stockade.console.context.ConsoleContext.emit` fans an event out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    def __call__(self, event: ResultPublished) -> None: ...


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
