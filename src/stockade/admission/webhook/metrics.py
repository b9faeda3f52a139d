"""The webhook's Prometheus metrics, kept and rendered by hand (text format 0.0.4).

A handful of counters and one histogram do not justify a dependency. Every update
takes one lock, so the metrics may be updated from the event loop and from threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

__all__ = ["LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PREFIX: Final = "stockade_admission"


class Metrics:
    """Requests by decision, latency, timeouts by stage, errors by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._timeouts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._bucket_counts = [0] * len(LATENCY_BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        """name → (help, read): values read when the metrics are rendered."""

    def request(self, decision: str, seconds: float) -> None:
        with self._lock:
            self._requests[decision] = self._requests.get(decision, 0) + 1
            self._latency_sum += seconds
            self._latency_count += 1
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self._bucket_counts[index] += 1

    def timeout(self, stage: str) -> None:
        with self._lock:
            self._timeouts[stage] = self._timeouts.get(stage, 0) + 1

    def error(self, kind: str) -> None:
        with self._lock:
            self._errors[kind] = self._errors.get(kind, 0) + 1

    def requests(self, decision: str) -> int:
        with self._lock:
            return self._requests.get(decision, 0)

    def render(self) -> str:
        with self._lock:
            lines = [
                f"# HELP {PREFIX}_requests_total Admission reviews answered, by decision.",
                f"# TYPE {PREFIX}_requests_total counter",
            ]
            lines += _labelled(f"{PREFIX}_requests_total", "decision", self._requests)
            name = f"{PREFIX}_request_duration_seconds"
            lines += [
                f"# HELP {name} Time from request to answer.",
                f"# TYPE {name} histogram",
            ]
            lines += [
                f'{name}_bucket{{le="{bound}"}} {count}'
                for bound, count in zip(LATENCY_BUCKETS, self._bucket_counts, strict=True)
            ]
            lines += [
                f'{name}_bucket{{le="+Inf"}} {self._latency_count}',
                f"{name}_sum {self._latency_sum:.6f}",
                f"{name}_count {self._latency_count}",
                f"# HELP {PREFIX}_timeouts_total Evaluations that ran out of time, by stage.",
                f"# TYPE {PREFIX}_timeouts_total counter",
            ]
            lines += _labelled(f"{PREFIX}_timeouts_total", "stage", self._timeouts)
            lines += [
                f"# HELP {PREFIX}_errors_total Requests refused or failed, by kind.",
                f"# TYPE {PREFIX}_errors_total counter",
            ]
            lines += _labelled(f"{PREFIX}_errors_total", "kind", self._errors)
            gauges = dict(self.gauges)
        for gauge, (help_text, read) in sorted(gauges.items()):
            lines += [
                f"# HELP {PREFIX}_{gauge} {help_text}",
                f"# TYPE {PREFIX}_{gauge} gauge",
                f"{PREFIX}_{gauge} {read():g}",
            ]
        return "\n".join(lines) + "\n"


def _labelled(name: str, label: str, values: dict[str, int]) -> list[str]:
    return [f'{name}{{{label}="{key}"}} {values[key]}' for key in sorted(values)]
