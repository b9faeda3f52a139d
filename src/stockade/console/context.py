"""What every request handler shares in one process: settings, the store, the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.console.clock import Clock, utc_now
from stockade.console.config import ConsoleConfig
from stockade.console.events import ConsoleEvent, EventListener, PublishListener
from stockade.console.metrics import RequestCounters
from stockade.console.store.engine import Store

__all__ = ["ConsoleContext"]

_log = logging.getLogger("stockade.console")


@dataclass(slots=True)
class ConsoleContext:
    config: ConsoleConfig
    store: Store
    clock: Clock = utc_now
    listeners: list[PublishListener] = field(default_factory=list)
    """Told of each stored result after its transaction commits (policies, …)."""
    event_listeners: list[EventListener] = field(default_factory=list)
    """Told of each :class:`ConsoleEvent` (alert channels)."""
    counters: RequestCounters = field(default_factory=RequestCounters)
    on_start: list[Callable[[], None]] = field(default_factory=list)
    """Run when the app starts serving (background workers start here)."""
    on_close: list[Callable[[], None]] = field(default_factory=list)
    """Run, last first, when the app stops."""

    def emit(self, event: ConsoleEvent) -> None:
        """Tell every event listener; a listener's bug is logged, never raised."""
        for listener in self.event_listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("event listener failed on %s", event.kind)
