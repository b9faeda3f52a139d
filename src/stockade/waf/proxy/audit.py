"""Audit events: one JSON line per decision that found something, to a file or stdout.

Each line is written with one ``write(2)`` on a descriptor opened ``O_APPEND``, under a lock
the workers share, so lines from several worker processes never interleave, and a line is
on disk before the client sees the answer it explains (the regression harness relies on
that, as go-ftw relies on the WAF's error log).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from stockade.waf.decision import Decision
from stockade.waf.proxy.redact import Redactor, truncate
from stockade.waf.request import HttpRequest

__all__ = ["AuditLog", "audit_event"]

PATH_LIMIT = 512


class _Lock(Protocol):
    def acquire(self, block: bool = ..., timeout: float = ...) -> bool: ...
    def release(self) -> None: ...


class AuditLog:
    """Where events go: a file (appended to), ``-`` for standard output, or nowhere."""

    def __init__(self, target: str | Path | None, *, lock: _Lock | None = None) -> None:
        self.target = None if target is None else str(target)
        self._lock = lock
        self._fd = -1
        self._owned = False
        self.reopen()

    def reopen(self) -> None:
        """Open (again) the target: after log rotation moved the old file away."""
        if self._owned and self._fd >= 0:
            os.close(self._fd)
        self._fd, self._owned = -1, False
        if self.target is None:
            return
        if self.target == "-":
            self._fd = sys.stdout.fileno()
            return
        self._fd = os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._owned = True

    def write(self, event: Mapping[str, Any]) -> None:
        if self._fd < 0:
            return
        data = orjson.dumps(event) + b"\n"
        if self._lock is not None:
            self._lock.acquire()
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except BlockingIOError:
            pass  # a full, non-blocking stdout pipe: drop the event rather than stall
        finally:
            if self._lock is not None:
                self._lock.release()

    def close(self) -> None:
        if self._owned and self._fd >= 0:
            os.close(self._fd)
        self._fd, self._owned = -1, False


def _timestamp(now: float) -> str:
    return (
        datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def audit_event(
    *,
    now: float,
    phase: str,
    request: HttpRequest,
    decision: Decision,
    action: str,
    status: int,
    incident_id: str,
    error: str = "",
) -> dict[str, Any]:
    """The event for one decision. Matched data is redacted and cut again here: the proxy
    does not trust a decider to have done it."""
    redactor = Redactor(request)
    path = request.uri.split("?", 1)[0]
    host = request.header_values("host")
    event: dict[str, Any] = {
        "time": _timestamp(now),
        "event": f"waf.{phase}",
        "incident_id": incident_id,
        "client_ip": request.remote_addr,
        "client_port": request.remote_port,
        "method": truncate(request.method, 32),
        "path": truncate(redactor.text(path), PATH_LIMIT),
        "host": truncate(host[0], 255) if host else "",
        "action": action,
        "status": status,
        "anomaly_score": decision.anomaly_score,
        "rule_ids": [d.rule_id for d in decision.detections],
        "detections": [
            {
                "protection": d.protection,
                "rule_id": d.rule_id,
                "message": truncate(redactor.text(d.message), 200),
                "location": truncate(d.location, 100),
                "matched": redactor.matched(d.location, d.matched),
                "severity": d.severity,
            }
            for d in decision.detections
        ],
    }
    if error:
        event["error"] = truncate(error, 200)
    return event
