"""``/metrics`` in the Prometheus text format (0.0.4), without a client library.

Request counters belong to this process (each replica is scraped on its own); the
inventory gauges come from the shared database, so every replica reports the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "RequestCounters", "RequestMetrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self.published = 0

    def count(self, method: str, status: int) -> None:
        with self._lock:
            self._requests[(method, status)] += 1

    def count_published(self) -> None:
        with self._lock:
            self.published += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._requests)


class RequestMetrics:
    """ASGI middleware counting responses by method and status."""

    def __init__(self, app: ASGIApp, counters: RequestCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counters.count(scope["method"], int(message["status"]))
            await send(message)

        await self.app(scope, receive, counting_send)


_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def render(counts: Mapping[str, Any], counters: RequestCounters) -> str:
    lines = [
        "# HELP stockade_console_images Images known to the Console.",
        "# TYPE stockade_console_images gauge",
        f"stockade_console_images {counts['images']}",
        "# HELP stockade_console_hosts Hosts known to the Console.",
        "# TYPE stockade_console_hosts gauge",
        f"stockade_console_hosts {counts['hosts']}",
        "# HELP stockade_console_scans Stored scan and check results.",
        "# TYPE stockade_console_scans gauge",
        f"stockade_console_scans {counts['scans']}",
        "# HELP stockade_console_images_with_critical Images whose latest scan has a"
        " critical finding.",
        "# TYPE stockade_console_images_with_critical gauge",
        f"stockade_console_images_with_critical {counts['imagesWithCritical']}",
        "# HELP stockade_console_latest_findings Active findings of images' latest scans.",
        "# TYPE stockade_console_latest_findings gauge",
    ]
    lines += [
        f'stockade_console_latest_findings{{severity="{severity}"}} {n}'
        for severity, n in counts["latestFindings"].items()
    ]
    lines += [
        "# HELP stockade_console_published_total Results this process stored.",
        "# TYPE stockade_console_published_total counter",
        f"stockade_console_published_total {counters.published}",
        "# HELP stockade_console_http_responses_total HTTP responses this process sent.",
        "# TYPE stockade_console_http_responses_total counter",
    ]
    for (method, status), n in sorted(counters.snapshot().items()):
        label = method if method in _KNOWN_METHODS else "other"
        lines.append(
            f'stockade_console_http_responses_total{{method="{label}",status="{status}"}} {n}'
        )
    return "\n".join(lines) + "\n"
