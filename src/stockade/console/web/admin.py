"""Administration pages: users and API tokens.

Changes go through the same functions as the API's ``/api/v1/users`` and
``/api/v1/tokens`` (audited, the last administrator kept, sessions of a disabled user
ended). A new token is shown once, in the answer to the form that created it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from stockade.console.api.access import requires
from stockade.console.api.routes import admin as admin_api
from stockade.console.api.schemas import TokenCreate, UserChange, UserCreate
from stockade.console.errors import ConsoleError, NotFound
from stockade.console.roles import Permission, Role
from stockade.console.web import queries as web_queries
from stockade.console.web.params import Listing, listing
from stockade.console.web.render import SECURITY_HEADERS
from stockade.console.web.view import View, Viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

ROLES: Final = tuple(role.value for role in Role)
MAX_ID: Final = 2**62
NOTICES: Final = {
    "created": "The user was created.",
    "disabled": "The user was disabled; their sessions have ended.",
    "enabled": "The user was enabled.",
    "revoked": "The token was revoked.",
}


def _first_problem(exc: ValidationError, labels: dict[str, str]) -> str:
    error = exc.errors()[0]
    where = str(error["loc"][0]) if error.get("loc") else ""
    label = labels.get(where, where)
    kind = error.get("type", "")
    if kind == "string_too_short":
        limit = (error.get("ctx") or {}).get("min_length", 1)
        return f"{label} needs at least {limit} characters."
    if kind == "string_too_long":
        return f"{label} is too long."
    return f"{label} is not valid."


def _notice(request: Request) -> str:
    return NOTICES.get(request.query_params.get("done", ""), "")


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def _users_page(
    view: Viewer, page: Listing, *, status: int = 200, error: str = "", **values: Any
) -> Response:
    with view.context.store.read() as session:
        page.fill(web_queries.list_users(session, limit=page.size, offset=page.offset))
    defaults: dict[str, Any] = {"notice": "", "form": {"username": "", "role": "auditor"}}
    return view.page(
        "users.html",
        active="users",
        title="Users",
        rows=page,
        roles=ROLES,
        error=error,
        status=status,
        **{**defaults, **values},
    )


@router.get("/users")
@requires(Permission.ADMINISTER)
def users(request: Request, view: View) -> Response:
    return _users_page(view, listing(request, {}), notice=_notice(request))


@router.post("/users")
@requires(Permission.ADMINISTER)
def create_user(
    request: Request,
    view: View,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    form = {"username": username[:128], "role": role if role in ROLES else "auditor"}
    page = listing(request, {}, "/users")
    try:
        body = UserCreate.model_validate({"username": username, "password": password, "role": role})
    except ValidationError as exc:
        labels = {"username": "The user name", "password": "The password", "role": "The role"}
        error = _first_problem(exc, labels)
        return _users_page(view, page, status=400, error=error, form=form)
    try:
        admin_api.create_user(body, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _users_page(view, page, status=exc.http_status, error=exc.message, form=form)
    return _redirect("/users?done=created")


def _change_user(view: Viewer, request: Request, user_id: int, disabled: bool) -> Response:
    if not 1 <= user_id <= MAX_ID:
        return view.not_found("users", "There is no such user.")
    try:
        admin_api.change_user(
            user_id, UserChange(disabled=disabled), view.principal, view.context, view.remote
        )
    except NotFound:
        return view.not_found("users", "There is no such user.")
    except ConsoleError as exc:
        page = listing(request, {}, "/users")
        return _users_page(view, page, status=exc.http_status, error=exc.message)
    return _redirect("/users?done=" + ("disabled" if disabled else "enabled"))


@router.post("/users/{user_id:int}/disable")
@requires(Permission.ADMINISTER)
def disable_user(user_id: int, request: Request, view: View) -> Response:
    return _change_user(view, request, user_id, disabled=True)


@router.post("/users/{user_id:int}/enable")
@requires(Permission.ADMINISTER)
def enable_user(user_id: int, request: Request, view: View) -> Response:
    return _change_user(view, request, user_id, disabled=False)


def _tokens_page(
    view: Viewer, page: Listing, *, status: int = 200, error: str = "", **values: Any
) -> Response:
    with view.context.store.read() as session:
        page.fill(web_queries.list_tokens(session, limit=page.size, offset=page.offset))
    defaults: dict[str, Any] = {
        "notice": "",
        "issued": None,
        "form": {"name": "", "role": "ci", "expires": ""},
    }
    return view.page(
        "tokens.html",
        active="tokens",
        title="API tokens",
        rows=page,
        roles=ROLES,
        error=error,
        status=status,
        **{**defaults, **values},
    )


@router.get("/tokens")
@requires(Permission.ADMINISTER)
def tokens(request: Request, view: View) -> Response:
    return _tokens_page(view, listing(request, {}), notice=_notice(request))


@router.post("/tokens")
@requires(Permission.ADMINISTER)
def create_token(
    request: Request,
    view: View,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name[:128], "role": role if role in ROLES else "ci", "expires": expires[:8]}
    page = listing(request, {}, "/tokens")
    try:
        body = TokenCreate.model_validate(
            {"name": name, "role": role, "expiresInDays": expires.strip() or None}
        )
    except ValidationError as exc:
        labels = {"name": "The name", "role": "The role", "expiresInDays": "Expires in (days)"}
        error = _first_problem(exc, labels)
        return _tokens_page(view, page, status=400, error=error, form=form)
    try:
        issued = admin_api.create_token(body, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _tokens_page(view, page, status=exc.http_status, error=exc.message, form=form)
    # The token is in this answer only: no redirect (it would have to carry it), no cache.
    return _tokens_page(view, page, status=201, issued=issued)


@router.post("/tokens/{token_id:int}/revoke")
@requires(Permission.ADMINISTER)
def revoke_token(token_id: int, view: View) -> Response:
    if not 1 <= token_id <= MAX_ID:
        return view.not_found("tokens", "There is no such token.")
    try:
        admin_api.revoke_token(token_id, view.principal, view.context, view.remote)
    except NotFound:
        return view.not_found("tokens", "There is no such token.")
    return _redirect("/tokens?done=revoked")
