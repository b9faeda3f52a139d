"""The store's encoding of an :class:`~stockade.core.advisory.Advisory`: compact JSON, zlib'd.

Keys are short and defaults are left out, because the store holds hundreds of thousands
of records and the matcher decodes thousands per scan. The layout is private to the
store; :data:`CODEC_VERSION` changes with it (and the store's schema version with that).
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Mapping
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
)
from stockade.vulndb.errors import VulnDBError

CODEC_VERSION: Final = 1
_LEVEL: Final = 6
# Plain dict look-ups: calling an Enum class is several times slower, and the matcher
# decodes thousands of events per scan.
_EVENT_KINDS: Final = {kind.value: kind for kind in EventKind}
_RANGE_TYPES: Final = {kind.value: kind for kind in RangeType}
_FIX_STATES: Final = {state.value: state for state in FixState}
_SEVERITIES: Final = {int(severity): severity for severity in Severity}


def encode(advisory: Advisory) -> bytes:
    record: dict[str, Any] = {"v": CODEC_VERSION, "id": advisory.id, "src": advisory.source}
    _put(record, "sum", advisory.summary)
    _put(record, "det", advisory.details)
    _put(record, "ali", list(advisory.aliases))
    _put(record, "rel", list(advisory.related))
    _put(record, "up", list(advisory.upstream))
    _put(record, "sev", int(advisory.severity))
    _put(record, "cvss", [[c.version, c.vector, c.base_score] for c in advisory.cvss])
    _put(record, "pub", _time(advisory.published))
    _put(record, "mod", _time(advisory.modified))
    _put(record, "wd", _time(advisory.withdrawn))
    _put(record, "ref", [[r.type, r.url] for r in advisory.references])
    _put(record, "aff", [_affected(a) for a in advisory.affected])
    _put(record, "ds", dict(advisory.database_specific))
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return zlib.compress(text.encode(), _LEVEL)


def _affected(entry: Affected) -> dict[str, Any]:
    item: dict[str, Any] = {"e": entry.ecosystem, "n": entry.name}
    _put(item, "r", [_range(r) for r in entry.ranges])
    _put(item, "v", list(entry.versions))
    if entry.fix_state is not FixState.UNKNOWN:
        item["fs"] = entry.fix_state.value
    _put(item, "fv", list(entry.fixed_versions))
    if entry.severity is not None:
        item["s"] = int(entry.severity)
    _put(item, "p", entry.purl)
    _put(item, "es", dict(entry.ecosystem_specific))
    _put(item, "ds", dict(entry.database_specific))
    return item


def _range(entry: Range) -> list[Any]:
    encoded: list[Any] = [entry.type.value, [[e.kind.value, e.value] for e in entry.events]]
    if entry.repo:
        encoded.append(entry.repo)
    return encoded


def _put(record: dict[str, Any], key: str, value: object) -> None:
    if value:
        record[key] = value


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def decode(blob: bytes) -> Advisory:
    """The advisory a blob from :func:`encode` holds; :class:`VulnDBError` if damaged."""
    try:
        record = json.loads(zlib.decompress(blob))
        if record.get("v") != CODEC_VERSION:
            raise VulnDBError(
                f"advisory record format {record.get('v')!r} is not {CODEC_VERSION}",
                hint="the store was written by another Stockade version; import again",
            )
        return Advisory(
            id=AdvisoryId(record["id"]),
            source=record["src"],
            summary=record.get("sum", ""),
            details=record.get("det", ""),
            aliases=tuple(record.get("ali", ())),
            related=tuple(record.get("rel", ())),
            upstream=tuple(record.get("up", ())),
            severity=_SEVERITIES[record.get("sev", 0)],
            cvss=tuple(
                Cvss(version, vector, score) for version, vector, score in record.get("cvss", ())
            ),
            published=_parse_time(record.get("pub")),
            modified=_parse_time(record.get("mod")),
            withdrawn=_parse_time(record.get("wd")),
            references=tuple(Reference(kind, url) for kind, url in record.get("ref", ())),
            affected=tuple(_decode_affected(item) for item in record.get("aff", ())),
            database_specific=record.get("ds", {}),
        )
    except VulnDBError:
        raise
    except (zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VulnDBError(
            f"a stored advisory record is damaged: {exc}",
            hint="delete the store file and import the feeds again",
        ) from exc


def _decode_affected(item: Mapping[str, Any]) -> Affected:
    severity = item.get("s")
    return Affected(
        ecosystem=item["e"],
        name=item["n"],
        ranges=tuple(_decode_range(r) for r in item.get("r", ())),
        versions=tuple(item.get("v", ())),
        fix_state=_FIX_STATES[item.get("fs", FixState.UNKNOWN.value)],
        fixed_versions=tuple(item.get("fv", ())),
        severity=None if severity is None else _SEVERITIES[severity],
        purl=item.get("p"),
        ecosystem_specific=item.get("es", {}),
        database_specific=item.get("ds", {}),
    )


def _decode_range(encoded: list[Any]) -> Range:
    kind, events, *rest = encoded
    return Range(
        type=_RANGE_TYPES[kind],
        events=tuple(Event(_EVENT_KINDS[k], value) for k, value in events),
        repo=rest[0] if rest else None,
    )


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
