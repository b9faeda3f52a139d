"""What may leave the proxy in an audit event: matched data truncated, credentials redacted.

A detection's matched data is attacker input, and sometimes the user's secrets: a rule that
looks at every header sees ``Authorization``, one that looks at every argument sees
``password``. :class:`Redactor` knows a request's sensitive values (credential headers,
cookies, arguments whose names say they are secrets) and blanks them wherever they show
up, then cuts the text to :data:`MATCHED_LIMIT` characters.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Final

from stockade.waf.request import HttpRequest, parse_cookies, parse_json, parse_query

__all__ = ["MATCHED_LIMIT", "REDACTED", "IncidentIds", "Redactor", "truncate"]

MATCHED_LIMIT: Final = 100
REDACTED: Final = "[redacted]"
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
    }
)
SENSITIVE_NAME: Final = re.compile(
    r"pass|pwd|secret|token|api[-_.]?key|auth|session|sess_?id|credential|private|otp|pin\b",
    re.IGNORECASE,
)
"""Argument names whose values are treated as secrets (``password``, ``api_key``…)."""
_MIN_SECRET: Final = 3
"""Shorter values are not searched for (``pin=1`` would blank every ``1``)."""


def truncate(text: str, limit: int = MATCHED_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def sensitive_location(location: str) -> bool:
    """Whether a detection location (``REQUEST_HEADERS:Authorization``, ``ARGS:password``,
    ``REQUEST_COOKIES:sid``) names a value that must never be logged."""
    collection, _, key = location.partition(":")
    collection = collection.upper()
    if collection.endswith("_NAMES"):
        return False
    if collection.startswith("REQUEST_COOKIES"):
        return True
    if collection in ("REQUEST_HEADERS", "RESPONSE_HEADERS"):
        return key.lower() in SENSITIVE_HEADERS
    if collection.startswith("ARGS") or collection in ("FILES", "MULTIPART_PART_HEADERS"):
        return bool(SENSITIVE_NAME.search(key))
    return False


class Redactor:
    """Blanks one request's secrets in text that is about to be logged."""

    __slots__ = ("_secrets",)

    def __init__(self, request: HttpRequest | None) -> None:
        self._secrets: list[str] = []
        if request is not None:
            self._secrets = sorted(_secrets_of(request), key=len, reverse=True)

    def matched(self, location: str, text: str) -> str:
        if sensitive_location(location):
            return REDACTED
        return truncate(self.text(text))

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _secrets_of(request: HttpRequest) -> set[str]:
    found: set[str] = set()
    for name, value in request.headers:
        lower = name.lower()
        if lower in SENSITIVE_HEADERS:
            found.add(value)
            # "Bearer abc": the token alone may be what a rule matched.
            found.update(part for part in value.split() if len(part) >= _MIN_SECRET)
    for _, value in parse_cookies(request.header_values("cookie")):
        found.add(value)
    query = request.uri.partition("?")[2]
    pairs = parse_query(query)
    content_type = ",".join(request.header_values("content-type")).lower()
    if request.body:
        body = request.body.decode("latin-1")
        if "json" in content_type:
            pairs.extend(parse_json(body).args)
        elif "x-www-form-urlencoded" in content_type:
            pairs.extend(parse_query(body))
    for name, value in pairs:
        if SENSITIVE_NAME.search(name):
            found.add(value)
    return {s for s in found if len(s) >= _MIN_SECRET}


class IncidentIds:
    """Unique ids for incidents: a random per-process prefix and a counter.

    The prefix is drawn again in a forked worker, so workers never repeat each other."""

    __slots__ = ("_counter", "_pid", "_prefix")

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count(1)

    def next(self) -> str:
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._prefix = os.urandom(5).hex()
            self._counter = itertools.count(1)
        return f"{self._prefix}{next(self._counter):010x}"
