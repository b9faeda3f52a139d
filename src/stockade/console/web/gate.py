"""How the access middleware (``api/access.py``) answers browsers on UI pages.

It decides; this module only says it in a browser's terms: a request without a session
is sent to the log-in page (and back after), a refusal is a page, and an HTML form's
CSRF token is read from the form's body, which is then handed on unchanged.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import Message, Receive, Scope

from stockade.console.identity.accounts import Principal
from stockade.console.web.render import CSRF_FIELD, SECURITY_HEADERS, csrf_token_of, render

__all__ = [
    "FORM_FIELDS",
    "FORM_LIMIT",
    "forbidden_page",
    "form_csrf_token",
    "login_redirect",
    "safe_next",
]

FORM_LIMIT = 512 * 1024
"""The largest UI form: a policy rule with its exceptions (up to 1,000 of them), or an
alert channel with PEM certificates and a key; a bigger body is not one of them."""
FORM_FIELDS = 5000
"""Fields of the largest UI form (three per exception of a rule, and a few more)."""
FORM_TYPE = "application/x-www-form-urlencoded"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this Console, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\\") or len(target) > 2048:
        return "/"
    return target


def login_redirect(scope: Scope) -> Response:
    target = "/"
    if scope["method"] in ("GET", "HEAD"):
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
    target = safe_next(target)
    location = "/login" if target == "/" else "/login?" + urlencode({"next": target})
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


async def form_csrf_token(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The form's CSRF field, and a ``receive`` that hands the body on as it came.

    Only URL-encoded forms of at most :data:`FORM_LIMIT` bytes carry one.
    """
    content_type = ""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.decode("latin-1").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return None, receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_LIMIT:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    token = None
    try:
        for name, value in parse_qsl(body.decode("latin-1"), max_num_fields=FORM_FIELDS):
            if name == CSRF_FIELD:
                token = value
    except ValueError:
        return None, receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return token, replay


def forbidden_page(scope: Scope, principal: Principal, detail: str) -> Response:
    connection = HTTPConnection(scope)
    return render(
        "error.html",
        principal=principal,
        csrf=csrf_token_of(connection, principal),
        status=403,
        title="Not allowed",
        message=detail[:1].upper() + detail[1:] + ".",
        hint="Ask an administrator for a role that allows it, or reload the page and try "
        "again if your session was renewed.",
    )
