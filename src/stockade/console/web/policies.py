"""The policies page: collections, the two ordered policies, and recent verdicts.

Every change is the policy API's own function (``policies/api.py``) called with the
viewer as the caller, so it is checked, stored and audited exactly as
``/api/v1/policies/…`` does it. Changing needs ``operate``; reading needs ``read``.
"""

from __future__ import annotations

import re
from typing import Any, Final, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from stockade.console.api.access import requires
from stockade.console.documents import SeverityWord
from stockade.console.errors import ConsoleError, NotFound
from stockade.console.policies import api as policies_api
from stockade.console.policies.model import ALL_COLLECTION, KINDS
from stockade.console.policies.schemas import (
    NAME_PATTERN,
    CollectionChange,
    CollectionCreate,
    Kind,
    OutcomeWord,
    RuleChange,
    RuleCreate,
)
from stockade.console.roles import Permission
from stockade.console.web import queries as web_queries
from stockade.console.web.forms import Fields, FormFields, describe, notice_of, problem_of, redirect
from stockade.console.web.params import Listing, choice, listing
from stockade.console.web.render import segment
from stockade.console.web.view import View, Viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

THRESHOLDS: Final = get_args(SeverityWord)
OUTCOMES: Final[dict[str, OutcomeWord]] = {"pass": "pass", "alert": "alert", "block": "block"}
KIND_OF: Final[dict[str, Kind]] = {kind: kind for kind in KINDS}
KIND_TITLES: Final = {"vulnerabilities": "Vulnerability policy", "compliance": "Compliance policy"}
REASONS_SHOWN: Final = 3
BLANK_EXCEPTIONS: Final = 2
"""Empty exception rows a rule's form offers for new entries."""
_NAME = re.compile(NAME_PATTERN)

NOTICES: Final = {
    "rule-created": "The rule was created.",
    "rule-saved": "The rule was saved. Results published from now on are evaluated with it.",
    "rule-deleted": "The rule was deleted.",
    "rule-moved": "The rule was moved.",
    "collection-created": "The collection was created.",
    "collection-saved": "The collection was saved.",
    "collection-deleted": "The collection was deleted.",
}
NAME_RULES: Final = (
    "The name may hold letters, digits, '.', '_' and '-' (up to 64), and starts with a "
    "letter or digit."
)
RULE_LABELS: Final = {
    "name": "The name",
    "description": "The description",
    "collections": "Collections",
    "alertThreshold": "Alert at",
    "blockThreshold": "Block at",
    "graceDays": "Grace period (days)",
    "checks": "Checks",
    "exceptions": "Exceptions",
    "exceptions.id": "Exception id",
    "exceptions.reason": "Exception reason",
    "exceptions.expires": "Exception expiry",
    "position": "Position",
}
COLLECTION_LABELS: Final = {
    "name": "The name",
    "description": "The description",
    "images": "Images",
    "hosts": "Hosts",
    "namespaces": "Namespaces",
    "labels": "Labels",
}


def _kind_or_none(kind: str) -> Kind | None:
    return KIND_OF.get(kind)


def _name_or_none(name: str) -> str | None:
    return name if _NAME.match(name) else None


def _image_link(artifact_key: str) -> str | None:
    kind, _, value = artifact_key.partition(":")
    return f"/images/{segment(value)}" if kind == "image" and value else None


# --- the overview ---


def _verdicts(view: Viewer, page: Listing, outcome: str, kind: str) -> Listing:
    answer = policies_api.list_verdicts(
        view.context, page.api_params, OUTCOMES.get(outcome), KIND_OF.get(kind)
    )
    items = page.fill_from_api(answer).items
    with view.context.store.read() as session:
        details = web_queries.verdict_reasons(session, [v["scanId"] for v in items])
    for item in items:
        reasons, notes = details.get(item["scanId"], ([], []))
        item["reasons"] = reasons[:REASONS_SHOWN]
        item["moreReasons"] = max(0, len(reasons) - REASONS_SHOWN)
        item["notes"] = notes
        item["imageLink"] = _image_link(item["artifactKey"])
    return page


