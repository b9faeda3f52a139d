"""Debian and Ubuntu package versions, ordered as ``dpkg --compare-versions`` orders them.

A version is ``[epoch:]upstream[-revision]``. Upstream and revision are compared the
same way: alternately a run of non-digits, character by character with ``~`` before the
end of the run, the end before letters and letters before everything else, then a run of
digits as a number. A missing revision equals revision ``0``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from stockade.match.versions.interface import VersionScheme

_PART = re.compile(r"(\D*)(\d*)")
_UPSTREAM_CHARS = re.compile(r"[A-Za-z0-9.+~:-]*")
_REVISION_CHARS = re.compile(r"[A-Za-z0-9.+~]*")


def _char_weight(char: str) -> int:
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


_WEIGHTS: dict[str, int] = {chr(code): _char_weight(chr(code)) for code in range(128)}
_PAD = ((0,), 0)
"""A run pair that compares equal to the end of a string: no characters, number 0."""


@lru_cache(maxsize=4096)
def _weights(run: str) -> tuple[int, ...]:
    # The trailing 0 stands for the end of the run, which sorts after "~" and before
    # everything else; with it, plain tuple comparison gives dpkg's order.
    return (*(_WEIGHTS.get(c) or ord(c) + 256 for c in run), 0)


def _fragment_key(fragment: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    pairs = [
        (_weights(text), int(digits) if digits else 0) for text, digits in _PART.findall(fragment)
    ]
    # dpkg pads the shorter string with empty runs. Only the first pair can equal that
    # padding (every later one starts with a non-digit); drop trailing padding after it
    # and end with one pad, so that a shorter key compares as if padded.
    while len(pairs) > 1 and pairs[-1] == _PAD:
        pairs.pop()
    pairs.append(_PAD)
    return tuple(pairs)


class DpkgScheme(VersionScheme):
    """Debian policy §5.6.12 ordering (Debian, Ubuntu and their derivatives)."""

    name = "dpkg"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        epoch = 0
        epoch_text, colon, rest = text.partition(":")
        if colon:
            if not epoch_text.isdigit() or not epoch_text.isascii():
                raise self.invalid(version, "the epoch is not a number")
            epoch = int(epoch_text)
            text = rest
        upstream, hyphen, revision = text.rpartition("-")
        if not hyphen:
            upstream, revision = text, ""
        elif not revision:
            raise self.invalid(version, "the revision after '-' is empty")
        if not upstream:
            raise self.invalid(version, "the upstream version is empty")
        if not upstream[0].isdigit():
            raise self.invalid(version, "the upstream version does not start with a digit")
        if not _UPSTREAM_CHARS.fullmatch(upstream) or not _REVISION_CHARS.fullmatch(revision):
            raise self.invalid(version, "a character outside A-Z a-z 0-9 . + ~ - : (or a space)")
        return (epoch, _fragment_key(upstream), _fragment_key(revision))
