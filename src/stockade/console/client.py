"""The client side of publishing: what ``stockade scan --publish URL --token T`` calls.

Only the token's digest is ever stored by the Console; here it travels in the
``Authorization`` header and is never logged or put in an error message.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from stockade.console.errors import PublishError

__all__ = ["publish_check", "publish_scan"]

DEFAULT_TIMEOUT = 60.0


def _post(
    url: str,
    path: str,
    token: str,
    document: dict[str, Any],
    *,
    params: dict[str, str],
    verify: bool | str | ssl.SSLContext,
    timeout: float,
    transport: httpx.BaseTransport | None,
) -> dict[str, Any]:
    endpoint = url.rstrip("/") + path
    if isinstance(verify, str):  # a CA bundle, as a self-signed Console's console.crt
        try:
            verify = ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise PublishError(f"cannot read the CA bundle {verify}: {exc}") from exc
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
            response = client.post(
                endpoint,
                json=document,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise PublishError(
            f"cannot reach the Console at {url}: {exc}",
            "check the URL; for a self-signed certificate pass the CA file as verify",
        ) from exc
    if response.status_code == 201:
        body = response.json()
        if isinstance(body, dict):
            return body
    detail = ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        problem = response.json()
        detail = f": {problem.get('detail') or problem.get('title')}"
    hints = {
        401: "the token is wrong, expired or revoked",
        403: "the token's role may not publish; create one with --role ci",
        413: "the result is larger than the Console accepts",
        422: "the Console does not accept this document; is it 'stockade scan -f json'?",
    }
    raise PublishError(
        f"the Console refused the result (HTTP {response.status_code}){detail}",
        hints.get(response.status_code),
    )


def publish_scan(
    url: str,
    token: str,
    document: dict[str, Any],
    *,
    verify: bool | str | ssl.SSLContext = True,
    host: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Publish a ``stockade scan -f json`` document; returns the Console's answer.

    ``url`` is the Console's base URL (``https://console:8443``); ``verify`` is as httpx
    takes it (a CA bundle path for a self-signed Console). Raises :class:`PublishError`.
    """
    params = {"host": host} if host else {}
    return _post(
        url,
        "/api/v1/scans",
        token,
        document,
        params=params,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )


def publish_check(
    url: str,
    token: str,
    document: dict[str, Any],
    *,
    verify: bool | str | ssl.SSLContext = True,
    host: str | None = None,
    image: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Publish a ``stockade check -f json`` document; returns the Console's answer."""
    params = {k: v for k, v in (("host", host), ("image", image)) if v}
    return _post(
        url,
        "/api/v1/checks",
        token,
        document,
        params=params,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )
