"""Settings every Console process shares, kept in the ``settings`` table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from stockade.console.store.models import Setting
from stockade.console.store.retention import RetentionPolicy

__all__ = ["load_retention", "load_value", "save_retention", "save_value"]

_RETENTION = "retention"
_DEFAULT = RetentionPolicy()


def load_retention(session: Session) -> RetentionPolicy:
    row = session.get(Setting, _RETENTION)
    if row is None or not isinstance(row.value, dict):
        return RetentionPolicy()
    value = row.value
    return RetentionPolicy(
        keep_scans=int(value.get("keepScans", _DEFAULT.keep_scans)),
        max_age_days=value.get("maxAgeDays"),
        event_max_age_days=value.get("eventMaxAgeDays"),
    )


def save_retention(session: Session, policy: RetentionPolicy, now: dt.datetime) -> None:
    value = {
        "keepScans": policy.keep_scans,
        "maxAgeDays": policy.max_age_days,
        "eventMaxAgeDays": policy.event_max_age_days,
    }
    row = session.get(Setting, _RETENTION)
    if row is None:
        session.add(Setting(key=_RETENTION, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


def load_value(session: Session, key: str) -> tuple[object, dt.datetime] | None:
    """A setting's stored value and when it was last changed, or None when never set."""
    row = session.get(Setting, key)
    return None if row is None else (row.value, row.updated_at)


def save_value(session: Session, key: str, value: object, now: dt.datetime) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
