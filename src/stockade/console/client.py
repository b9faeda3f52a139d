"""The client side of the Console API: what ``stockade scan --publish URL`` and
``--policy-from URL`` call.

Only the token's digest is ever stored by the Console; here it travels in the
``Authorization`` header and is never logged or put in an error message. Every failure
is a :class:`PublishError` saying what went wrong and what to try.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from stockade.console.errors import PublishError

__all__ = [
    "fetch_effective_policy",
    "fetch_fix_dates",
    "publish_check",
    "publish_scan",
    "set_artifact_context",
]

DEFAULT_TIMEOUT = 60.0

Verify = bool | str | ssl.SSLContext

_PUBLISH_HINTS = {
    401: "the token is wrong, expired or revoked",
    403: "the token's role may not publish; create one with --role ci",
    413: "the result is larger than the Console accepts",
    422: "the Console does not accept this document; is it 'stockade scan -f json'?",
}
_POLICY_HINTS = {
    401: "the token is wrong, expired or revoked",
    403: "the token's role may not read policies (ci, operator, auditor and administrator may)",
}


def _verify(verify: Verify) -> bool | ssl.SSLContext:
    if not isinstance(verify, str):
        return verify
    # A CA bundle, as a self-signed Console's console.crt.
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise PublishError(f"cannot read the CA bundle {verify}: {exc}") from exc


def _problem_detail(response: httpx.Response) -> str:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return ""
    try:
        problem = response.json()
    except ValueError:
        return ""
    if not isinstance(problem, dict):
        return ""
    return f": {problem.get('detail') or problem.get('title')}"


def _call(
    method: str,
    url: str,
    path: str,
    token: str,
    *,
    expect: int,
    what: str,
    hints: Mapping[int, str],
    document: Any = None,
    params: Mapping[str, str | Sequence[str]] | None = None,
    verify: Verify,
    timeout: float,
    transport: httpx.BaseTransport | None,
) -> dict[str, Any]:
    endpoint = url.rstrip("/") + path
    context = _verify(verify)
    try:
        with httpx.Client(verify=context, timeout=timeout, transport=transport) as client:
            response = client.request(
                method,
                endpoint,
                json=document,
                params=params or {},
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise PublishError(
            f"cannot reach the Console at {url}: {exc}",
            "check the URL; for a Console with a self-signed certificate pass its CA file "
            "(--console-ca FILE on the command line, verify= from Python)",
        ) from exc
    except ValueError as exc:  # httpx refuses a malformed URL with ValueError subclasses
        raise PublishError(f"not a Console URL: {url!r} ({exc})") from exc
    if response.status_code == expect:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        raise PublishError(f"the Console at {url} answered {what} with something not JSON")
    raise PublishError(
        f"the Console refused {what} (HTTP {response.status_code}){_problem_detail(response)}",
        hints.get(response.status_code),
    )


def publish_scan(
    url: str,
    token: str,
    document: dict[str, Any],
    *,
    verify: Verify = True,
    host: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Publish a ``stockade scan -f json`` document; returns the Console's answer.

    ``url`` is the Console's base URL (``https://console:8443``); ``verify`` is as httpx
    takes it (a CA bundle path for a self-signed Console). Raises :class:`PublishError`.
    """
    params = {"host": host} if host else {}
    return _call(
        "POST",
        url,
        "/api/v1/scans",
        token,
        expect=201,
        what="the result",
        hints=_PUBLISH_HINTS,
        document=document,
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
    verify: Verify = True,
    host: str | None = None,
    image: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Publish a ``stockade check -f json`` document; returns the Console's answer."""
    params = {k: v for k, v in (("host", host), ("image", image)) if v}
    return _call(
        "POST",
        url,
        "/api/v1/checks",
        token,
        expect=201,
        what="the result",
        hints=_PUBLISH_HINTS,
        document=document,
        params=params,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )


def set_artifact_context(
    url: str,
    token: str,
    *,
    image: str | None = None,
    host: str | None = None,
    artifact: str | None = None,
    target: str | None = None,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    verify: Verify = True,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Tell the Console the namespace and labels of an artifact before publishing its
    result, so the result is evaluated with the collections they select. Name the
    artifact as the Console keys it: exactly one of ``image`` (digest), ``host``,
    ``artifact`` (a scan without a digest) or ``target`` (a check without either)."""
    body: dict[str, Any] = {
        k: v
        for k, v in (("image", image), ("host", host), ("artifact", artifact), ("target", target))
        if v is not None
    }
    body["namespace"] = namespace
    body["labels"] = dict(labels or {})
    return _call(
        "PUT",
        url,
        "/api/v1/policies/context",
        token,
        expect=200,
        what="the artifact's namespace and labels",
        hints=_PUBLISH_HINTS,
        document=body,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )


def fetch_effective_policy(
    url: str,
    token: str,
    *,
    images: Sequence[str] = (),
    artifact: str | None = None,
    host: str | None = None,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    verify: Verify = True,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """The rule of each policy that applies to the artifact described
    (``GET /api/v1/policies/effective``): ``{"subject", "vulnerabilities": {"rule",
    "collection"}, "compliance": {…}}``."""
    params: dict[str, str | Sequence[str]] = {}
    if images:
        params["image"] = list(dict.fromkeys(images))[:64]
    for key, value in (("artifact", artifact), ("host", host), ("namespace", namespace)):
        if value:
            params[key] = value
    if labels:
        params["label"] = [f"{k}={v}" for k, v in labels.items()]
    return _call(
        "GET",
        url,
        "/api/v1/policies/effective",
        token,
        expect=200,
        what="the policy request",
        hints=_POLICY_HINTS,
        params=params,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )


def fetch_fix_dates(
    url: str,
    token: str,
    fixes: Iterable[tuple[str, str, str]],
    *,
    verify: Verify = True,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> dict[tuple[str, str, str], dt.datetime]:
    """When the Console first saw a fix for each (advisory id, package type, package
    name): what a rule's grace period counts from. Fixes it never saw are left out."""
    body = {"fixes": [{"id": i, "type": t, "package": p} for i, t, p in dict.fromkeys(fixes)]}
    answer = _call(
        "POST",
        url,
        "/api/v1/policies/fix-dates",
        token,
        expect=200,
        what="the fix dates request",
        hints=_POLICY_HINTS,
        document=body,
        verify=verify,
        timeout=timeout,
        transport=transport,
    )
    dates: dict[tuple[str, str, str], dt.datetime] = {}
    try:
        for entry in answer["fixes"]:
            when = dt.datetime.fromisoformat(entry["firstSeen"])
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            dates[(entry["id"], entry["type"], entry["package"])] = when
    except (KeyError, TypeError, ValueError) as exc:
        raise PublishError(f"the Console at {url} answered with malformed fix dates") from exc
    return dates
