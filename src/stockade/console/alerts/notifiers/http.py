"""POSTing a JSON body for the webhook and Slack channels: timeouts, no redirects, and
what each answer means for a retry. The URL holds a token, so it is kept out of logs:
httpx logs each request's URL at INFO, and a filter on its logger hides ours."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import threading
from collections.abc import Iterator, Mapping

import httpx

from stockade import __version__
from stockade.console.alerts.interface import DeliveryError

__all__ = ["post"]

USER_AGENT = f"stockade/{__version__}"
_RETRYABLE = frozenset({408, 425, 429})

_hidden: dict[str, int] = {}
_hidden_lock = threading.Lock()


class _HideAlertUrls(logging.Filter):
    """Masks the URLs of alert requests in flight in httpx's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _hidden and isinstance(record.args, tuple):
            record.args = tuple(
                "[alert channel URL]" if str(arg) in _hidden else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_HideAlertUrls())


@contextlib.contextmanager
def _hiding(url: str) -> Iterator[None]:
    key = str(httpx.URL(url))
    with _hidden_lock:
        _hidden[key] = _hidden.get(key, 0) + 1
    try:
        yield
    finally:
        with _hidden_lock:
            _hidden[key] -= 1
            if not _hidden[key]:
                del _hidden[key]


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    """One client per process: its connection pool keeps connections to busy receivers
    (Slack) open, and its TLS context is built once. httpx clients are thread-safe."""
    global _client  # noqa: PLW0603  # one pool for the process, made on first use
    with _client_lock:
        if _client is None:
            _client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
        return _client


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text[:200].split())
    return f": {text}" if text else ""


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    """POST ``body``; a 2xx answer is delivery, anything else raises DeliveryError."""
    all_headers = {"Content-Type": "application/json", **headers}
    try:
        with _hiding(url):
            response = _shared_client().post(
                url, content=body, headers=all_headers, timeout=timeout
            )
    except httpx.InvalidURL:
        raise DeliveryError("the channel's URL is not valid", retryable=False) from None
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"cannot reach the receiver: {exc or type(exc).__name__}") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"HTTP {status} {response.reason_phrase}".strip() + _snippet(response)
    if 300 <= status < 400:
        raise DeliveryError(f"{what} (redirects are not followed)", retryable=False)
    if status >= 500 or status in _RETRYABLE:
        raise DeliveryError(what, retry_after=_retry_after(response.headers.get("retry-after")))
    raise DeliveryError(what, retryable=False)
