"""Helpers for the Defender's sensor tests: a thread reading a file sensor's events, and
the eBPF recorders, skipped with the reason where they cannot be loaded."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from stockade.runtime.events import FileEvent
from stockade.runtime.sensors.bpf import BpfUnavailable
from stockade.runtime.sensors.files import FileSensor

T = TypeVar("T")


def loaded(recorder: Callable[[], T]) -> T:
    """``recorder()`` (an eBPF recorder); the test is skipped where eBPF cannot be had."""
    if os.geteuid() != 0:
        pytest.skip("eBPF needs root")
    try:
        return recorder()
    except BpfUnavailable as exc:
        pytest.skip(f"no eBPF here: {exc}")


class Watcher:
    """Reads a sensor's events in a thread, keeping them; ``judge`` answers each."""

    def __init__(
        self, sensor: FileSensor, judge: Callable[[FileEvent], bool] | None = None
    ) -> None:
        self.sensor = sensor
        self.judge = judge
        self.events: list[FileEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.events.extend(self.sensor.read(0.05, self.judge))

    def wait_for(self, predicate: Callable[[FileEvent], bool], timeout: float = 10) -> FileEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        seen = [(e.path, e.raw_path, e.flags, e.opened_for_exec) for e in self.events][-20:]
        raise AssertionError(f"no such file event; saw {seen}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sensor.close()
