"""Administration: users, API tokens, settings, the audit log. Every change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import select

from stockade.console.api.access import requires
from stockade.console.api.deps import Caller, Context, Remote
from stockade.console.api.listing import CSV_RESPONSE, Paging, respond
from stockade.console.api.schemas import (
    AuditPage,
    PruneOut,
    Retention,
    TokenCreate,
    TokenIssued,
    TokenList,
    UserChange,
    UserCreate,
    UserList,
    UserOut,
)
from stockade.console.errors import Conflict, NotFound
from stockade.console.identity import accounts, audit
from stockade.console.identity.passwords import check_password_strength, hash_password
from stockade.console.roles import Permission, Role
from stockade.console.store import queries, retention, settings
from stockade.console.store.models import ApiToken, User
from stockade.console.store.models import Session as WebSession

router = APIRouter(prefix="/api/v1", tags=["administration"])

ItemId = Annotated[int, Path(ge=1, le=2**62)]


def _user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "createdAt": user.created_at,
        "updatedAt": user.updated_at,
    }


def _token(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "prefix": token.prefix,
        "createdBy": token.created_by,
        "createdAt": token.created_at,
        "expiresAt": token.expires_at,
        "revoked": token.revoked_at is not None,
    }


@router.get("/users", response_model=UserList)
@requires(Permission.ADMINISTER)
def list_users(context: Context) -> Any:
    with context.store.read() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        return {"items": [_user(u) for u in users]}


@router.post("/users", status_code=201, response_model=UserOut, responses={409: {}})
@requires(Permission.ADMINISTER)
def create_user(body: UserCreate, caller: Caller, context: Context, remote: Remote) -> Any:
    with context.store.write() as session:
        user = accounts.create_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            actor=caller.label,
            now=context.clock(),
            remote=remote,
        )
        return _user(user)


def _keeps_an_administrator(session: Any, user: User) -> None:
    others = session.scalars(
        select(User.id).where(
            User.role == Role.ADMINISTRATOR.value, User.disabled.is_(False), User.id != user.id
        )
    ).first()
    if others is None:
        raise Conflict(
            "this would leave no active administrator", "make another user administrator first"
        )


@router.patch("/users/{user_id}", response_model=UserOut, responses={404: {}, 409: {}})
@requires(Permission.ADMINISTER)
def change_user(
    user_id: ItemId, body: UserChange, caller: Caller, context: Context, remote: Remote
) -> Any:
    """Change a user's role, disable or enable them, or set a new password.

    Disabling a user or changing their password ends their sessions.
    """
    now = context.clock()
    with context.store.write() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        changes: dict[str, Any] = {}
        demoted = body.role is not None and body.role is not Role.ADMINISTRATOR
        if user.role == Role.ADMINISTRATOR.value and (demoted or body.disabled):
            _keeps_an_administrator(session, user)
        if body.role is not None and body.role.value != user.role:
            changes["role"] = {"from": user.role, "to": body.role.value}
            user.role = body.role.value
        if body.disabled is not None and body.disabled != user.disabled:
            changes["disabled"] = body.disabled
            user.disabled = body.disabled
        if body.password is not None:
            check_password_strength(body.password)
            user.password_hash = hash_password(body.password)
            changes["password"] = "changed"  # noqa: S105  # that it changed, never to what
        if changes.get("disabled") or "password" in changes or "role" in changes:
            for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
                session.delete(web)
        if changes:
            user.updated_at = now
            audit.record(
                session,
                actor=caller.label,
                action="user.change",
                target=f"user:{user.username}",
                now=now,
                detail=changes,
                remote=remote,
            )
        return _user(user)


@router.delete(
    "/users/{user_id}", status_code=204, response_class=Response, responses={404: {}, 409: {}}
)
@requires(Permission.ADMINISTER)
def delete_user(user_id: ItemId, caller: Caller, context: Context, remote: Remote) -> Response:
    now = context.clock()
    with context.store.write() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        if user.role == Role.ADMINISTRATOR.value:
            _keeps_an_administrator(session, user)
        session.delete(user)
        audit.record(
            session,
            actor=caller.label,
            action="user.delete",
            target=f"user:{user.username}",
            now=now,
            remote=remote,
        )
    return Response(status_code=204)


@router.get("/tokens", response_model=TokenList)
@requires(Permission.ADMINISTER)
def list_tokens(context: Context) -> Any:
    with context.store.read() as session:
        tokens = session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        return {"items": [_token(t) for t in tokens]}


@router.post("/tokens", status_code=201, response_model=TokenIssued)
@requires(Permission.ADMINISTER)
def create_token(body: TokenCreate, caller: Caller, context: Context, remote: Remote) -> Any:
    """Create an API token. The answer holds the token itself, this once."""
    now = context.clock()
    expires = now + dt.timedelta(days=body.expiresInDays) if body.expiresInDays else None
    with context.store.write() as session:
        issued = accounts.create_token(
            session,
            name=body.name,
            role=body.role,
            actor=caller.label,
            now=now,
            expires_at=expires,
            remote=remote,
        )
        row = session.get_one(ApiToken, issued.id)
        return {**_token(row), "token": issued.token}


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, responses={404: {}})
@requires(Permission.ADMINISTER)
def revoke_token(token_id: ItemId, caller: Caller, context: Context, remote: Remote) -> Response:
    now = context.clock()
    with context.store.write() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"no token with id {token_id}")
        if token.revoked_at is None:
            token.revoked_at = now
            audit.record(
                session,
                actor=caller.label,
                action="token.revoke",
                target=f"token:{token.id}:{token.name}",
                now=now,
                remote=remote,
            )
    return Response(status_code=204)


@router.get("/audit", response_model=AuditPage, responses=CSV_RESPONSE)
@requires(Permission.READ_AUDIT)
def list_audit(
    context: Context,
    page: Paging,
    actor: Annotated[str | None, Query(max_length=160)] = None,
) -> Any:
    """The audit log, newest first."""
    with context.store.read() as session:
        result = queries.list_audit(session, limit=page.limit, offset=page.offset, actor=actor)
    return respond(result, page, "audit")


def _retention_out(policy: retention.RetentionPolicy) -> dict[str, Any]:
    return {
        "keepScans": policy.keep_scans,
        "maxAgeDays": policy.max_age_days,
        "eventMaxAgeDays": policy.event_max_age_days,
    }


@router.get("/settings/retention", response_model=Retention)
@requires(Permission.READ)
def get_retention(context: Context) -> Any:
    with context.store.read() as session:
        return _retention_out(settings.load_retention(session))


@router.put("/settings/retention", response_model=Retention)
@requires(Permission.ADMINISTER)
def set_retention(body: Retention, caller: Caller, context: Context, remote: Remote) -> Any:
    """How much history to keep. Applied on each publish and by ``POST /retention/prune``."""
    now = context.clock()
    policy = retention.RetentionPolicy(
        keep_scans=body.keepScans,
        max_age_days=body.maxAgeDays,
        event_max_age_days=body.eventMaxAgeDays,
    )
    with context.store.write() as session:
        before = settings.load_retention(session)
        settings.save_retention(session, policy, now)
        audit.record(
            session,
            actor=caller.label,
            action="settings.retention",
            target="settings:retention",
            now=now,
            detail={"from": _retention_out(before), "to": _retention_out(policy)},
            remote=remote,
        )
    return _retention_out(policy)


@router.post("/retention/prune", response_model=PruneOut)
@requires(Permission.OPERATE)
def prune_now(caller: Caller, context: Context, remote: Remote) -> Any:
    """Apply the retention settings to all history now."""
    now = context.clock()
    with context.store.write() as session:
        report = retention.prune(session, settings.load_retention(session), now)
        audit.record(
            session,
            actor=caller.label,
            action="retention.prune",
            target="scans",
            now=now,
            detail={"scans": report.scans, "events": report.events},
            remote=remote,
        )
    return {"scans": report.scans, "events": report.events, "sessions": report.sessions}
