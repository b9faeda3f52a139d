"""The records alert delivery passes around, and the one interface every channel kind
implements (:class:`Notifier`). Pure data: no I/O here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from stockade.console.errors import ConsoleError
from stockade.console.events import ConsoleEvent

__all__ = [
    "AlertConfigError",
    "DeliveryError",
    "DeliveryFailed",
    "Digest",
    "Notifier",
]


@dataclass(frozen=True, slots=True)
class Digest:
    """One message: the events one rule gathered for one channel in one interval.

    ``events`` are the first few only; ``count`` is how many there were in all.
    """

    rule: str
    count: int
    severity: str
    """The most severe event's severity."""
    first_at: dt.datetime
    last_at: dt.datetime
    events: tuple[ConsoleEvent, ...]
    kind_counts: Mapping[str, int] = field(default_factory=dict)
    delivery_id: int | None = None
    """The outbox row; receivers can use it to recognise a resent message."""
    test: bool = False

    @property
    def more(self) -> int:
        """Events counted but not listed."""
        return max(0, self.count - len(self.events))


class DeliveryError(Exception):
    """A message could not be delivered. ``message`` never holds a channel's secrets.

    ``retryable`` is False for answers that will not change by trying again (a 404 from a
    revoked webhook, a refused SMTP login); ``retry_after`` is the receiver's own wish in
    seconds (HTTP ``Retry-After``), if it said.
    """

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    """Sends a digest over one channel, or raises :class:`DeliveryError`."""

    def send(self, digest: Digest) -> None: ...


class AlertConfigError(ConsoleError):
    """A channel or rule cannot be stored as given."""

    http_status: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid alert configuration"


class DeliveryFailed(ConsoleError):
    """A test message did not reach the channel."""

    http_status: ClassVar[int] = 502
    title: ClassVar[str] = "Delivery failed"
