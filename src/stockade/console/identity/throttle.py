"""Slowing down password guessing: failed log-ins per user name and per client address.

Counts live in the store, so every Console replica sees the same ones. After
:data:`USER_FAILURES` failures for one user name (or :data:`ADDRESS_FAILURES` from one
address) within :data:`WINDOW`, log-ins for it are refused for :data:`FIRST_LOCK`, doubling
with each further failure up to :data:`MAX_LOCK`. A success clears the user name's count.
A lock on a user name refuses even the right password until it ends: that is the point,
and it is short so that an attacker can only delay the owner, not shut them out.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import delete
from sqlalchemy.orm import Session

from stockade.console.store.models import LoginThrottle

__all__ = ["ADDRESS_FAILURES", "USER_FAILURES", "locked_for", "record_failure", "record_success"]

USER_FAILURES: Final = 5
ADDRESS_FAILURES: Final = 20
WINDOW: Final = dt.timedelta(minutes=15)
FIRST_LOCK: Final = dt.timedelta(seconds=30)
MAX_LOCK: Final = dt.timedelta(minutes=15)


def _keys(username: str, remote: str | None) -> list[tuple[str, int]]:
    keys = [(f"user:{username.strip().lower()[:128]}", USER_FAILURES)]
    if remote:
        keys.append((f"addr:{remote[:64]}", ADDRESS_FAILURES))
    return keys


def locked_for(
    session: Session, username: str, remote: str | None, now: dt.datetime
) -> dt.timedelta | None:
    """How much longer log-ins for this user name or from this address are refused."""
    longest: dt.timedelta | None = None
    for key, _ in _keys(username, remote):
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            left = row.locked_until - now
            longest = left if longest is None else max(longest, left)
    return longest


def record_failure(session: Session, username: str, remote: str | None, now: dt.datetime) -> None:
    for key, limit in _keys(username, remote):
        row = session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now, locked_until=None)
            session.add(row)
        elif now - row.window_start > WINDOW and (
            row.locked_until is None or row.locked_until <= now
        ):
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= limit:
            doublings = min(row.failures - limit, 16)
            row.locked_until = now + min(FIRST_LOCK * (2**doublings), MAX_LOCK)
    session.flush()


def record_success(session: Session, username: str, now: dt.datetime) -> None:
    key = _keys(username, None)[0][0]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def prune(session: Session, now: dt.datetime) -> int:
    """Forget counts whose window and lock are over (retention calls this)."""
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < now - WINDOW,
            (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
