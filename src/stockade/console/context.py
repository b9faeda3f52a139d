"""What every request handler shares in one process: settings, the store, the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from stockade.console.clock import Clock, utc_now
from stockade.console.config import ConsoleConfig
from stockade.console.events import ConsoleEvent, EventListener, PublishListener, ResultPublished
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
    """Told of each result inside the transaction that stores it (policies, …)."""
    event_listeners: list[EventListener] = field(default_factory=list)
    """Told of each :class:`ConsoleEvent` (alert channels)."""
    counters: RequestCounters = field(default_factory=RequestCounters)
    on_start: list[Callable[[], None]] = field(default_factory=list)
    """Run when the app starts serving (background workers start here)."""
    on_close: list[Callable[[], None]] = field(default_factory=list)
    """Run, last first, when the app stops."""

    def published(self, session: Session, event: ResultPublished) -> list[ConsoleEvent]:
        """Tell every publish listener of a result being stored in ``session``'s
        transaction, each in a savepoint: a listener that fails is logged and its writes
        rolled back, the result's are kept. Returns the events to emit after commit."""
        self.counters.count_published()
        events: list[ConsoleEvent] = []
        for listener in self.listeners:
            try:
                with session.begin_nested():
                    events.extend(listener(session, event))
            except Exception:  # a listener's bug must not fail a stored publish
                _log.exception("publish listener failed on scan %d", event.scan_id)
        return events

    def emit(self, event: ConsoleEvent) -> None:
        """Tell every event listener; a listener's bug is logged, never raised."""
        for listener in self.event_listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("event listener failed on %s", event.kind)
