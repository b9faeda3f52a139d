"""The worker thread that runs registry scans in a Console process.

It wakes every ``poll`` seconds (and at once when a scan is asked for through this
process's API), and runs :meth:`RegistryScanner.run_due`. Several Console processes on
one database each run one; the leases decide who scans what.
"""

from __future__ import annotations

import logging
import threading

from stockade.console.registries.runner import RegistryScanner

__all__ = ["DEFAULT_POLL_SECONDS", "RegistryScheduler"]

DEFAULT_POLL_SECONDS = 15.0
_log = logging.getLogger("stockade.console.registries")


class RegistryScheduler:
    def __init__(self, scanner: RegistryScanner, *, poll: float = DEFAULT_POLL_SECONDS) -> None:
        self.scanner = scanner
        self.poll = poll
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.scanner.stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, name="stockade-registry-scans", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Poll now (a scan was asked for)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current step (an image being scanned is finished first)."""
        self.scanner.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _log.warning("the registry scan thread did not stop within %gs", timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self.scanner.stopping.is_set():
            self._wake.clear()
            try:
                self.scanner.run_due()
            except Exception:  # the store is down, say: log it and try again next poll
                _log.exception("registry scans: a poll failed")
            self._wake.wait(self.poll)
