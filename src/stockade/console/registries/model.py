"""The pure part of registry scanning: which repositories and tags to scan, the advisory
data's version, an event's severity. Data in, data out; no I/O here."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stockade.console.documents import ScanDocument
from stockade.vulndb.store import SourceStatus

__all__ = [
    "DEFAULT_TAG_LIMIT",
    "TRIGGERS",
    "AdvisoryVersion",
    "TaggedImage",
    "advisory_version",
    "event_severity",
    "most_recent",
    "select_repositories",
    "worst_severity",
]

DEFAULT_TAG_LIMIT = 5
TRIGGERS = ("manual", "schedule", "advisories")
"""Why a run happened: asked for, its interval came round, the advisory data changed."""

_EVENT_SEVERITY = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "low": "low",
    "negligible": "info",
    "unknown": "info",
}
_ORDER = ("critical", "high", "medium", "low", "negligible", "unknown")


def select_repositories(
    repositories: Iterable[str], include: Sequence[str], exclude: Sequence[str]
) -> list[str]:
    """The repositories matching any ``include`` glob (all, when there is none) and no
    ``exclude`` glob, sorted and without repeats.

    Globs are shell-style (``*``, ``?``, ``[…]``) and case-sensitive, as repository names
    are lowercase; ``*`` also matches ``/``, so ``team/*`` takes ``team/a/b`` too.
    """
    chosen = {
        name
        for name in repositories
        if (not include or any(fnmatch.fnmatchcase(name, glob) for glob in include))
        and not any(fnmatch.fnmatchcase(name, glob) for glob in exclude)
    }
    return sorted(chosen)


@dataclass(frozen=True, slots=True)
class TaggedImage:
    """A tag of a repository and what it resolved to."""

    repository: str
    tag: str
    digest: str
    """The manifest (or index) digest the tag names."""
    created: dt.datetime | None
    """The image config's ``created`` time; None when it has none."""


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def most_recent(images: Iterable[TaggedImage], limit: int) -> list[TaggedImage]:
    """The ``limit`` most recently created tags, newest first.

    Images without a creation time count as oldest; equal times are ordered by tag name,
    highest first (``v10`` before ``v9`` is not attempted: names compare as text).
    """
    ordered = sorted(images, key=lambda i: (i.created or _NEVER, i.tag), reverse=True)
    return ordered[: max(0, limit)]


@dataclass(frozen=True, slots=True)
class AdvisoryVersion:
    """What the advisory data was when an image was scanned."""

    version: str
    """A digest of every source's import time, count and newest advisory: any import
    (``stockade db update``, ``db import``, a newer bundle) changes it."""
    updated: dt.datetime | None
    """The most recent import of any source."""


def advisory_version(statuses: Sequence[SourceStatus]) -> AdvisoryVersion:
    facts = [
        [
            s.source,
            s.last_import.isoformat(),
            s.advisories,
            s.newest.isoformat() if s.newest else None,
        ]
        for s in sorted(statuses, key=lambda s: s.source)
    ]
    digest = hashlib.sha256(json.dumps(facts, separators=(",", ":")).encode()).hexdigest()
    updated = max((s.last_import for s in statuses), default=None)
    return AdvisoryVersion(version=digest[:32], updated=updated)


def worst_severity(document: ScanDocument) -> str | None:
    """The worst severity word among the active (not suppressed) findings; None if none."""
    present = {f.severity for f in document.findings if not f.suppressed}
    return next((word for word in _ORDER if word in present), None)


def event_severity(finding_severity: str | None) -> str:
    """A finding severity as a :data:`~stockade.console.events.EVENT_SEVERITIES` word."""
    return _EVENT_SEVERITY.get(finding_severity or "", "info")
