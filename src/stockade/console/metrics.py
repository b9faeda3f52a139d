"""``/metrics`` in the Prometheus text format (0.0.4), without a client library.

Request counters belong to one server: a replica (its own ``stockade console serve``) is
scraped on its own, and the worker processes of one server (``--workers``) add theirs up.
Each worker writes its counts to a file of the server's own directory about once a second
(and when it stops); whichever worker answers ``/metrics`` adds its live counts to the
others' files, so the totals never go down while the server runs. The inventory gauges
come from the shared database, so every replica reports the same.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "CounterSharing", "RequestCounters", "RequestMetrics", "render"]

_log = logging.getLogger("stockade.console")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self.published = 0
        self.shared: Path | None = None
        """The server's directory of worker counts, when it has several workers."""

    def count(self, method: str, status: int) -> None:
        with self._lock:
            self._requests[(method, status)] += 1

    def count_published(self) -> None:
        with self._lock:
            self.published += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._requests)

    def totals(self) -> tuple[int, dict[tuple[str, int], int]]:
        """Results stored and responses sent by the whole server: this process's live
        counts plus the other workers' last written ones."""
        with self._lock:
            published, requests = self.published, Counter(self._requests)
        if self.shared is not None:
            own = f"{os.getpid()}.json"
            for path in sorted(self.shared.glob("*.json")):
                if path.name == own:
                    continue
                try:
                    other = json.loads(path.read_text())
                    published += int(other["published"])
                    for method, status, n in other["requests"]:
                        requests[(str(method), int(status))] += int(n)
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a worker's file being replaced: counted next time
        return published, dict(requests)

    def write_shared(self) -> None:
        """Write this process's counts to the server's directory (atomically)."""
        if self.shared is None:
            return
        with self._lock:
            document = {
                "published": self.published,
                "requests": [[m, s, n] for (m, s), n in self._requests.items()],
            }
        fd, staging = tempfile.mkstemp(prefix=".counts-", dir=self.shared)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(document, out)
            os.replace(staging, self.shared / f"{os.getpid()}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(staging)
            raise


class CounterSharing:
    """A worker's thread that writes its counts every ``interval`` seconds, and once
    more when it stops."""

    def __init__(self, counters: RequestCounters, directory: Path, interval: float = 1.0) -> None:
        self.counters = counters
        self.interval = interval
        counters.shared = directory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metrics-share", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._write()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._write()

    def _write(self) -> None:
        try:
            self.counters.write_shared()
        except OSError as exc:  # the next round tries again
            _log.warning("cannot write this worker's metrics: %s", exc)


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
    published, requests = counters.totals()
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
        "# HELP stockade_console_published_total Results this server stored.",
        "# TYPE stockade_console_published_total counter",
        f"stockade_console_published_total {published}",
        "# HELP stockade_console_http_responses_total HTTP responses this server sent.",
        "# TYPE stockade_console_http_responses_total counter",
    ]
    by_label: Counter[tuple[str, int]] = Counter()
    for (method, status), n in requests.items():
        by_label[(method if method in _KNOWN_METHODS else "other", status)] += n
    for (label, status), n in sorted(by_label.items()):
        lines.append(
            f'stockade_console_http_responses_total{{method="{label}",status="{status}"}} {n}'
        )
    return "\n".join(lines) + "\n"