def _overview(
    request: Request, view: Viewer, *, status: int = 200, error: str = "", notice: str = ""
) -> Response:
    outcome = choice(request, "outcome", tuple(OUTCOMES))
    kind = choice(request, "kind", KINDS)
    filters = {"outcome": outcome, "kind": kind}
    page = _verdicts(view, listing(request, filters, "/policies"), outcome, kind)
    return view.page(
        "policies.html",
        active="policies",
        title="Policies",
        status=status,
        notice=notice,
        error=error,
        rules={k: policies_api.list_rules(k, view.context)["items"] for k in KINDS},
        kind_titles=KIND_TITLES,
        collections=policies_api.list_collections(view.context)["items"],
        verdicts=page,
        outcomes=tuple(OUTCOMES),
        kinds=KINDS,
    )


def _refused(request: Request, view: Viewer, exc: ConsoleError) -> Response:
    """A change the API refused: the overview again, saying why (404: a page)."""
    if isinstance(exc, NotFound):
        return view.not_found("policies", describe(exc))
    return _overview(request, view, status=exc.http_status, error=describe(exc))


@router.get("/policies")
@requires(Permission.READ)
def policies(request: Request, view: View) -> Response:
    return _overview(request, view, notice=notice_of(request, NOTICES))


# --- rules ---


def _rule_draft(kind: Kind, fields: FormFields, name: str) -> dict[str, Any]:
    """What the form sent, shaped as the API shows a rule (to show it again)."""
    ids, reasons, expiries = (
        fields.all("exceptionId"),
        fields.all("exceptionReason"),
        fields.all("exceptionExpires"),
    )
    removed = set(fields.all("exceptionRemove"))
    exceptions = []
    for row in range(max(len(ids), len(reasons), len(expiries))):
        values = [
            column[row].strip() if row < len(column) else "" for column in (ids, reasons, expiries)
        ]
        if str(row) in removed or not any(values):
            continue
        exceptions.append({"id": values[0], "reason": values[1], "expires": values[2] or None})
    return {
        "kind": kind,
        "name": name,
        "position": fields.text("position"),
        "description": fields.text("description"),
        "disabled": fields.checked("disabled"),
        "collections": fields.all("collections"),
        "alertThreshold": fields.text("alertThreshold") or None,
        "blockThreshold": fields.text("blockThreshold") or None,
        "onlyFixed": fields.checked("onlyFixed"),
        "graceDays": fields.text("graceDays") or "0",
        "countSuppressed": fields.checked("countSuppressed"),
        "checks": fields.lines("checks"),
        "exceptions": exceptions,
        "updatedAt": None,
        "updatedBy": None,
    }


def _rule_body(draft: dict[str, Any], *, new: bool) -> dict[str, Any]:
    """The API's body from a draft: every field the form may send (a field that does not
    suit the rule's kind is the API's to refuse, as it is for a JSON body)."""
    keep = set(RuleCreate.model_fields if new else RuleChange.model_fields)
    body = {key: value for key, value in draft.items() if key in keep}
    body["position"] = draft["position"] or None
    return body


def _rule_page(
    view: Viewer,
    kind: Kind,
    rule: dict[str, Any],
    *,
    new: bool,
    status: int = 200,
    error: str = "",
) -> Response:
    collections = [c["name"] for c in policies_api.list_collections(view.context)["items"]]
    title = f"New {kind} rule" if new else f"Rule {rule['name']}"
    return view.page(
        "policy_rule.html",
        active="policies",
        title=title,
        status=status,
        error=error,
        kind=kind,
        kind_title=KIND_TITLES[kind],
        rule=rule,
        new=new,
        collections=collections,
        thresholds=THRESHOLDS,
        blank_exceptions=BLANK_EXCEPTIONS,
        name_rules=NAME_RULES,
    )


