"""Access control for every route, in one place.

Each endpoint declares what it needs with :func:`requires` (a permission, ``AUTHENTICATED``
for any signed-in caller, or ``PUBLIC``). The :class:`AccessControl` middleware finds the
route a request goes to and refuses it before the endpoint runs, and before its body is
parsed: 401 without valid credentials, 403 for a role without the permission or a session
request with an unsafe method and no matching CSRF token. A route that declares nothing
is open to administrators only: forgetting is never an open door.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from stockade.console.api.problems import problem_response, unauthenticated
from stockade.console.context import ConsoleContext
from stockade.console.identity.accounts import (
    Principal,
    authenticate_session,
    authenticate_token,
    csrf_matches,
)
from stockade.console.roles import Permission, allows
from stockade.core.errors import InternalError

__all__ = [
    "ACCESS_ATTRIBUTE",
    "AUTHENTICATED",
    "CSRF_HEADER",
    "PUBLIC",
    "SESSION_COOKIE",
    "AccessControl",
    "RouteAccess",
    "access_table",
    "is_page",
    "principal_of",
    "requires",
]

PUBLIC: Final = "public"
AUTHENTICATED: Final = "authenticated"
ACCESS_ATTRIBUTE = "__stockade_access__"
SESSION_COOKIE = "stockade_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Access = Permission | str
F = TypeVar("F", bound=Callable[..., Any])


def requires(access: Access) -> Callable[[F], F]:
    def mark(endpoint: F) -> F:
        setattr(endpoint, ACCESS_ATTRIBUTE, access)
        return endpoint

    return mark


def access_of(endpoint: Any) -> Access:
    return getattr(endpoint, ACCESS_ATTRIBUTE, Permission.ADMINISTER)


def principal_of(request: Request) -> Principal:
    """The caller, as the middleware authenticated it (a dependency for endpoints)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise InternalError("a route was reached without access control")
    return principal


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name and v:
                    return str(v)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_page(path: str) -> bool:
    """A web UI page (every path outside ``/api/`` and ``/metrics``): browsers without a
    session are sent to log in, refusals are pages, forms carry the CSRF token as a field."""
    return path.lstrip("/").split("/", 1)[0] not in ("api", "metrics")


@dataclass(frozen=True, slots=True)
class RouteAccess:
    path: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    access: Access


def access_table(
    routers: Iterable[APIRouter], overrides: dict[str, Access] | None = None
) -> list[RouteAccess]:
    """What every route needs, from its endpoint's :func:`requires` mark."""
    table = [
        RouteAccess(path, compile_path(path)[0], frozenset({"GET", "HEAD"}), access)
        for path, access in (overrides or {}).items()
    ]
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                methods = set(route.methods or ())
                if "GET" in methods:
                    methods.add("HEAD")
                table.append(
                    RouteAccess(
                        route.path,
                        compile_path(route.path)[0],
                        frozenset(methods),
                        access_of(route.endpoint),
                    )
                )
    return table


class AccessControl:
    def __init__(self, app: ASGIApp, table: list[RouteAccess], context: ConsoleContext) -> None:
        self.app = app
        self.table = table
        self.context = context

    def route_access(self, scope: Scope) -> Access:
        path = scope["path"]
        known_path = False
        for entry in self.table:
            if entry.pattern.match(path):
                if scope["method"] in entry.methods:
                    return entry.access
                known_path = True
        # A known path with another method (405), or an unknown path (404): either is
        # answered to signed-in callers only, so the API's shape is not public.
        del known_path
        return AUTHENTICATED

    @staticmethod
    def refuse(
        scope: Scope, page: bool, principal: Principal, detail: str, hint: str | None = None
    ) -> Response:
        """403: a page for a browser on a UI page, problem JSON for the API."""
        if page:
            from stockade.console.web.gate import forbidden_page

            return forbidden_page(scope, principal, detail)
        return problem_response(403, "Forbidden", detail, hint=hint)

    def authenticate(self, scope: Scope) -> Principal | None:
        now = self.context.clock()
        authorization = _header(scope, b"authorization")
        with self.context.store.read() as session:
            if authorization is not None:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return None
                return authenticate_token(session, token.strip(), now)
            cookie = _cookie(scope, SESSION_COOKIE)
            if cookie is None:
                return None
            return authenticate_session(session, cookie, now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = self.route_access(scope)
        if access == PUBLIC:
            await self.app(scope, receive, send)
            return
        page = is_page(scope["path"])
        principal = await run_in_threadpool(self.authenticate, scope)
        if principal is None:
            if page:  # a browser: to the log-in page, and back here after
                from stockade.console.web.gate import login_redirect  # late: web imports us

                response: Response = login_redirect(scope)
            else:
                response = unauthenticated("no valid API token or session came with the request")
            await response(scope, receive, send)
            return
        if principal.session_id is not None and scope["method"] not in SAFE_METHODS:
            presented = _header(scope, CSRF_HEADER.encode())
            if presented is None and page:  # an HTML form sends it as a field of its body
                from stockade.console.web.gate import form_csrf_token

                presented, receive = await form_csrf_token(scope, receive)
            if not csrf_matches(principal, presented):
                detail = "a session request that changes something needs its CSRF token"
                hint = "send the csrfToken the login answered with as X-CSRF-Token"
                await self.refuse(scope, page, principal, detail, hint)(scope, receive, send)
                return
        if access != AUTHENTICATED and not allows(principal.role, Permission(access)):
            detail = f"the role {principal.role.value} may not do this"
            await self.refuse(scope, page, principal, detail)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
