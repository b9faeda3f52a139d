"""Delivery in a Console process: the event listener that fills the outbox, and the
worker thread that empties it.

The listener writes to the store in the emitting request's thread, after that request's
own transaction committed: once ``emit`` returns, the event is in the outbox and a
restart loses nothing. The worker claims due deliveries (see :mod:`.outbox`), sends up
to ``concurrency`` of them at once, and records each outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from stockade.console.alerts.channels import load_config, redact, secret_values
from stockade.console.alerts.interface import DeliveryError, Digest
from stockade.console.alerts.notifiers import notifier_for
from stockade.console.alerts.outbox import (
    Claimed,
    RetryPolicy,
    claim_due,
    finish,
    prune_deliveries,
    route_event,
)
from stockade.console.alerts.sealing import SecretBox, SecretsUnavailable
from stockade.console.clock import Clock, utc_now
from stockade.console.events import ConsoleEvent
from stockade.console.store.engine import Store

__all__ = ["AlertListener", "AlertSettings", "DeliveryWorker", "send_now"]

_log = logging.getLogger("stockade.console.alerts")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How delivery behaves in one Console process (the defaults suit production; tests
    shrink the times)."""

    poll_seconds: float = 1.0
    """How often an idle worker looks for due deliveries."""
    concurrency: int = 4
    """Deliveries sent at once by one worker."""
    lease_seconds: float = 300.0
    """How long a claimed delivery is this worker's before others may take it over;
    longer than any send can take."""
    send_timeout_seconds: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    samples: int = 5
    """Events listed in full in one message; the rest are counted."""
    keep_days: int = 30
    """Delivered and failed deliveries are forgotten after this many days."""
    prune_every_seconds: float = 3600.0


def send_now(
    kind: str,
    config: dict[str, object],
    channel_secrets: dict[str, str],
    digest: Digest,
    *,
    timeout: float,
    clock: Clock,
) -> None:
    """Send one digest over a stored channel; DeliveryError (with the channel's secrets
    taken out of its message) if it did not go."""
    hidden = secret_values(channel_secrets)
    try:
        notifier = notifier_for(
            load_config(kind, config, channel_secrets), timeout=timeout, clock=clock
        )
        notifier.send(digest)
    except DeliveryError as exc:
        raise DeliveryError(
            redact(exc.message, hidden), retryable=exc.retryable, retry_after=exc.retry_after
        ) from None
    except Exception as exc:
        # A stored setting that no longer validates, or a bug: the message of such an
        # error may quote the settings, secrets included, so only its type is told.
        _log.error("alert channel of kind %s failed unexpectedly: %s", kind, type(exc).__name__)
        raise DeliveryError(
            f"internal error ({type(exc).__name__}); see the Console's log", retryable=False
        ) from None


class AlertListener:
    """The :class:`~stockade.console.events.EventListener` that routes events into the
    outbox."""

    def __init__(self, store: Store, clock: Clock, settings: AlertSettings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    def __call__(self, event: ConsoleEvent) -> None:
        try:
            route_event(self.store, event, self.clock(), samples=self.settings.samples)
        except Exception as exc:
            _log.error("cannot queue alerts for a %s event: %s", event.kind, exc)


class DeliveryWorker:
    """Sends due deliveries from the store until stopped; safe to run in many processes
    over one database."""

    def __init__(
        self,
        store: Store,
        settings: AlertSettings | None = None,
        clock: Clock = utc_now,
        *,
        box: SecretBox,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.box = box
        self.settings = settings or AlertSettings()
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stockade-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the sends in flight (each bounded by the send timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> int:
        """Claim what is due now and send it; how many deliveries were attempted."""
        settings = self.settings
        claimed = claim_due(
            self.store,
            owner=self.owner,
            now=self.clock(),
            lease=dt.timedelta(seconds=settings.lease_seconds),
            limit=settings.concurrency,
            max_attempts=settings.retry.max_attempts,
        )
        if len(claimed) == 1:
            self._deliver(claimed[0])
        elif claimed:
            with ThreadPoolExecutor(len(claimed), thread_name_prefix="stockade-alert") as pool:
                list(pool.map(self._deliver, claimed))
        return len(claimed)

    def prune(self) -> int:
        before = self.clock() - dt.timedelta(days=self.settings.keep_days)
        with self.store.write() as session:
            return prune_deliveries(session, before)

    def _deliver(self, claimed: Claimed) -> None:
        error: DeliveryError | None = None
        try:
            send_now(
                claimed.kind,
                claimed.config,
                self._open(claimed),
                claimed.digest,
                timeout=self.settings.send_timeout_seconds,
                clock=self.clock,
            )
        except DeliveryError as exc:
            error = exc
        status = finish(
            self.store,
            claimed,
            owner=self.owner,
            now=self.clock(),
            error=error,
            policy=self.settings.retry,
        )
        where = f"delivery {claimed.delivery_id} to channel {claimed.channel_name!r}"
        if error is None:
            _log.info("%s: delivered (%d events)", where, claimed.digest.count)
        elif status == "failed":
            _log.warning(
                "%s failed for good after %d attempts: %s", where, claimed.attempt, error.message
            )
        else:
            _log.info("%s: attempt %d failed: %s", where, claimed.attempt, error.message)

    def _open(self, claimed: Claimed) -> dict[str, str]:
        try:
            return self.box.open_all(claimed.secrets)
        except SecretsUnavailable as exc:
            raise DeliveryError(exc.diagnostics(), retryable=False) from None

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = 0
            try:
                sent = self.run_once()
                if time.monotonic() - self._last_prune > self.settings.prune_every_seconds:
                    self._last_prune = time.monotonic()
                    self.prune()
            except Exception as exc:
                # The store is away, most likely: wait and try again.
                _log.warning("alert delivery worker: %s: %s", type(exc).__name__, exc)
            if not sent:
                self._stop.wait(self.settings.poll_seconds)