def _empty_rule(kind: Kind) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": "",
        "position": "",
        "description": "",
        "disabled": False,
        "collections": [ALL_COLLECTION],
        "alertThreshold": None,
        "blockThreshold": None,
        "onlyFixed": False,
        "graceDays": 0,
        "countSuppressed": False,
        "checks": [],
        "exceptions": [],
        "updatedAt": None,
        "updatedBy": None,
    }


def _save_rule(
    view: Viewer, kind: Kind, fields: FormFields, name: str | None
) -> tuple[dict[str, Any], str, int]:
    """Create (``name`` None) or replace a rule; the draft, an error and a status."""
    draft = _rule_draft(kind, fields, name if name is not None else fields.text("name"))
    try:
        if name is None:
            created = RuleCreate.model_validate(_rule_body(draft, new=True))
            policies_api.create_rule(kind, created, view.principal, view.context, view.remote)
        else:
            changed = RuleChange.model_validate(_rule_body(draft, new=False))
            policies_api.change_rule(
                kind=kind,
                name=name,
                body=changed,
                caller=view.principal,
                context=view.context,
                remote=view.remote,
            )
    except ValidationError as exc:
        return draft, problem_of(exc, RULE_LABELS, patterns={"name": NAME_RULES}), 400
    except ConsoleError as exc:
        return draft, describe(exc), exc.http_status
    return draft, "", 200


@router.get("/policies/rules/{kind}")
@requires(Permission.OPERATE)
def new_rule(kind: str, view: View) -> Response:
    checked = _kind_or_none(kind)
    if checked is None:
        return view.not_found("policies", "There is no such policy.")
    return _rule_page(view, checked, _empty_rule(checked), new=True)


@router.post("/policies/rules/{kind}")
@requires(Permission.OPERATE)
def create_rule(kind: str, view: View, fields: Fields) -> Response:
    checked = _kind_or_none(kind)
    if checked is None:
        return view.not_found("policies", "There is no such policy.")
    draft, error, status = _save_rule(view, checked, fields, None)
    if error:
        return _rule_page(view, checked, draft, new=True, status=status, error=error)
    return redirect("/policies?done=rule-created")


@router.get("/policies/rules/{kind}/{name}")
@requires(Permission.READ)
def rule(kind: str, name: str, request: Request, view: View) -> Response:
    checked, known = _kind_or_none(kind), _name_or_none(name)
    if checked is None or known is None:
        return view.not_found("policies", "There is no such rule.")
    try:
        found = policies_api.get_rule(checked, known, view.context)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return _rule_page(view, checked, found, new=False)


@router.post("/policies/rules/{kind}/{name}")
@requires(Permission.OPERATE)
def save_rule(kind: str, name: str, view: View, fields: Fields) -> Response:
    checked, known = _kind_or_none(kind), _name_or_none(name)
    if checked is None or known is None:
        return view.not_found("policies", "There is no such rule.")
    draft, error, status = _save_rule(view, checked, fields, known)
    if status == 404:
        return view.not_found("policies", error)
    if error:
        return _rule_page(view, checked, draft, new=False, status=status, error=error)
    return redirect("/policies?done=rule-saved")


