"""Rendering pages: the Jinja2 environment, the headers every page carries, and formats.

Templates are auto-escaped (every value, whatever the template), so a hostile image
name or finding title is shown as text, never run. Pages load no inline script or
style: the Content-Security-Policy allows the Console's own stylesheet and script only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse

from stockade.console.identity.accounts import Principal, csrf_matches
from stockade.console.roles import Permission, allows

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SECURITY_HEADERS",
    "STATIC",
    "csrf_token_of",
    "render",
    "url",
]

CSRF_COOKIE: Final = "stockade_csrf"
"""The session's CSRF token, for the server to put in the forms it renders (HttpOnly)."""
CSRF_FIELD: Final = "csrf_token"
"""The form field the access middleware reads the token from."""

CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "script-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""On every HTML answer: pages show what only signed-in people may see, so no caching."""


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    version: str
    """A digest of the body, appended to its URL so a changed file is fetched anew."""


_MEDIA = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _load_static() -> dict[str, Asset]:
    assets = {}
    for entry in (resources.files("stockade.console.web") / "static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _MEDIA:
            body = entry.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:12]
            assets[entry.name] = Asset(body, _MEDIA[suffix], version)
    return assets


STATIC: Final = _load_static()


def static(name: str) -> str:
    return f"/static/{name}?v={STATIC[name].version}"


def url(path: str, **params: Any) -> str:
    """``path`` with the parameters that have a value as its query string."""
    query = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(query)}" if query else path


def segment(text: str) -> str:
    """One path segment (an image digest, an advisory id) quoted for a link."""
    return quote(text, safe=":@")


def when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat()


def number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def short_digest(digest: str | None) -> str:
    if not digest:
        return "—"
    algorithm, _, hexa = digest.partition(":")
    return f"{algorithm}:{hexa[:12]}" if hexa else digest[:19]


def breakable(text: str | None) -> Markup:
    """Escaped text that may wrap after each ``/`` (long image references in tables)."""
    return Markup("/<wbr>").join(escape(part) for part in (text or "").split("/"))


def web_link(address: str | None) -> str | None:
    """An address from published data, if it is safe to link (http or https only)."""
    if not address:
        return None
    try:
        scheme = urlsplit(address).scheme.lower()
    except ValueError:
        return None
    return address if scheme in ("http", "https") else None


def compact_json(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class NavEntry:
    key: str
    label: str
    href: str
    permission: Permission
    group: str = "explore"


NAVIGATION: Final = (
    NavEntry("dashboard", "Dashboard", "/", Permission.READ),
    NavEntry("images", "Images", "/images", Permission.READ),
    NavEntry("vulnerabilities", "Vulnerabilities", "/vulnerabilities", Permission.READ),
    NavEntry("compliance", "Compliance", "/compliance", Permission.READ),
    NavEntry("hosts", "Hosts", "/hosts", Permission.READ),
    NavEntry("incidents", "Incidents", "/incidents", Permission.READ),
    NavEntry("policies", "Policies", "/policies", Permission.READ, "govern"),
    NavEntry("alerts", "Alerts", "/alerts", Permission.READ, "govern"),
    NavEntry("registries", "Registries", "/registries", Permission.READ, "sources"),
    NavEntry("defenders", "Defenders", "/defenders", Permission.READ, "sources"),
    NavEntry("users", "Users", "/users", Permission.ADMINISTER, "administer"),
    NavEntry("tokens", "Tokens", "/tokens", Permission.ADMINISTER, "administer"),
)
NAV_GROUPS: Final = {
    "explore": "",
    "govern": "Govern",
    "sources": "Sources",
    "administer": "Administer",
}
"""Headings of the navigation's groups, in order (the first has none)."""


def navigation(principal: Principal | None) -> list[NavEntry]:
    if principal is None:
        return []
    return [entry for entry in NAVIGATION if allows(principal.role, entry.permission)]


ENV: Final = Environment(
    loader=PackageLoader("stockade.console.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(static=static, url=url, segment=segment)
ENV.filters.update(
    when=when,
    iso=iso,
    number=number,
    short_digest=short_digest,
    breakable=breakable,
    web_link=web_link,
    compact_json=compact_json,
)


def csrf_token_of(connection: HTTPConnection, principal: Principal | None) -> str:
    """The session's CSRF token from its cookie, if it is this session's (else empty:
    forms then fail the check, and the person logs in again)."""
    token = connection.cookies.get(CSRF_COOKIE, "")
    if principal is None or not csrf_matches(principal, token):
        return ""
    return token


def render(
    template: str,
    *,
    principal: Principal | None,
    csrf: str = "",
    active: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    def may(permission: str) -> bool:
        """Whether the viewer's role has a permission (forms are shown only to roles
        that may send them; the access middleware decides either way)."""
        return principal is not None and allows(principal.role, Permission(permission))

    body = ENV.get_template(template).render(
        me=principal,
        may=may,
        nav=navigation(principal),
        nav_groups=NAV_GROUPS,
        active=active,
        csrf=csrf,
        csrf_field=CSRF_FIELD,
        **values,
    )
    return HTMLResponse(body, status, headers={**SECURITY_HEADERS, **(headers or {})})
