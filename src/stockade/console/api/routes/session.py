"""Logging in and out of the web UI, and who the caller is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stockade.console.api.access import AUTHENTICATED, PUBLIC, SESSION_COOKIE, requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.api.schemas import LoginIn, MeOut, SessionOut
from stockade.console.errors import AuthenticationRequired, TooManyRequests
from stockade.console.identity import accounts, audit, throttle
from stockade.console.roles import ROLE_PERMISSIONS

router = APIRouter(prefix="/api/v1", tags=["session"])


@router.post("/session", response_model=SessionOut, responses={401: {}, 429: {}})
@requires(PUBLIC)
def login(body: LoginIn, response: Response, context: Context, remote: Remote) -> dict[str, Any]:
    """Log in with a user name and password: sets the session cookie, returns the CSRF token.

    Open without credentials, by nature. Failed attempts are written to the audit log;
    repeated failures for a user name or from an address are answered 429 for a while
    (``identity/throttle.py``).
    """
    now = context.clock()
    with context.store.read() as session:
        wait = throttle.locked_for(session, body.username, remote, now)
    if wait is not None:
        raise TooManyRequests(
            "too many failed log-ins for this user name or from this address",
            int(wait.total_seconds()) + 1,
            "wait, then try again",
        )
    with context.store.write() as session:
        user = accounts.authenticate_password(session, body.username, body.password)
        if user is None:
            throttle.record_failure(session, body.username, remote, now)
            audit.record(
                session,
                actor=f"anonymous:{body.username[:64]}",
                action="session.login-failed",
                target=f"user:{body.username[:64]}",
                now=now,
                remote=remote,
            )
            issued = None
        else:
            throttle.record_success(session, body.username, now)
            issued = accounts.start_session(session, user, now, context.config.session_lifetime)
    if issued is None:
        raise AuthenticationRequired("wrong user name or password")
    response.set_cookie(
        SESSION_COOKIE,
        issued.session_secret,
        max_age=int(context.config.session_lifetime.total_seconds()),
        path="/",
        secure=context.config.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return {
        "username": issued.principal.name,
        "role": issued.principal.role,
        "csrfToken": issued.csrf_token,
    }


@router.delete("/session", status_code=204, response_class=Response)
@requires(AUTHENTICATED)
def logout(caller: Caller, context: Context) -> Response:
    """End this session (API tokens have no session: nothing to do for them)."""
    if caller.session_id is not None:
        with context.store.write() as session:
            accounts.end_session(session, caller.session_id)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=context.config.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/me", response_model=MeOut)
@requires(AUTHENTICATED)
def me(caller: Caller) -> dict[str, Any]:
    """The caller's name, role and what the role allows."""
    return {
        "kind": caller.kind,
        "name": caller.name,
        "role": caller.role,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[caller.role]),
    }
