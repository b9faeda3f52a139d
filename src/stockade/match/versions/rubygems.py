"""RubyGems versions, ordered as ``Gem::Version#<=>`` orders them.

A version is cut into numbers and runs of letters; ``-`` means ``.pre.``. Trailing zeros
are dropped from the release part and from the pre-release part (which starts at the
first run of letters). Segments compare left to right, the shorter padded with zeros;
a string sorts before any number and strings compare as ASCII, so any version with
letters is a pre-release of the same numbers without them.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

# Gem::Version insists on a leading number and dots between letters and numbers; real
# advisories and lockfiles hold versions like "1beta" that gems order just the same.
_VALID = re.compile(r"[0-9A-Za-z.-]*[0-9][0-9A-Za-z.-]*")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")

_STRING, _ZERO, _NUMBER = range(3)
_END = (_ZERO, 0, "")
"""The end of the segments: it compares like the zeros the shorter version is padded with."""


def segments(version: str) -> list[int | str]:
    """The segments of a version as Gem::Version sees them (numbers and letter runs)."""
    text = version.strip().replace("-", ".pre.")
    return [int(s) if s.isdigit() else s for s in _SEGMENT.findall(text)]


def canonical_segments(version: str) -> list[int | str]:
    """Segments with trailing zeros dropped from the release and the pre-release part."""
    parts = segments(version)
    first_string = next((i for i, s in enumerate(parts) if isinstance(s, str)), len(parts))
    release, prerelease = parts[:first_string], parts[first_string:]
    while release and release[-1] == 0:
        release.pop()
    while prerelease and prerelease[-1] == 0:
        prerelease.pop()
    return release + prerelease


def _key(canonical: list[int | str]) -> tuple[tuple[int, int, str], ...]:
    # Comparing with zero padding is not plain tuple comparison: a zero segment is
    # equal to the padding, and what decides is the next segment that is not zero.
    # So each zero records whether the next non-zero segment is a string (the version
    # is then below the padding) or a number (above it); the end compares as padding.
    encoded: list[tuple[int, int, str]] = []
    next_sign = 0
    for segment in reversed(canonical):
        if isinstance(segment, str):
            encoded.append((_STRING, 0, segment))
            next_sign = -1
        elif segment == 0:
            encoded.append((_ZERO, next_sign, ""))
        else:
            encoded.append((_NUMBER, segment, ""))
            next_sign = 1
    encoded.reverse()
    encoded.append(_END)
    return tuple(encoded)


class RubyGemsScheme(VersionScheme):
    """``Gem::Version`` ordering."""

    name = "rubygems"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        if not _VALID.fullmatch(text):
            raise self.invalid(version, "expected numbers and letters separated by '.' or '-'")
        return _key(canonical_segments(text))


def release(version: str) -> str:
    """``Gem::Version#release``: the version without its pre-release part."""
    parts = segments(version)
    first_string = next((i for i, s in enumerate(parts) if isinstance(s, str)), None)
    if first_string is None:
        return version.strip()
    return ".".join(str(s) for s in parts[:first_string]) or "0"


def bump(version: str) -> str:
    """``Gem::Version#bump``: the upper bound of ``~> version`` ("5.2.4" -> "5.3")."""
    numbers = segments(release(version))
    if len(numbers) > 1:
        numbers.pop()
    if not numbers:
        numbers = [0]
    numbers[-1] = int(numbers[-1]) + 1  # release() left numbers only
    return ".".join(str(s) for s in numbers)
