"""Semantic Versioning 2.0 precedence (npm, crates.io, Go modules, Hex, OSV ``SEMVER`` ranges).

``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``. Build metadata never affects the order, so
Go's ``+incompatible`` is ignored; Go pseudo-versions (``v0.0.0-20191109021931-daa7c04131f5``)
are pre-releases and order by their timestamp as semver already does. Parsing is lenient
where real data is: a leading ``v``, fewer or more than three numbers (missing ones are
zero), numbers too large for 64 bits.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

_SEMVER = re.compile(
    r"[vV=]?\s*(?P<core>[0-9]+(?:\.[0-9]+)*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_RELEASE = (1,)
"""Sorts after every pre-release tuple, which starts with 0."""


def prerelease_key(prerelease: str) -> tuple[Any, ...]:
    """Identifiers compare left to right: numbers as numbers and below words; more wins."""
    return tuple(
        (0, int(identifier)) if identifier.isdigit() else (1, identifier)
        for identifier in prerelease.split(".")
    )


class SemverScheme(VersionScheme):
    """SemVer 2.0 ordering; ``name`` says which ecosystem asked for it."""

    def __init__(self, name: str = "semver") -> None:
        self.name = name
        super().__init__()

    def _parse(self, version: str) -> Any:
        match = _SEMVER.fullmatch(version.strip())
        if not match:
            raise self.invalid(version, "expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")
        numbers = [int(part) for part in match.group("core").split(".")]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()
        pre = match.group("pre")
        return (tuple(numbers), (0, prerelease_key(pre)) if pre is not None else _RELEASE)