@router.post("/policies/rules/{kind}/{name}/delete")
@requires(Permission.OPERATE)
def delete_rule(kind: str, name: str, request: Request, view: View) -> Response:
    checked, known = _kind_or_none(kind), _name_or_none(name)
    if checked is None or known is None:
        return view.not_found("policies", "There is no such rule.")
    try:
        policies_api.delete_rule(checked, known, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect("/policies?done=rule-deleted")


@router.post("/policies/rules/{kind}/{name}/move")
@requires(Permission.OPERATE)
def move_rule(kind: str, name: str, request: Request, view: View, fields: Fields) -> Response:
    """One place up or down: the rule as stored, at its new position, through the API's
    change (so the move is audited as a change of position)."""
    checked, known = _kind_or_none(kind), _name_or_none(name)
    step = {"up": -1, "down": 1}.get(fields.text("direction"))
    if checked is None or known is None:
        return view.not_found("policies", "There is no such rule.")
    if step is None:
        return redirect("/policies")
    try:
        current = policies_api.get_rule(checked, known, view.context)
        keep = set(RuleChange.model_fields) - {"position"}
        body = RuleChange.model_validate(
            {
                **{k: v for k, v in current.items() if k in keep},
                "position": max(1, current["position"] + step),
            }
        )
        policies_api.change_rule(
            kind=checked,
            name=known,
            body=body,
            caller=view.principal,
            context=view.context,
            remote=view.remote,
        )
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect(f"/policies?done=rule-moved#{checked}")


# --- collections ---


def _collection_draft(fields: FormFields, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": fields.text("description"),
        "images": fields.lines("images"),
        "hosts": fields.lines("hosts"),
        "namespaces": fields.lines("namespaces"),
        "labels": fields.lines("labels"),
        "builtIn": False,
        "usedBy": [],
        "updatedAt": None,
        "updatedBy": None,
    }


def _collection_page(
    view: Viewer, collection: dict[str, Any], *, new: bool, status: int = 200, error: str = ""
) -> Response:
    return view.page(
        "policy_collection.html",
        active="policies",
        title="New collection" if new else f"Collection {collection['name']}",
        status=status,
        error=error,
        collection=collection,
        new=new,
        name_rules=NAME_RULES,
    )


@router.get("/policies/collections")
@requires(Permission.OPERATE)
def new_collection(view: View) -> Response:
    return _collection_page(view, _collection_draft(FormFields.empty(), ""), new=True)


@router.post("/policies/collections")
@requires(Permission.OPERATE)
def create_collection(view: View, fields: Fields) -> Response:
    draft = _collection_draft(fields, fields.text("name"))
    body = {k: draft[k] for k in ("name", "description", "images", "hosts", "namespaces", "labels")}
    try:
        created = CollectionCreate.model_validate(body)
        policies_api.create_collection(created, view.principal, view.context, view.remote)
    except ValidationError as exc:
        error = problem_of(exc, COLLECTION_LABELS, patterns={"name": NAME_RULES})
        return _collection_page(view, draft, new=True, status=400, error=error)
    except ConsoleError as exc:
        return _collection_page(view, draft, new=True, status=exc.http_status, error=describe(exc))
    return redirect("/policies?done=collection-created")


@router.get("/policies/collections/{name}")
@requires(Permission.READ)
def collection(name: str, request: Request, view: View) -> Response:
    known = _name_or_none(name)
    if known is None:
        return view.not_found("policies", "There is no such collection.")
    try:
        found = policies_api.get_collection(known, view.context)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return _collection_page(view, found, new=False)


@router.post("/policies/collections/{name}")
@requires(Permission.OPERATE)
def save_collection(name: str, view: View, fields: Fields) -> Response:
    known = _name_or_none(name)
    if known is None:
        return view.not_found("policies", "There is no such collection.")
    draft = _collection_draft(fields, known)
    body = {k: draft[k] for k in ("description", "images", "hosts", "namespaces", "labels")}
    try:
        changed = CollectionChange.model_validate(body)
        policies_api.change_collection(known, changed, view.principal, view.context, view.remote)
    except ValidationError as exc:
        error = problem_of(exc, COLLECTION_LABELS)
        return _collection_page(view, draft, new=False, status=400, error=error)
    except NotFound as exc:
        return view.not_found("policies", describe(exc))
    except ConsoleError as exc:
        return _collection_page(view, draft, new=False, status=exc.http_status, error=describe(exc))
    return redirect("/policies?done=collection-saved")


@router.post("/policies/collections/{name}/delete")
@requires(Permission.OPERATE)
def delete_collection(name: str, request: Request, view: View) -> Response:
    known = _name_or_none(name)
    if known is None:
        return view.not_found("policies", "There is no such collection.")
    try:
        policies_api.delete_collection(known, view.principal, view.context, view.remote)
    except ConsoleError as exc:
        return _refused(request, view, exc)
    return redirect("/policies?done=collection-deleted")
