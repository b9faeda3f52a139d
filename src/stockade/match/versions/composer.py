"""Composer / Packagist versions, ordered as PHP's ``version_compare`` orders them.

A leading ``v`` is dropped; ``-``, ``_`` and ``+`` become ``.``; a ``.`` is put wherever
digits meet non-digits. The parts then compare one by one: numbers as numbers, words by
their stability (``dev`` and unknown words < ``alpha``/``a`` < ``beta``/``b`` <
``RC``/``rc`` < a number < ``pl``/``p``), matched by prefix as PHP does. When one version
runs out, a number left on the other side makes it greater, and a word left over is
ranked against a number.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

_SPECIAL = re.compile(r"[-_+]")
_WORD_THEN_DIGIT = re.compile(r"([^\d.])(\d)")
_DIGIT_THEN_WORD = re.compile(r"(\d)([^\d.])")
_VALID = re.compile(r"[0-9A-Za-z.+_#-]+")

_NUMBER_RANK = 4
_WORD_RANKS = (("dev", 0), ("a", 1), ("b", 2), ("rc", 3), ("#", _NUMBER_RANK), ("p", 5))
_END = (_NUMBER_RANK, 0, 0)
"""Where a version runs out: below any number, ranked like a number against words."""


def _word_rank(word: str) -> int:
    if word.startswith("RC"):
        return 3
    for prefix, rank in _WORD_RANKS:
        if word.startswith(prefix):
            return rank
    return 0


def parts(version: str) -> list[str]:
    """The ``.``-separated parts ``version_compare`` walks through."""
    text = version.strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    text = _SPECIAL.sub(".", text)
    text = _WORD_THEN_DIGIT.sub(r"\1.\2", text)
    text = _DIGIT_THEN_WORD.sub(r"\1.\2", text)
    return text.split(".")


class ComposerScheme(VersionScheme):
    """PHP ``version_compare`` ordering as used for Packagist advisories."""

    name = "composer"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        if not _VALID.fullmatch(text):
            raise self.invalid(version, "a character outside A-Z a-z 0-9 . - _ +")
        key: list[tuple[int, int, int]] = []
        for part in parts(text):
            if part.isdigit() and part.isascii():
                key.append((_NUMBER_RANK, 1, int(part)))
            elif part.startswith("#"):
                # A bare "#" is PHP's placeholder for "any number": it matches the
                # end of the other version, so it carries no weight of its own.
                continue
            else:
                key.append((_word_rank(part), 0, 0))
        key.append(_END)
        return tuple(key)
