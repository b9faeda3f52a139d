"""Users and API tokens: creating, changing, and finding who a request comes from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.console.errors import Conflict, NotFound, SetupError
from stockade.console.identity import audit
from stockade.console.identity.credentials import digest, matches, new_secret, new_token
from stockade.console.identity.passwords import (
    check_password_strength,
    hash_password,
    verify_password,
)
from stockade.console.roles import Role
from stockade.console.store.models import ApiToken, User
from stockade.console.store.models import Session as WebSession

__all__ = [
    "IssuedSession",
    "IssuedToken",
    "Principal",
    "authenticate_password",
    "authenticate_session",
    "authenticate_token",
    "create_token",
    "create_user",
    "end_session",
    "has_administrator",
    "start_session",
]

USERNAME_MAX = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a user (by session) or an API token."""

    kind: str
    """``user`` or ``token``."""
    id: int
    name: str
    role: Role
    session_id: int | None = None
    csrf_hash: str | None = None

    @property
    def label(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: int
    token: str
    """The token itself: shown once, never stored."""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session_secret: str
    csrf_token: str
    principal: Principal


def has_administrator(session: Session) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMINISTRATOR.value, User.disabled.is_(False))
    )
    return bool(count)


def _valid_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > USERNAME_MAX or not name.isprintable():
        raise SetupError(f"invalid user name {username!r}", "use 1 to 128 printable characters")
    return name


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    actor: str,
    now: dt.datetime,
    remote: str | None = None,
) -> User:
    name = _valid_username(username)
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role.value,
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target=f"user:{name}",
        now=now,
        detail={"role": role.value},
        remote=remote,
    )
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    actor: str,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    remote: str | None = None,
) -> IssuedToken:
    label = name.strip()
    if not label or len(label) > 128 or not label.isprintable():
        raise SetupError(f"invalid token name {name!r}", "use 1 to 128 printable characters")
    token = new_token()
    row = ApiToken(
        name=label,
        role=role.value,
        token_hash=digest(token),
        prefix=token[:10],
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.create",
        target=f"token:{row.id}:{label}",
        now=now,
        detail={"role": role.value, "expiresAt": expires_at.isoformat() if expires_at else None},
        remote=remote,
    )
    return IssuedToken(id=row.id, token=token)


def authenticate_token(session: Session, token: str, now: dt.datetime) -> Principal | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return Principal(kind="token", id=row.id, name=row.name, role=Role(row.role))


def authenticate_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or user.disabled:
        return None
    return user


def start_session(
    session: Session, user: User, now: dt.datetime, lifetime: dt.timedelta
) -> IssuedSession:
    secret, csrf = new_secret(), new_secret()
    row = WebSession(
        session_hash=digest(secret),
        csrf_hash=digest(csrf),
        user_id=user.id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    principal = Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=Role(user.role),
        session_id=row.id,
        csrf_hash=row.csrf_hash,
    )
    return IssuedSession(session_secret=secret, csrf_token=csrf, principal=principal)


def authenticate_session(session: Session, secret: str, now: dt.datetime) -> Principal | None:
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.session_hash == digest(secret))
    ).first()
    if found is None:
        return None
    web, user = found
    if web.expires_at <= now or user.disabled:
        return None
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=Role(user.role),
        session_id=web.id,
        csrf_hash=web.csrf_hash,
    )


def csrf_matches(principal: Principal, presented: str | None) -> bool:
    return (
        bool(presented)
        and principal.csrf_hash is not None
        and matches(presented or "", principal.csrf_hash)
    )


def end_session(session: Session, session_id: int) -> None:
    row = session.get(WebSession, session_id)
    if row is not None:
        session.delete(row)
