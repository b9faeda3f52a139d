"""The Defenders page: enrolled Defenders and when each was last heard from.

Enrolling, rotating and revoking are the functions of ``/api/v1/defenders``
(``api/routes/defenders.py``) called with the viewer as the caller, so they are audited
alike; they need ``administer``. A Defender's token is shown once, in the answer to the
form that issued it.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from stockade.console.api.access import requires
from stockade.console.api.routes import defenders as defenders_api
from stockade.console.errors import ConsoleError, NotFound
from stockade.console.roles import Permission
from stockade.console.web.forms import Fields, describe, notice_of, problem_of, redirect
from stockade.console.web.view import View, Viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**62
NOTICES: Final = {"revoked": "The Defender was revoked: its token no longer works."}
LABELS: Final = {"name": "The host name", "expiresInDays": "Expires in (days)"}


def _page(
    view: Viewer, *, status: int = 200, error: str = "", notice: str = "", **values: Any
) -> Response:
    defaults: dict[str, Any] = {"issued": None, "form": {"name": "", "expires": ""}}
    listed = defenders_api.list_defenders(view.context)["items"]
    return view.page(
        "defenders.html",
        active="defenders",
        title="Defenders",
        status=status,
        error=error,
        notice=notice,
        defenders=listed,
        connected_minutes=int(defenders_api.CONNECTED_WITHIN.total_seconds() // 60),
        **{**defaults, **values},
    )


@router.get("/defenders")
@requires(Permission.READ)
def defenders(request: Request, view: View) -> Response:
    return _page(view, notice=notice_of(request, NOTICES))


@router.post("/defenders")
@requires(Permission.ADMINISTER)
def enrol(view: View, fields: Fields) -> Response:
    name, expires = fields.text("name"), fields.text("expires")
    form = {"name": name[:256], "expires": expires[:8]}
    try:
        body = defenders_api.DefenderCreate.model_validate(
            {"name": name, "expiresInDays": expires or None}
        )
        issued = defenders_api.enrol(body, view.principal, view.context, view.remote)
    except ValidationError as exc:
        return _page(view, status=400, error=problem_of(exc, LABELS), form=form)
    except ConsoleError as exc:
        return _page(view, status=exc.http_status, error=describe(exc), form=form)
    # The token is in this answer only: no redirect (it would have to carry it), no cache.
    return _page(view, status=201, issued={**issued, "rotated": False})


@router.post("/defenders/{defender_id:int}/token")
@requires(Permission.ADMINISTER)
def rotate(defender_id: int, view: View) -> Response:
    if not 1 <= defender_id <= MAX_ID:
        return view.not_found("defenders", "There is no such Defender.")
    try:
        issued = defenders_api.rotate_token(defender_id, view.principal, view.context, view.remote)
    except NotFound:
        return view.not_found("defenders", "There is no such Defender.")
    except ConsoleError as exc:
        return _page(view, status=exc.http_status, error=describe(exc))
    return _page(view, status=201, issued={**issued, "rotated": True})


@router.post("/defenders/{defender_id:int}/revoke")
@requires(Permission.ADMINISTER)
def revoke(defender_id: int, view: View) -> Response:
    if not 1 <= defender_id <= MAX_ID:
        return view.not_found("defenders", "There is no such Defender.")
    try:
        defenders_api.revoke(defender_id, view.principal, view.context, view.remote)
    except NotFound:
        return view.not_found("defenders", "There is no such Defender.")
    except ConsoleError as exc:
        return _page(view, status=exc.http_status, error=describe(exc))
    return redirect("/defenders?done=revoked")
