"""Defenders: enrolment and tokens (administrators), the list (readers), and a Defender's
own resend point (the Defender itself)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from stockade.console import defenders
from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.errors import NotFound
from stockade.console.roles import Permission
from stockade.console.store.models import Defender

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
