"""The Console's settings for one process: where its data lives and its limits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

__all__ = ["ConsoleConfig", "database_url", "default_data_dir"]

SQLITE_FILE = "console.sqlite"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("stockade")) / "console"


def database_url(data_dir: Path, db: str | None) -> str:
    """The SQLAlchemy URL for ``--db`` (or the SQLite file in ``data_dir`` without one).

    ``postgresql://`` and ``postgres://`` URLs are driven by psycopg 3.
    """
    if not db:
        return f"sqlite:///{data_dir / SQLITE_FILE}"
    for prefix in ("postgresql://", "postgres://"):
        if db.startswith(prefix):
            return "postgresql+psycopg://" + db.removeprefix(prefix)
    return db


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    database_url: str
    data_dir: Path = field(default_factory=default_data_dir)
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest request body accepted (a published scan of a big image is a few MiB)."""
    session_lifetime: dt.timedelta = dt.timedelta(hours=12)
    secure_cookies: bool = True
    """Cookies are sent over HTTPS only; only tests of plain-HTTP set-ups turn it off."""
    prune_on_publish: bool = True
    """Apply the retention settings to an artifact's history each time it is published."""
