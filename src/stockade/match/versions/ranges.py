"""OSV affected ranges (https://ossf.github.io/osv-schema/#evaluation), evaluated exactly.

A range is a timeline of events. Walking its events in version order, ``introduced``
switches "affected" on (at that version), ``fixed`` switches it off (at that version)
and ``last_affected`` switches it off just above that version. ``limit`` events do not
take part in the walk: when there are any, a version must sort below at least one of
them. ``introduced: "0"`` sorts before every version and ``limit: "*"`` after every one.
Events at the same version keep the order they were written in.

``ECOSYSTEM`` ranges use the package's scheme, ``SEMVER`` ranges always use SemVer 2.0, and
``GIT`` ranges are ignored here: they need the repository's commit graph.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stockade.match.versions.ecosystems import SEMVER, scheme_for
from stockade.match.versions.interface import VersionError, VersionKey, VersionScheme

ZERO = "0"
"""``introduced`` value meaning "before every version"."""
INFINITY = "*"
"""``limit`` value meaning "after every version"."""


class InvalidRange(VersionError):
    """An OSV range does not follow the schema."""


class RangeType(enum.Enum):
    SEMVER = "SEMVER"
    ECOSYSTEM = "ECOSYSTEM"
    GIT = "GIT"


class EventKind(enum.Enum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    version: str


@dataclass(frozen=True, slots=True)
class AffectedRange:
    """One entry of an OSV ``affected[].ranges`` list."""

    type: RangeType
    events: tuple[Event, ...]
    repo: str | None = None

    @classmethod
    def from_osv(cls, data: Mapping[str, Any]) -> AffectedRange:
        """Build a range from its OSV JSON object, checking what the schema requires."""
        try:
            range_type = RangeType(data.get("type"))
        except ValueError:
            raise InvalidRange(f"unknown range type {data.get('type')!r}") from None
        raw_events = data.get("events")
        if not isinstance(raw_events, list) or not raw_events:
            raise InvalidRange("a range needs a non-empty list of events")
        events = []
        for raw in raw_events:
            if not isinstance(raw, Mapping) or len(raw) != 1:
                raise InvalidRange(f"an event must have exactly one field, not {raw!r}")
            ((name, value),) = raw.items()
            try:
                kind = EventKind(name)
            except ValueError:
                raise InvalidRange(f"unknown event {name!r}") from None
            if not isinstance(value, str) or not value:
                raise InvalidRange(f"the {name} event needs a version string, not {value!r}")
            events.append(Event(kind, value))
        if not any(event.kind is EventKind.INTRODUCED for event in events):
            raise InvalidRange("a range needs at least one introduced event")
        repo = data.get("repo")
        return cls(range_type, tuple(events), repo if isinstance(repo, str) else None)


def affected(
    version: str,
    ranges: Iterable[AffectedRange],
    scheme: VersionScheme,
    *,
    versions: Iterable[str] = (),
) -> bool:
    """Whether ``version`` is in the OSV ``versions`` list or inside one of ``ranges``.

    ``scheme`` orders ``ECOSYSTEM`` ranges and the ``versions`` list. Raises
    :class:`~stockade.match.versions.InvalidVersion` when ``version`` or a version in an
    event is not valid in the scheme the range uses.
    """
    for affected_range in ranges:
        if affected_range.type is RangeType.GIT:
            continue
        range_scheme = scheme_for(SEMVER) if affected_range.type is RangeType.SEMVER else scheme
        if _in_range(range_scheme.key(version), _timeline(affected_range, range_scheme)):
            return True
    # Ranges first: they are cheap once their timeline is cached, and most lists repeat
    # what the ranges say, so the list's keys are only parsed for versions outside them.
    return _listed(version, versions, scheme)


def _listed(version: str, versions: Iterable[str], scheme: VersionScheme) -> bool:
    listed = versions if isinstance(versions, tuple) else tuple(versions)
    if not listed:
        return False
    if version in listed:
        return True
    return scheme.key(version) in _listed_keys(scheme, listed)


@lru_cache(maxsize=16_384)
def _listed_keys(scheme: VersionScheme, versions: tuple[str, ...]) -> frozenset[VersionKey]:
    # The list is for lookup; a malformed entry cannot equal anything, so it is left out.
    return frozenset(scheme.key(v) for v in versions if scheme.is_valid(v))


@dataclass(frozen=True, slots=True)
class _Timeline:
    """A range's events as keys, walked in order, and its limits."""

    steps: tuple[tuple[EventKind, VersionKey | None], ...]
    """Sorted; a key of None is introduced "0"."""
    limits: tuple[VersionKey | None, ...] | None
    """None: no limit events; a key of None is the limit "*"."""


@lru_cache(maxsize=16_384)
def _timeline(affected_range: AffectedRange, scheme: VersionScheme) -> _Timeline:
    steps: list[tuple[int, EventKind, VersionKey | None]] = []
    limits: list[VersionKey | None] = []
    for position, event in enumerate(affected_range.events):
        if event.kind is EventKind.LIMIT:
            limits.append(None if event.version == INFINITY else scheme.key(event.version))
        elif event.kind is EventKind.INTRODUCED and event.version == ZERO:
            steps.append((position, event.kind, None))
        else:
            steps.append((position, event.kind, scheme.key(event.version)))
    # Sort by version; introduced "0" first; ties keep their written order (stable sort).
    steps.sort(key=_step_order)
    return _Timeline(
        steps=tuple((kind, key) for _, kind, key in steps),
        limits=tuple(limits) if limits else None,
    )


def _step_order(step: tuple[int, EventKind, VersionKey | None]) -> tuple[Any, ...]:
    position, _, key = step
    return (False, position) if key is None else (True, key, position)


def _in_range(key: VersionKey, timeline: _Timeline) -> bool:
    if timeline.limits is not None and not any(
        limit is None or key < limit for limit in timeline.limits
    ):
        return False
    vulnerable = False
    for kind, event_key in timeline.steps:
        if kind is EventKind.INTRODUCED:
            if event_key is None or key >= event_key:
                vulnerable = True
        elif kind is EventKind.FIXED:
            if event_key is not None and key >= event_key:
                vulnerable = False
        elif event_key is not None and key > event_key:  # last_affected
            vulnerable = False
    return vulnerable
