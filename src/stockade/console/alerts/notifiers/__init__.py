"""One notifier per channel kind; :func:`notifier_for` picks it from the settings."""

from __future__ import annotations

from stockade.console.alerts.channels import (
    ChannelConfig,
    EmailConfig,
    SlackConfig,
    SyslogConfig,
    WebhookConfig,
)
from stockade.console.alerts.interface import Notifier
from stockade.console.alerts.notifiers.slack import SlackNotifier
from stockade.console.alerts.notifiers.smtp import EmailNotifier
from stockade.console.alerts.notifiers.syslog import SyslogNotifier
from stockade.console.alerts.notifiers.webhook import WebhookNotifier
from stockade.console.clock import Clock

__all__ = [
    "EmailNotifier",
    "SlackNotifier",
    "SyslogNotifier",
    "WebhookNotifier",
    "notifier_for",
]


def notifier_for(config: ChannelConfig, *, timeout: float, clock: Clock) -> Notifier:
    if isinstance(config, WebhookConfig):
        return WebhookNotifier(config, timeout=timeout, clock=clock)
    if isinstance(config, SlackConfig):
        return SlackNotifier(config, timeout=timeout)
    if isinstance(config, SyslogConfig):
        return SyslogNotifier(config, timeout=timeout, clock=clock)
    if isinstance(config, EmailConfig):
        return EmailNotifier(config, timeout=timeout, clock=clock)
    raise TypeError(f"no notifier for {type(config).__name__}")
