"""Logging in and out of the web UI, and the UI's stylesheet and script.

The log-in form posts to the same code as ``POST /api/v1/session`` (failed attempts are
audited and throttled alike). The session cookie is the API's; beside it the UI keeps
the session's CSRF token in an HttpOnly cookie of its own, so that every page can put
the token in its forms. The log-in form itself is protected by a double-submit token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from stockade.console.api.access import AUTHENTICATED, PUBLIC, SESSION_COOKIE, requires
from stockade.console.api.deps import Caller, Context, remote_of
from stockade.console.api.routes import session as session_api
from stockade.console.api.schemas import LoginIn
from stockade.console.context import ConsoleContext
from stockade.console.errors import AuthenticationRequired, TooManyRequests
from stockade.console.identity.accounts import authenticate_session
from stockade.console.identity.credentials import new_secret
from stockade.console.web.gate import safe_next
from stockade.console.web.render import CSRF_COOKIE, SECURITY_HEADERS, STATIC, render

__all__ = ["LOGIN_COOKIE", "router"]

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "stockade_login"
LOGIN_FIELD = "login_token"
LOGIN_FORM_LIFETIME = 3600


def _cookie(
    response: Response, context: ConsoleContext, name: str, value: str, *, path: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=context.config.secure_cookies,
    )


def _login_form(
    context: ConsoleContext,
    target: str,
    *,
    status: int = 200,
    error: str = "",
    username: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    token = new_secret()
    response = render(
        "login.html",
        principal=None,
        status=status,
        title="Log in",
        next=target,
        error=error,
        username=username,
        login_field=LOGIN_FIELD,
        login_token=token,
        headers=headers,
    )
    _cookie(response, context, LOGIN_COOKIE, token, path="/login", max_age=LOGIN_FORM_LIFETIME)
    return response


def _signed_in(request: Request, context: ConsoleContext) -> bool:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return False
    with context.store.read() as session:
        return authenticate_session(session, secret, context.clock()) is not None


@router.get("/login")
@requires(PUBLIC)
def login_page(request: Request, context: Context) -> Response:
    target = safe_next(request.query_params.get("next"))
    if _signed_in(request, context):
        return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    return _login_form(context, target)


@router.post("/login")
@requires(PUBLIC)
def login(
    *,
    request: Request,
    context: Context,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    target: Annotated[str, Form(alias="next")] = "/",
    login_token: Annotated[str, Form()] = "",
) -> Response:
    target = safe_next(target)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        return _login_form(
            context,
            target,
            status=403,
            error="The log-in form had expired or did not come from this Console. Try again.",
            username=username[:128],
        )
    try:
        body = LoginIn(username=username, password=password)
    except ValidationError:
        return _login_form(
            context,
            target,
            status=400,
            error="Enter your user name and password.",
            username=username[:128],
        )
    answer = Response()
    try:
        issued = session_api.login(body, answer, context, remote_of(request))
    except AuthenticationRequired:
        return _login_form(
            context,
            target,
            status=401,
            error="Wrong user name or password.",
            username=username[:128],
        )
    except TooManyRequests as exc:
        return _login_form(
            context,
            target,
            status=429,
            error=f"Too many failed log-ins. Wait {exc.retry_after} seconds, then try again.",
            username=username[:128],
            headers={"Retry-After": str(exc.retry_after)},
        )
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    for cookie in answer.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    lifetime = int(context.config.session_lifetime.total_seconds())
    _cookie(response, context, CSRF_COOKIE, str(issued["csrfToken"]), path="/", max_age=lifetime)
    response.delete_cookie(
        LOGIN_COOKIE,
        path="/login",
        secure=context.config.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
@requires(AUTHENTICATED)
def logout(caller: Caller, context: Context) -> Response:
    """End the session (the form carries the CSRF token, as every UI form does)."""
    ended = session_api.logout(caller, context)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    for cookie in ended.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    response.delete_cookie(
        CSRF_COOKIE,
        path="/",
        secure=context.config.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/static/{name}")
@requires(PUBLIC)
def asset(name: str, request: Request) -> Response:
    """The stylesheet, script and icon: public, the log-in page needs them."""
    found = STATIC.get(name)
    if found is None:
        return Response("not found\n", 404, media_type="text/plain", headers=SECURITY_HEADERS)
    cache = (
        "public, max-age=31536000, immutable"
        if request.query_params.get("v") == found.version
        else "no-cache"
    )
    return Response(
        found.body,
        media_type=found.media_type,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )
