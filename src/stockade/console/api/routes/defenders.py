"""Defenders: enrolment and tokens (administrators), the list (readers), a Defender's own
resend point (the Defender itself), and the runtime policy every Defender applies (set by
administrators, read by Defenders)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from stockade.console import defenders
from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.errors import InvalidDocument, NotFound
from stockade.console.identity import audit
from stockade.console.roles import Permission
from stockade.console.store import settings
from stockade.console.store.models import Defender
from stockade.runtime.defender import DefenderPolicy, PolicyError
from stockade.runtime.incidents import Action

router = APIRouter(prefix="/api/v1", tags=["defenders"])

ItemId = Annotated[int, Path(ge=1, le=2**62)]

CONNECTED_WITHIN = dt.timedelta(minutes=5)


class DefenderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=256, description="The host it protects.")
    expiresInDays: int | None = Field(default=None, ge=1, le=3650)


class DefenderOut(BaseModel):
    id: int
    name: str
    createdBy: str
    createdAt: dt.datetime
    lastSeenAt: dt.datetime | None
    lastSeq: int
    version: str | None
    revoked: bool
    connected: bool = Field(description=f"seen within {CONNECTED_WITHIN}")


class DefenderList(BaseModel):
    items: list[DefenderOut]


class DefenderEnrolled(DefenderOut):
    token: str = Field(description="The Defender's token; shown this once and never again.")


def _out(defender: Defender, now: dt.datetime) -> dict[str, Any]:
    seen = defender.last_seen_at
    return {
        "id": defender.id,
        "name": defender.name,
        "createdBy": defender.created_by,
        "createdAt": defender.created_at,
        "lastSeenAt": seen,
        "lastSeq": defender.last_seq,
        "version": defender.version,
        "revoked": defender.revoked_at is not None,
        "connected": seen is not None and now - seen <= CONNECTED_WITHIN,
    }


@router.post("/defenders", status_code=201, response_model=DefenderEnrolled)
@requires(Permission.ADMINISTER)
def enrol(body: DefenderCreate, caller: Caller, context: Context, remote: Remote) -> dict[str, Any]:
    """Enrol a Defender for a host and issue its token (audited)."""
    now = context.clock()
    expires = now + dt.timedelta(days=body.expiresInDays) if body.expiresInDays else None
    with context.store.write() as session:
        done = defenders.enrol(
            session, body.name, actor=caller.label, now=now, expires_at=expires, remote=remote
        )
        return {**_out(done.defender, now), "token": done.token}


@router.get("/defenders", response_model=DefenderList)
@requires(Permission.READ)
def list_defenders(context: Context) -> dict[str, Any]:
    """Every enrolled Defender, with when it was last heard from."""
    now = context.clock()
    with context.store.read() as session:
        rows = session.scalars(select(Defender).order_by(Defender.name)).all()
        return {"items": [_out(d, now) for d in rows]}


@router.get("/defenders/self", response_model=DefenderOut)
@requires(Permission.PUSH_EVENTS)
def own_state(caller: Caller, context: Context) -> dict[str, Any]:
    """The calling Defender's enrolment: ``lastSeq`` is where it resumes sending."""
    with context.store.read() as session:
        defender = defenders.of_caller(session, caller)
        if defender is None:
            raise NotFound("this token belongs to no enrolled Defender")
        return _out(defender, context.clock())


@router.post("/defenders/{defender_id}/token", status_code=201, response_model=DefenderEnrolled)
@requires(Permission.ADMINISTER)
def rotate_token(
    defender_id: ItemId, caller: Caller, context: Context, remote: Remote
) -> dict[str, Any]:
    """Revoke the Defender's token and issue a new one (audited)."""
    now = context.clock()
    with context.store.write() as session:
        done = defenders.rotate(session, defender_id, actor=caller.label, now=now, remote=remote)
        return {**_out(done.defender, now), "token": done.token}


@router.delete("/defenders/{defender_id}", status_code=204, response_class=Response)
@requires(Permission.ADMINISTER)
def revoke(defender_id: ItemId, caller: Caller, context: Context, remote: Remote) -> Response:
    """Revoke a Defender: its token stops working at once (audited)."""
    with context.store.write() as session:
        defenders.revoke(
            session, defender_id, actor=caller.label, now=context.clock(), remote=remote
        )
    return Response(status_code=204)


# -- the Defenders' runtime policy ------------------------------------------------------

POLICY_SETTING = "defender-policy"
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PolicyException(BaseModel):
    """Findings this covers are dropped; every given pattern (shell glob) must match."""

    model_config = ConfigDict(extra="forbid")
    rule: Pattern = "*"
    image: Pattern = "*"
    process: Pattern = "*"
    path: Pattern = "*"
    destination: Pattern = "*"


class RuntimePolicy(BaseModel):
    """The Defender policy file's format (``stockade defender run --policy``) as JSON:
    the first ``actions`` entry whose glob matches a rule's name decides, else
    ``default``."""

    model_config = ConfigDict(extra="forbid")
    default: Action = Action.ALERT
    actions: dict[Pattern, Action] = Field(default_factory=dict, max_length=1000)
    exceptions: list[PolicyException] = Field(default_factory=list, max_length=1000)


class RuntimePolicyOut(BaseModel):
    policy: RuntimePolicy
    yaml: str = Field(description="The same policy in the Defender's policy-file format.")
    updatedAt: dt.datetime | None = Field(description="None: never set (the default applies).")
    updatedBy: str | None


def _document(policy: RuntimePolicy) -> dict[str, Any]:
    """The policy file's document; exception patterns left at ``*`` are left out."""
    return {
        "default": policy.default.value,
        "actions": {pattern: action.value for pattern, action in policy.actions.items()},
        "exceptions": [
            item.model_dump(exclude_defaults=True) or {"rule": "*"} for item in policy.exceptions
        ],
    }


def _policy_out(stored: tuple[object, dt.datetime] | None) -> dict[str, Any]:
    value = stored[0] if stored is not None else None
    if not isinstance(value, dict) or not isinstance(value.get("yaml"), str):
        policy = RuntimePolicy()
        return {
            "policy": policy,
            "yaml": yaml.safe_dump(_document(policy), sort_keys=False),
            "updatedAt": None,
            "updatedBy": None,
        }
    text = value["yaml"]
    return {
        "policy": RuntimePolicy.model_validate(yaml.safe_load(text)),
        "yaml": text,
        "updatedAt": stored[1] if stored is not None else None,
        "updatedBy": value.get("updatedBy"),
    }


@router.get("/defenders/policy", response_model=RuntimePolicyOut)
@requires(Permission.PUSH_EVENTS)
def get_policy(context: Context) -> dict[str, Any]:
    """The runtime policy Defenders apply (default action, per-rule actions, exceptions).
    Defenders read it at start and every minute, and keep a copy for when the Console is
    down."""
    with context.store.read() as session:
        return _policy_out(settings.load_value(session, POLICY_SETTING))


@router.put("/defenders/policy", response_model=RuntimePolicyOut)
@requires(Permission.ADMINISTER)
def set_policy(
    body: RuntimePolicy, caller: Caller, context: Context, remote: Remote
) -> dict[str, Any]:
    """Set the runtime policy of every Defender (audited). A Defender started with its own
    ``--policy`` file keeps that instead."""
    text = yaml.safe_dump(_document(body), sort_keys=False)
    try:  # the Defender's own reader must accept what the Defenders will fetch
        DefenderPolicy.from_yaml(text, where="policy")
    except PolicyError as exc:
        raise InvalidDocument(str(exc)) from exc
    now = context.clock()
    with context.store.write() as session:
        before = _policy_out(settings.load_value(session, POLICY_SETTING))
        settings.save_value(session, POLICY_SETTING, {"yaml": text, "updatedBy": caller.label}, now)
        audit.record(
            session,
            actor=caller.label,
            action="defenders.policy",
            target=f"settings:{POLICY_SETTING}",
            now=now,
            remote=remote,
            detail={"from": _document(before["policy"]), "to": _document(body)},
        )
    return _policy_out(({"yaml": text, "updatedBy": caller.label}, now))
