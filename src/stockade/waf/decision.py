"""The contract between the WAF's protections and the proxy: sans-io, request in, verdict out.

The proxy (``stockade.waf.proxy``) parses bytes into an :class:`~stockade.waf.request.HttpRequest`,
asks a :class:`Decider` for a :class:`Decision` and only moves bytes accordingly. Protections
(CRS through the SecLang engine, the native detectors, OpenAPI, rate limits, IP lists) each
report :class:`Detection` s; the policy (``stockade.waf.policy``) applies each protection's
:class:`Mode` and exceptions and folds them into one decision.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from stockade.waf.request import HttpRequest, HttpResponse

__all__ = ["Action", "Decider", "Decision", "Detection", "Mode"]


class Mode(enum.StrEnum):
    """What a protection does when it detects something."""

    DISABLED = "disabled"
    ALERT = "alert"
    """Log an audit event; let the request through."""
    PREVENT = "prevent"
    """Refuse the request (403 with an incident id, or the configured page)."""
    BAN = "ban"
    """Refuse it and every request from the client's IP for the ban period."""


class Action(enum.StrEnum):
    ALLOW = "allow"
    ALERT = "alert"
    DENY = "deny"
    BAN = "ban"


@dataclass(frozen=True, slots=True)
class Detection:
    protection: str
    """``crs``, ``sqli``, ``xss``, ``cmdi``, ``lfi``, ``code``, ``shellshock``, ``scanner``,
    ``protocol``, ``openapi``, ``ratelimit``, ``iplist``…"""
    rule_id: str
    """The CRS rule id, or the native protection's own id."""
    message: str
    location: str = ""
    """Where it was found: ``ARGS:id``, ``REQUEST_HEADERS:User-Agent``, ``path``…"""
    matched: str = ""
    """The matched data, truncated and redacted (never a whole body, never a credential)."""
    severity: str = "critical"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    status: int = 0
    """The status to answer with when the action refuses the request (403, 429…)."""
    detections: tuple[Detection, ...] = ()
    """What was found, including what only alerts or what an exception let through."""
    incident_id: str = ""
    """Set whenever there are detections; shown on the block page and in the audit event."""
    anomaly_score: int = 0
    ban_seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


class Decider(Protocol):
    """What the proxy calls; implementations must never raise on hostile input (they may
    raise :class:`~stockade.waf.errors.WafError` on an internal fault, which the proxy
    turns into fail-open or fail-closed as configured)."""

    def decide_request(self, request: HttpRequest, *, now: float) -> Decision: ...

    def decide_response(
        self, request: HttpRequest, response: HttpResponse, *, now: float
    ) -> Decision: ...
