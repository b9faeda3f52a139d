"""OSV records (https://ossf.github.io/osv-schema/), as JSON or YAML, one per document.

Every ecosystem is read the same way: language packages (``PyPI``, ``Go``,
``crates.io``, ``npm``, ``Maven``…) and distributions (``Debian:12``, ``Ubuntu:22.04:LTS``,
``Alpine:v3.18``, ``AlmaLinux:9``…). A document may also be a JSON list of records.

What is derived here rather than read:

* ``Affected.fix_state``: ``fixed`` when a version range has a ``fixed`` event,
  ``not-fixed`` when the package is affected and no range has one, else ``unknown``;
  ``Affected.fixed_versions`` lists those ``fixed`` versions (never ``GIT`` commits).
* ``Affected.severity``: the entry's own ``severity`` list (OSV 1.6), or the
  distribution's urgency or priority in ``ecosystem_specific`` (Debian DSA/DLA records).
* ``Advisory.severity``: ``database_specific.severity`` (GitHub), else an ``Ubuntu``
  severity entry, else the newest CVSS version's rating, else the worst per-package one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Cvss,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Reference,
    Severity,
    worst_severity,
)
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.importers import _fields as f
from stockade.vulndb.importers.interface import Importer
from stockade.vulndb.reading import Warn

_OSV_RANGE_TYPES: Final = {
    "ECOSYSTEM": RangeType.ECOSYSTEM,
    "SEMVER": RangeType.SEMVER,
    "GIT": RangeType.GIT,
}
_OSV_EVENTS: Final = {
    "introduced": EventKind.INTRODUCED,
    "fixed": EventKind.FIXED,
    "last_affected": EventKind.LAST_AFFECTED,
    "limit": EventKind.LIMIT,
}
_CVSS_TYPES: Final = frozenset({"CVSS_V2", "CVSS_V3", "CVSS_V4"})
_OSV_KEYS: Final = frozenset(
    {"modified", "published", "affected", "aliases", "schema_version", "summary", "details"}
)
_MAX_ENTRIES: Final = 100_000
_URGENCY_KEYS: Final = ("urgency", "severity", "ubuntu_priority", "priority")


class OsvImporter(Importer):
    format = "osv"
    source = "osv"

    def recognizes(self, document: object) -> bool:
        if isinstance(document, list):
            return bool(document) and all(_looks_like_osv(item) for item in document[:3])
        return _looks_like_osv(document)

    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        if isinstance(document, list):
            for index, item in enumerate(document):
                try:
                    yield parse_osv_record(item, source=source, warn=warn, origin=origin)
                except InvalidAdvisory as exc:
                    warn(f"{origin}[{index}]: skipped: {exc.message}")
            return
        yield parse_osv_record(document, source=source, warn=warn, origin=origin)


def _looks_like_osv(document: object) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("id"), str)
        and not _OSV_KEYS.isdisjoint(document)
    )


def parse_osv_record(document: object, *, source: str, warn: Warn, origin: str) -> Advisory:
    """One OSV record as an :class:`Advisory`; raises :class:`InvalidAdvisory`."""
    record = f.mapping(document, "record")
    advisory_id = f.identifier(record.get("id"), "id")
    what = advisory_id

    cvss: list[Cvss] = []
    feed_severity = Severity.UNKNOWN
    for index, entry in enumerate(f.optional_sequence(record, "severity", what)):
        kind, score = _severity_entry(entry, f"{what}.severity[{index}]")
        if kind in _CVSS_TYPES:
            try:
                cvss.append(f.cvss_vector(score, f"{what}.severity[{index}]"))
            except InvalidAdvisory as exc:
                warn(f"{origin}: ignored {exc.message}")
        elif kind == "UBUNTU":
            feed_severity = max(feed_severity, Severity.parse(score))

    database_specific = f.extras(record.get("database_specific"), f"{what}.database_specific")
    rating = database_specific.get("severity")
    if isinstance(rating, str) and Severity.parse(rating) is not Severity.UNKNOWN:
        feed_severity = Severity.parse(rating)

    entries = f.optional_sequence(record, "affected", what)
    if len(entries) > _MAX_ENTRIES:
        raise InvalidAdvisory(f"{what}: more than {_MAX_ENTRIES} affected entries")
    affected = tuple(
        item
        for index, entry in enumerate(entries)
        if (item := _affected(entry, f"{what}.affected[{index}]", warn, origin)) is not None
    )

    severity = feed_severity
    if severity is Severity.UNKNOWN and cvss:
        newest = max(cvss, key=lambda c: c.version)
        severity = newest.severity
    if severity is Severity.UNKNOWN:
        severity = worst_severity(entry.severity for entry in affected)

    return Advisory(
        id=AdvisoryId(advisory_id),
        source=source,
        summary=f.optional_text(record, "summary", what).strip(),
        details=f.optional_text(record, "details", what).strip(),
        aliases=_ids(record, "aliases", what, exclude=advisory_id),
        related=_ids(record, "related", what, exclude=advisory_id),
        upstream=_ids(record, "upstream", what, exclude=advisory_id),
        severity=severity,
        cvss=tuple(cvss),
        published=f.timestamp(record.get("published")),
        modified=f.timestamp(record.get("modified")),
        withdrawn=f.timestamp(record.get("withdrawn")),
        references=_references(record, what),
        affected=affected,
        database_specific=database_specific,
    )


def _severity_entry(entry: object, what: str) -> tuple[str, str]:
    item = f.mapping(entry, what)
    kind = f.text(item.get("type"), f"{what}.type", limit=64).strip().upper()
    score = f.text(item.get("score"), f"{what}.score", limit=512).strip()
    return kind, score


def _ids(record: Mapping[str, Any], key: str, what: str, *, exclude: str) -> tuple[str, ...]:
    values = f.text_list(record, key, what, limit=f.MAX_ID)
    return f.unique([v.strip() for v in values if v.strip() and v.strip() != exclude])


def _references(record: Mapping[str, Any], what: str) -> tuple[Reference, ...]:
    references: list[Reference] = []
    for index, entry in enumerate(f.optional_sequence(record, "references", what)):
        item = f.mapping(entry, f"{what}.references[{index}]")
        url = f.text(item.get("url"), f"{what}.references[{index}].url", limit=f.MAX_URL)
        kind = item.get("type")
        kind_text = kind.strip().upper() if isinstance(kind, str) and len(kind) <= 32 else "WEB"
        if url.strip():
            references.append(Reference(type=kind_text or "WEB", url=url.strip()))
    return tuple(dict.fromkeys(references))


def _affected(entry: object, what: str, warn: Warn, origin: str) -> Affected | None:
    item = f.mapping(entry, what)
    package = item.get("package")
    if package is None:
        # OSV allows an entry that names only a git repository (upstream C projects);
        # without a package nothing installed can be matched to it.
        return None
    package = f.mapping(package, f"{what}.package")
    ecosystem = f.required_text(package, "ecosystem", f"{what}.package", limit=256)
    name = f.required_text(package, "name", f"{what}.package")
    purl = f.optional_text(package, "purl", f"{what}.package", limit=f.MAX_URL).strip() or None

    ranges: list[Range] = []
    for index, candidate in enumerate(f.optional_sequence(item, "ranges", what)):
        parsed = _range(candidate, f"{what}.ranges[{index}]", warn, origin)
        if parsed is not None:
            ranges.append(parsed)
    versions_raw = f.optional_sequence(item, "versions", what)
    if len(versions_raw) > _MAX_ENTRIES:
        raise InvalidAdvisory(f"{what}: more than {_MAX_ENTRIES} versions")
    versions = f.unique([f.version(v, f"{what}.versions[{i}]") for i, v in enumerate(versions_raw)])

    version_ranges = [r for r in ranges if r.type is not RangeType.GIT]
    fixed = f.unique([value for r in version_ranges for value in r.values(EventKind.FIXED)])
    if fixed:
        fix_state = FixState.FIXED
    elif version_ranges or versions:
        fix_state = FixState.NOT_FIXED
    else:
        fix_state = FixState.UNKNOWN

    ecosystem_specific = f.extras(item.get("ecosystem_specific"), f"{what}.ecosystem_specific")
    database_specific = f.extras(item.get("database_specific"), f"{what}.database_specific")
    return Affected(
        ecosystem=ecosystem,
        name=name,
        ranges=tuple(ranges),
        versions=versions,
        fix_state=fix_state,
        fixed_versions=fixed,
        severity=_entry_severity(item, ecosystem_specific, what, warn, origin),
        purl=purl,
        ecosystem_specific=ecosystem_specific,
        database_specific=database_specific,
    )


def _range(candidate: object, what: str, warn: Warn, origin: str) -> Range | None:
    item = f.mapping(candidate, what)
    kind_text = f.text(item.get("type"), f"{what}.type", limit=64).strip().upper()
    kind = _OSV_RANGE_TYPES.get(kind_text)
    if kind is None:
        warn(f"{origin}: ignored {what}: unknown range type {kind_text[:40]!r}")
        return None
    raw_events = f.sequence(item.get("events"), f"{what}.events")
    if len(raw_events) > _MAX_ENTRIES:
        raise InvalidAdvisory(f"{what}: more than {_MAX_ENTRIES} events")
    events: list[Event] = []
    for index, raw in enumerate(raw_events):
        event = f.mapping(raw, f"{what}.events[{index}]")
        for key, value in event.items():
            event_kind = _OSV_EVENTS.get(key)
            if event_kind is not None:
                events.append(Event(event_kind, f.version(value, f"{what}.events[{index}]")))
    if not events:
        raise InvalidAdvisory(f"{what} has no events")
    repo = item.get("repo")
    repo_text = f.text(repo, f"{what}.repo", limit=f.MAX_URL).strip() if repo else None
    return Range(type=kind, events=tuple(events), repo=repo_text or None)


def _entry_severity(
    item: Mapping[str, Any],
    ecosystem_specific: Mapping[str, Any],
    what: str,
    warn: Warn,
    origin: str,
) -> Severity | None:
    found: list[Severity] = []
    for index, entry in enumerate(f.optional_sequence(item, "severity", what)):
        kind, score = _severity_entry(entry, f"{what}.severity[{index}]")
        if kind in _CVSS_TYPES:
            try:
                found.append(f.cvss_vector(score, f"{what}.severity[{index}]").severity)
            except InvalidAdvisory as exc:
                warn(f"{origin}: ignored {exc.message}")
        else:
            found.append(Severity.parse(score))
    for key in _URGENCY_KEYS:
        value = ecosystem_specific.get(key)
        if isinstance(value, str):
            found.append(Severity.parse(value))
    rated = [s for s in found if s is not Severity.UNKNOWN]
    return max(rated) if rated else None
