"""Checked access to the fields of decoded feed documents.

Every accessor either returns a value of the promised type or raises
:class:`~stockade.vulndb.errors.InvalidAdvisory` naming the field, so importers read
like the schema they follow and a wrong shape never turns into a TypeError later.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from stockade.core.advisory import Cvss
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.reading import check_bounded

MAX_ID: Final = 256
MAX_NAME: Final = 1024
MAX_TEXT: Final = 1024 * 1024
MAX_VERSION: Final = 1024
MAX_URL: Final = 8192

_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+\-/]*")


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidAdvisory(f"{what} is not a mapping")
    return value


def optional_mapping(document: Mapping[str, Any], key: str, what: str) -> Mapping[str, Any]:
    value = document.get(key)
    if value is None:
        return {}
    return mapping(value, f"{what}.{key}")


def sequence(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidAdvisory(f"{what} is not a list")
    return value


def optional_sequence(document: Mapping[str, Any], key: str, what: str) -> list[Any]:
    value = document.get(key)
    if value is None:
        return []
    return sequence(value, f"{what}.{key}")


def text(value: object, what: str, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidAdvisory(f"{what} is not a string")
    if len(value) > limit:
        raise InvalidAdvisory(f"{what} is longer than {limit} characters")
    return value


def optional_text(
    document: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_TEXT
) -> str:
    value = document.get(key)
    if value is None:
        return ""
    return text(value, f"{what}.{key}", limit=limit)


def required_text(
    document: Mapping[str, Any], key: str, what: str, *, limit: int = MAX_NAME
) -> str:
    value = text(document.get(key), f"{what}.{key}", limit=limit).strip()
    if not value:
        raise InvalidAdvisory(f"{what}.{key} is empty")
    return value


def text_list(document: Mapping[str, Any], key: str, what: str, *, limit: int) -> tuple[str, ...]:
    return tuple(
        text(item, f"{what}.{key}[{index}]", limit=limit)
        for index, item in enumerate(optional_sequence(document, key, what))
    )


def version(value: object, what: str) -> str:
    """A version string; YAML integers are accepted, other scalars are not (a YAML float
    such as ``1.10`` has already lost its last digit)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    result = text(value, what, limit=MAX_VERSION).strip()
    if not result:
        raise InvalidAdvisory(f"{what} is empty")
    return result


def identifier(value: object, what: str) -> str:
    result = text(value, what, limit=MAX_ID).strip()
    if not _ID_PATTERN.fullmatch(result):
        raise InvalidAdvisory(f"{what} {result[:80]!r} is not an advisory identifier")
    return result


def is_identifier(value: str) -> bool:
    return len(value) <= MAX_ID and _ID_PATTERN.fullmatch(value) is not None


_PLACEHOLDER_BEFORE: Final = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)


def timestamp(value: object) -> dt.datetime | None:
    """An RFC 3339 time (or a YAML date/datetime) as an aware UTC datetime, or None when
    the value is missing or not a time; feeds get dates wrong often enough that a bad
    one should not cost the whole advisory. Placeholders (Go's ``0001-01-01``, the
    ``1970-01-01`` of some npm advisories) are None too."""
    moment = _moment(value)
    if moment is None or moment < _PLACEHOLDER_BEFORE:
        return None
    return moment


def _moment(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None


def extras(value: object, what: str) -> Mapping[str, Any]:
    """A free-form ``*_specific`` mapping, kept only while it is small and JSON-shaped."""
    if value is None:
        return {}
    found = mapping(value, what)
    check_bounded(found, max_nodes=10_000, max_depth=16, name=what)
    _check_json_shaped(found, what)
    return found


def _check_json_shaped(value: object, what: str) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise InvalidAdvisory(f"{what} has a key that is not a string")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidAdvisory(f"{what} holds a number JSON cannot write")
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > 2**63:
                raise InvalidAdvisory(f"{what} holds an integer too large to store")
        elif not (item is None or isinstance(item, str | bool)):
            raise InvalidAdvisory(f"{what} holds a {type(item).__name__}, not a JSON value")


def cvss_vector(vector: object, what: str) -> Cvss:
    text_vector = text(vector, what, limit=512)
    try:
        return Cvss.from_vector(text_vector)
    except ValueError as exc:
        raise InvalidAdvisory(f"{what}: {exc}") from exc


def cvss_score(major: int, value: object, what: str) -> Cvss:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidAdvisory(f"{what} is not a number")
    try:
        return Cvss.from_score(major, float(value))
    except (ValueError, OverflowError) as exc:
        raise InvalidAdvisory(f"{what}: {exc}") from exc


def unique(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The values without repeats, in first-seen order."""
    return tuple(dict.fromkeys(values))
