"""Python package versions: PEP 440 through ``packaging``, with a fallback for legacy strings.

PyPI still serves releases whose versions predate PEP 440 ("0.9-doduo", "2004d").
They keep the ordering setuptools gave them: every legacy version sorts before every
PEP 440 version, and legacy versions compare by their parts, with numbers padded so
they compare as numbers and the usual pre-release words ranked below a final release.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from stockade.match.versions.interface import VersionScheme

_LEGACY_PART = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_ALIASES = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}
_LEGACY_CHARS = re.compile(r"[\x21-\x7e]+")
_NUMBER_WIDTH = 8
_FINAL = "*final"
"""Ends every legacy version; pre-release words sort below it, post-release words above."""


def _legacy_parts(version: str) -> tuple[str, ...]:
    parts: list[str] = []
    for raw in _LEGACY_PART.split(version.lower()):
        part = _LEGACY_ALIASES.get(raw, raw)
        if not part or part == ".":
            continue
        # Numbers are zero-padded so that string comparison orders them numerically;
        # words get a "*" so that they sort before any number.
        piece = part.zfill(_NUMBER_WIDTH) if part[0].isdigit() else "*" + part
        if piece.startswith("*"):
            if piece < _FINAL:
                # a pre-release word ends the previous "-" section
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "0" * _NUMBER_WIDTH:
                parts.pop()
        parts.append(piece)
    while parts and parts[-1] == "0" * _NUMBER_WIDTH:
        parts.pop()
    parts.append(_FINAL)
    return tuple(parts)


class Pep440Scheme(VersionScheme):
    """PEP 440 ordering (``packaging.version.Version``); legacy strings sort first."""

    name = "pep440"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        try:
            return (1, Version(text))
        except PackagingInvalidVersion:
            pass
        if not _LEGACY_CHARS.fullmatch(text):
            raise self.invalid(version, "neither PEP 440 nor a printable legacy version")
        return (0, _legacy_parts(text))
