"""The registries page: registries scanned on a schedule, their runs, and scans on demand.

Changes are the functions of ``/api/v1/registries`` (``registries/api.py``) called with
the viewer as the caller: registering and changing need ``administer`` (audited, the
credentials sealed and never shown), a scan now needs ``operate``, reading needs ``read``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from stockade.console.api.access import requires
from stockade.console.errors import ConsoleError, NotFound
from stockade.console.registries import api as registries_api
from stockade.console.registries.model import DEFAULT_TAG_LIMIT
from stockade.console.roles import Permission
from stockade.console.web.forms import Fields, FormFields, describe, notice_of, problem_of, redirect
from stockade.console.web.params import listing
from stockade.console.web.view import View, Viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**62
NOTICES: Final = {
    "created": "The registry was added; its first scan is due now.",
    "saved": "The registry was saved.",
    "deleted": "The registry was removed (its images' scans stay).",
    "queued": "A scan was queued: reload this page to follow its run below.",
}
LABELS: Final = {
    "name": "The name",
    "url": "The URL",
    "repositories": "Repositories",
    "include": "Include",
    "exclude": "Exclude",
    "tagLimit": "Tags per repository",
    "intervalMinutes": "Scan every (minutes)",
    "credentials.username": "The user name",
    "credentials.password": "The password or token",
}
PATTERNS: Final = {
    "name": "The name may hold letters, digits, '.', '_' and '-' (up to 64), and starts with "
    "a letter or digit.",
}
SETTINGS: Final = ("name", "url", "repositories", "include", "exclude", "tagLimit")


def _draft(fields: FormFields, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the form sent, shaped as the API shows a registry (no credentials)."""
    return {
        **(stored or {}),
        "name": fields.text("name"),
        "url": fields.text("url"),
        "repositories": fields.lines("repositories"),
        "include": fields.lines("include"),
        "exclude": fields.lines("exclude"),
        "tagLimit": fields.text("tagLimit"),
        "intervalMinutes": fields.text("intervalMinutes"),
        "enabled": fields.checked("enabled"),
        "hasCredentials": bool((stored or {}).get("hasCredentials")),
        "username": fields.text("username"),
    }


def _body(fields: FormFields, *, new: bool) -> dict[str, Any]:
    draft = _draft(fields)
    body: dict[str, Any] = {key: draft[key] for key in SETTINGS}
    body["tagLimit"] = draft["tagLimit"] or (DEFAULT_TAG_LIMIT if new else None)
    body["intervalMinutes"] = draft["intervalMinutes"] or (
        registries_api.DEFAULT_INTERVAL_MINUTES if new else None
    )
    body["enabled"] = draft["enabled"]
    username, password = draft["username"], fields.raw("password")
    if username or password:
        body["credentials"] = {"username": username, "password": password}
    elif fields.checked("remove-credentials"):
        body["credentials"] = None  # given as null: the API removes them
    return {k: v for k, v in body.items() if v is not None or k == "credentials"}


def _list_page(
    view: Viewer, *, status: int = 200, error: str = "", notice: str = "", **values: Any
) -> Response:
    defaults: dict[str, Any] = {
        "form": {
            "name": "",
            "url": "",
            "repositories": [],
            "include": [],
            "exclude": [],
            "tagLimit": DEFAULT_TAG_LIMIT,
            "intervalMinutes": registries_api.DEFAULT_INTERVAL_MINUTES,
            "enabled": True,
            "hasCredentials": False,
            "username": "",
        }
    }
    return view.page(
        "registries.html",
        active="registries",
        title="Registries",
        status=status,
        error=error,
        notice=notice,
        registries=registries_api.list_registries(view.context)["items"],
        **{**defaults, **values},
    )


@router.get("/registries")
@requires(Permission.READ)
def registries(request: Request, view: View) -> Response:
    return _list_page(view, notice=notice_of(request, NOTICES))


@router.post("/registries")
@requires(Permission.ADMINISTER)
def create_registry(view: View, fields: Fields) -> Response:
    draft = _draft(fields)
    try:
        body = registries_api.RegistryCreate.model_validate(_body(fields, new=True))
        registries_api.create_registry(body, view.principal, view.context, view.remote)
    except ValidationError as exc:
        error = problem_of(exc, LABELS, patterns=PATTERNS)
        return _list_page(view, status=400, error=error, form=draft)
    except ConsoleError as exc:
        return _list_page(view, status=exc.http_status, error=describe(exc), form=draft)
    return redirect("/registries?done=created")


def _registry_page(
    request: Request,
    view: Viewer,
    registry_id: int,
    *,
    form: dict[str, Any] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    try:
        registry = registries_api.get_registry(registry_id, view.context)
        page = listing(request, {}, f"/registries/{registry_id}")
        page.fill_from_api(registries_api.list_runs(registry_id, view.context, page.api_params))
    except NotFound:
        return view.not_found("registries", "There is no such registry.")
    return view.page(
        "registry.html",
        active="registries",
        title=registry["name"],
        status=status,
        error=error,
        notice=notice_of(request, NOTICES),
        registry=registry,
        form=form or {**registry, "username": ""},
        runs=page,
    )


@router.get("/registries/{registry_id:int}")
@requires(Permission.READ)
def registry(registry_id: int, request: Request, view: View) -> Response:
    if not 1 <= registry_id <= MAX_ID:
        return view.not_found("registries", "There is no such registry.")
    return _registry_page(request, view, registry_id)


@router.post("/registries/{registry_id:int}")
@requires(Permission.ADMINISTER)
def save_registry(registry_id: int, request: Request, view: View, fields: Fields) -> Response:
    if not 1 <= registry_id <= MAX_ID:
        return view.not_found("registries", "There is no such registry.")
    try:
        body = registries_api.RegistryChange.model_validate(_body(fields, new=False))
        registries_api.change_registry(registry_id, body, view.principal, view.context, view.remote)
    except ValidationError as exc:
        error = problem_of(exc, LABELS, patterns=PATTERNS)
        form = _draft(fields, {"hasCredentials": _has_credentials(view, registry_id)})
        return _registry_page(request, view, registry_id, form=form, status=400, error=error)
    except NotFound:
        return view.not_found("registries", "There is no such registry.")
    except ConsoleError as exc:
        form = _draft(fields, {"hasCredentials": _has_credentials(view, registry_id)})
        return _registry_page(
            request, view, registry_id, form=form, status=exc.http_status, error=describe(exc)
        )
    return redirect(f"/registries/{registry_id}?done=saved")


def _has_credentials(view: Viewer, registry_id: int) -> bool:
    try:
        return bool(registries_api.get_registry(registry_id, view.context)["hasCredentials"])
    except NotFound:
        return False


@router.post("/registries/{registry_id:int}/scan")
@requires(Permission.OPERATE)
def scan_registry(registry_id: int, view: View) -> Response:
    if not 1 <= registry_id <= MAX_ID:
        return view.not_found("registries", "There is no such registry.")
    try:
        registries_api.scan_registry(registry_id, view.principal, view.context)
    except NotFound:
        return view.not_found("registries", "There is no such registry.")
    return redirect(f"/registries/{registry_id}?done=queued")


@router.post("/registries/{registry_id:int}/delete")
@requires(Permission.ADMINISTER)
def delete_registry(registry_id: int, view: View) -> Response:
    if not 1 <= registry_id <= MAX_ID:
        return view.not_found("registries", "There is no such registry.")
    try:
        registries_api.delete_registry(registry_id, view.principal, view.context, view.remote)
    except NotFound:
        return view.not_found("registries", "There is no such registry.")
    return redirect("/registries?done=deleted")
