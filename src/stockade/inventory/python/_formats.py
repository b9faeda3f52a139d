"""Shared helpers of the Python parsers: decoding untrusted bytes, PEP 440/508 checks.

Every helper raises :class:`CatalogError` for input it cannot read, so a parser built on
them lets nothing else escape.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from stockade.core.errors import CatalogError

# PEP 440, the permissive spelling pip accepts (``v1.0``, ``1.0-post1``, ``1.0.RC2``).
_PEP440_VERSION = re.compile(
    r"""
    ^v?
    (?:[0-9]+!)?                                          # epoch
    [0-9]+(?:\.[0-9]+)*                                   # release segments
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?   # pre-release
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?         # post-release
    (?:[-_.]?dev[-_.]?[0-9]*)?                            # development release
    (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?                   # local version label
    $
    """,
    re.VERBOSE | re.IGNORECASE,
)

# PEP 508 project names: letters, digits and . _ - , starting and ending alphanumeric.
_PEP508_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def is_pep440_version(text: str) -> bool:
    return bool(_PEP440_VERSION.match(text))


def is_project_name(text: str) -> bool:
    return bool(_PEP508_NAME.match(text))


def decode_text(data: bytes, *, where: str) -> str:
    """Text of a manifest written by any common editor on any platform.

    pip reads requirement files in the encoding their byte-order mark names (Windows
    tools write UTF-16 with a BOM); without a BOM the file is UTF-8. Bad bytes become
    U+FFFD rather than failing the whole file: one odd comment must not hide every pin.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        if len(data) % 2:
            raise CatalogError(
                f"{where}: UTF-16 byte-order mark but an odd number of bytes",
                hint="the file is truncated or not really UTF-16",
            )
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def load_json_object(data: bytes, *, where: str, what: str) -> dict[str, Any]:
    """A JSON document that must be an object at the top."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError of the raw bytes.
        raise CatalogError(
            f"{where}: not a valid {what}: {_first_line(exc)}",
            hint=f"the {what} is corrupt or truncated; regenerate it",
        ) from exc
    if not isinstance(document, dict):
        raise CatalogError(f"{where}: a {what} is a JSON object, found {type(document).__name__}")
    return document


def load_toml(data: bytes, *, where: str, what: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8-sig")
        return tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise CatalogError(
            f"{where}: not a valid {what}: {_first_line(exc)}",
            hint=f"the {what} is corrupt or truncated; regenerate it",
        ) from exc


def table_list(document: dict[str, Any], key: str, *, where: str) -> list[dict[str, Any]]:
    """``[[key]]`` tables of a TOML document (an absent key is an empty list)."""
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CatalogError(f"{where}: '{key}' must be an array of tables")
    return value


def text_field(table: dict[str, Any], key: str, *, where: str) -> str:
    """A string field; absent is empty, any other type is malformed."""
    value = table.get(key, "")
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string, found {type(value).__name__}")
    return value.strip()


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200] if text.strip() else type(exc).__name__
