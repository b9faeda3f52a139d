"""What every request handler shares in one process: settings, the store, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.console.clock import Clock, utc_now
from stockade.console.config import ConsoleConfig
from stockade.console.events import PublishListener
from stockade.console.metrics import RequestCounters
from stockade.console.store.engine import Store

__all__ = ["ConsoleContext"]


@dataclass(slots=True)
class ConsoleContext:
    config: ConsoleConfig
    store: Store
    clock: Clock = utc_now
    listeners: list[PublishListener] = field(default_factory=list)
    """Told of each stored result after its transaction commits (alert channels, later)."""
    counters: RequestCounters = field(default_factory=RequestCounters)
    on_close: list[Callable[[], None]] = field(default_factory=list)
