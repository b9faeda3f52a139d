"""The generic webhook: the digest as JSON, optionally signed.

With a secret, ``X-Stockade-Signature: sha256=HEX`` is the HMAC-SHA256, keyed with the
secret, of ``TIMESTAMP.BODY`` where ``TIMESTAMP`` is the ``X-Stockade-Timestamp`` header
(Unix seconds) and ``BODY`` the exact bytes sent. Receivers recompute it, compare in
constant time and refuse old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from stockade.console.alerts.channels import WebhookConfig
from stockade.console.alerts.interface import Digest
from stockade.console.alerts.messages import webhook_payload
from stockade.console.alerts.notifiers.http import post
from stockade.console.clock import Clock

__all__ = ["WebhookNotifier", "sign"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    def __init__(self, config: WebhookConfig, *, timeout: float, clock: Clock) -> None:
        if config.url is None:
            raise ValueError("a webhook channel needs a URL")
        self.url = config.url
        self.secret = config.secret
        self.timeout = timeout
        self.clock = clock

    def send(self, digest: Digest) -> None:
        body = json.dumps(webhook_payload(digest), separators=(",", ":"), ensure_ascii=False)
        data = body.encode()
        timestamp = str(int(self.clock().timestamp()))
        headers = {"X-Stockade-Timestamp": timestamp}
        if digest.delivery_id is not None:
            headers["X-Stockade-Delivery"] = str(digest.delivery_id)
        if self.secret is not None:
            headers["X-Stockade-Signature"] = sign(self.secret, timestamp, data)
        post(self.url, data, headers, self.timeout)
