"""Slack incoming webhooks: ``text`` for notifications and ``blocks`` for the message."""

from __future__ import annotations

import json

from stockade.console.alerts.channels import SlackConfig
from stockade.console.alerts.interface import Digest
from stockade.console.alerts.messages import slack_payload
from stockade.console.alerts.notifiers.http import post

__all__ = ["SlackNotifier"]


class SlackNotifier:
    def __init__(self, config: SlackConfig, *, timeout: float) -> None:
        if config.url is None:
            raise ValueError("a Slack channel needs a URL")
        self.url = config.url
        self.timeout = timeout

    def send(self, digest: Digest) -> None:
        body = json.dumps(slack_payload(digest), separators=(",", ":"), ensure_ascii=False)
        post(self.url, body.encode(), {}, self.timeout)
