"""Alpine (apk) package versions: ``number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}``.

Parts compare in order: the numbers (the first as a number; a later one with a leading
zero compares as a string, as in Gentoo), the optional letter, the suffixes
(``alpha < beta < pre < rc < no suffix < cvs < svn < git < hg < p``), then the ``-r``
build number. The commit hash is ignored. A string with anything left over is not a
well-formed apk version; it sorts just below the same version without the leftover.
Leftovers in the build section (after ``-``) are otherwise ignored; two versions with
leftovers elsewhere that agree on everything else compare as plain strings.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

_NUMBERS = re.compile(r"(?:[0-9]+\.?)*")
_LETTER = re.compile(r"[a-z]")
_SUFFIX = re.compile(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)([0-9]*)")
_HASH = re.compile(r"~[0-9a-f]+")
_BUILD = re.compile(r"-r([0-9]*)")

_SUFFIX_ORDER = ("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p")
_SUFFIX_WEIGHT = {name: weight for weight, name in enumerate(_SUFFIX_ORDER)}
_NO_SUFFIX = (_SUFFIX_WEIGHT[""], 0)


def _numbers_key(numbers: str) -> list[Any]:
    parts = numbers.split(".") if numbers else []
    key: list[Any] = []
    for index, part in enumerate(parts):
        if index == 0:
            key.append(int(part or "0"))
        elif part.startswith("0") or not part:
            # Gentoo's rule: a later component with a leading zero is a decimal
            # fraction, so it compares as text ("01" < "1"), below every plain number.
            key.append((0, part))
        else:
            key.append((1, int(part)))
    # A missing component compares as zero: drop trailing zero components so that
    # "1.0" and "1" have the same key and a shorter list compares as if padded.
    while len(key) > 1 and key[-1][0] == 0 and not key[-1][1].strip("0"):
        key.pop()
    if key == [0]:
        key.pop()
    return key


class ApkScheme(VersionScheme):
    """apk-tools ordering, lenient about malformed versions as ``apk version -t`` is."""

    name = "apk"

    def _parse(self, version: str) -> Any:
        rest = version.strip()
        numbers = _NUMBERS.match(rest)
        numbers_text = numbers.group(0) if numbers else ""
        rest = rest[len(numbers_text) :]
        letter = ""
        if _LETTER.match(rest):
            letter, rest = rest[0], rest[1:]
        suffixes: list[tuple[int, int]] = []
        for match in _SUFFIX.finditer(rest):
            suffixes.append((_SUFFIX_WEIGHT[match.group(1)], int(match.group(2) or "0")))
            if rest.startswith(match.group(0)):
                rest = rest[match.end() - match.start() :]
        suffixes.append(_NO_SUFFIX)
        hash_match = _HASH.match(rest)
        if hash_match:
            rest = rest[hash_match.end() :]
        build = 0
        build_match = _BUILD.match(rest)
        if build_match:
            build = int(build_match.group(1) or "0")
            rest = rest[build_match.end() :]
        tail: tuple[Any, ...] = (1,)
        if (build_match and rest) or rest.startswith("-"):
            # junk in the build section is ignored, but puts the version just below
            # the same version without it
            tail = (0, "")
        elif rest:
            # junk anywhere else: same place, and such versions order as plain strings
            tail = (0, version)
        return (tuple(_numbers_key(numbers_text)), letter, tuple(suffixes), build, *tail)
