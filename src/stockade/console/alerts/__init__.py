"""Alerts: channels (webhook, Slack, syslog, e-mail), rules that route Console events to
them, and durable delivery with aggregation and retries.

``install(context)`` hooks alerts into a Console process: an event listener fills the
outbox in the store, and a worker thread (started and stopped with the app) sends it.
The REST API is under ``/api/v1/alerts``.
"""

from __future__ import annotations

from fastapi import APIRouter

from stockade.console.alerts.api import router
from stockade.console.alerts.interface import (
    AlertConfigError,
    DeliveryError,
    DeliveryFailed,
    Digest,
    Notifier,
)
from stockade.console.alerts.outbox import RetryPolicy
from stockade.console.alerts.rules import RuleSpec, matches
from stockade.console.alerts.sealing import SecretBox, SecretsUnavailable, box_for
from stockade.console.alerts.worker import AlertListener, AlertSettings, DeliveryWorker
from stockade.console.context import ConsoleContext

__all__ = [
    "ROUTERS",
    "AlertConfigError",
    "AlertListener",
    "AlertSettings",
    "DeliveryError",
    "DeliveryFailed",
    "DeliveryWorker",
    "Digest",
    "Notifier",
    "RetryPolicy",
    "RuleSpec",
    "SecretBox",
    "SecretsUnavailable",
    "install",
    "matches",
]

ROUTERS: tuple[APIRouter, ...] = (router,)


def install(context: ConsoleContext, settings: AlertSettings | None = None) -> None:
    """Hook alerts into a Console process, once: the listener that routes events into
    the outbox, and a delivery worker started and stopped with the app. The first call
    for a context decides the settings (a test or an embedding app calls it before
    :func:`~stockade.console.api.app.create_app` does)."""
    if any(isinstance(listener, AlertListener) for listener in context.event_listeners):
        return
    settings = settings or AlertSettings()
    context.event_listeners.append(AlertListener(context.store, context.clock, settings))
    box = box_for(context.config.data_dir)
    worker = DeliveryWorker(context.store, settings, context.clock, box=box)
    context.on_start.append(worker.start)
    context.on_close.append(worker.stop)
