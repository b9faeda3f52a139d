"""Maven versions, ordered by Maven's published version order specification.

A version is cut into tokens at ``.`` and ``-`` and wherever digits meet non-digits (such
a transition counts as ``-``); each token remembers the separator before it. Qualifiers
are case-insensitive; ``cr`` means ``rc``; ``ga``, ``final`` and ``release`` mean the
empty qualifier; ``a``, ``b`` and ``m`` directly followed by digits mean ``alpha``,
``beta`` and ``milestone``. Trailing null tokens (``0``, empty, ``final``, ``ga``) are
dropped at the end and before each ``-``.

Tokens with the same separator compare numbers as numbers, a number above a qualifier,
and qualifiers as ``alpha < beta < milestone < rc < snapshot < "" < sp`` < any other (which
compare alphabetically). Tokens with different separators order as
``.qualifier < -qualifier < -number < .number``. The shorter version is padded with null
tokens taking the separator of the other side (``.0``, or ``-``-empty).
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Any

from stockade.match.versions.interface import VersionScheme

_SEPARATORS = re.compile(r"([.-])")
_TRANSITION = re.compile(r"[0-9]+|[^0-9]+")
_KEYWORD_ORDER = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_KEYWORDS = {name: rank for rank, name in enumerate(_KEYWORD_ORDER)}
_UNKNOWN = len(_KEYWORDS)
_ALIASES = {"cr": "rc", "ga": "", "final": "", "release": ""}
_SHORTHANDS = {"a": "alpha", "b": "beta", "m": "milestone"}
_NULL_VALUES = frozenset({"0", "", "final", "ga"})

_Token = tuple[str, str]
"""(separator, value): separator is "." or "-"; numeric values have no leading zeros."""


def _tokens(version: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    pieces = _SEPARATORS.split(version)
    # pieces alternate text, separator, text, ...; the first text has no separator
    for index in range(0, len(pieces), 2):
        separator = pieces[index - 1] if index else "."
        parts = _TRANSITION.findall(pieces[index]) or [""]
        for position, raw in enumerate(parts):
            value = raw.lower() or "0"
            value = _ALIASES.get(value, value)
            if position + 1 < len(parts):
                value = _SHORTHANDS.get(value, value)
            if _is_number(value):
                value = str(int(value))
            tokens.append((separator if position == 0 else "-", value))
    _trim(tokens)
    return tuple(tokens)


def _trim(tokens: list[_Token]) -> None:
    index = len(tokens) - 1
    while index > 0:
        if tokens[index][1] in _NULL_VALUES:
            del tokens[index]
            index -= 1
            continue
        while index >= 0 and tokens[index][0] != "-":
            index -= 1
        index -= 1


def _is_number(value: str) -> bool:
    return value.isdigit() and value.isascii()


def _pad_for(token: _Token) -> tuple[str, str, bool]:
    if token[0] == ".":
        # "sp" is the one qualifier above the empty one; padding must sort below it
        return (".", "" if token[1] == "sp" else "0", True)
    return ("-", "", True)


def _separator_rank(separator: str, value: str) -> int:
    if _is_number(value):
        return 2 if separator == "-" else 3
    return 1 if separator == "-" else 0


def _token_less(left: tuple[str, str, bool], right: tuple[str, str, bool]) -> bool:
    left_sep, left_value, left_null = left
    right_sep, right_value, right_null = right
    if left_sep != right_sep:
        return _separator_rank(left_sep, left_value) < _separator_rank(right_sep, right_value)
    left_number, right_number = _is_number(left_value), _is_number(right_value)
    if left_number and right_number:
        return int(left_value) < int(right_value)
    if left_number and not left_null:
        return False
    if right_number and not right_null:
        return True
    left_rank = _KEYWORDS.get(left_value, _UNKNOWN)
    right_rank = _KEYWORDS.get(right_value, _UNKNOWN)
    if left_rank == right_rank == _UNKNOWN:
        return left_value < right_value
    return left_rank < right_rank


def _compare_tokens(left: tuple[_Token, ...], right: tuple[_Token, ...]) -> int:
    if left == right:
        return 0
    for index in range(max(len(left), len(right))):
        a = (*left[index], False) if index < len(left) else _pad_for(right[index])
        b = (*right[index], False) if index < len(right) else _pad_for(left[index])
        if a[:2] == b[:2]:
            continue
        return -1 if _token_less(a, b) else 1
    return 0


@total_ordering
class MavenKey:
    """A parsed Maven version; compares by the specification, hashes by its tokens."""

    __slots__ = ("tokens",)

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self.tokens = tokens

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return self.tokens == other.tokens

    def __lt__(self, other: MavenKey) -> bool:
        return _compare_tokens(self.tokens, other.tokens) < 0

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        return f"MavenKey({''.join(sep + value for sep, value in self.tokens)[1:]!r})"


class MavenScheme(VersionScheme):
    """Maven ``ComparableVersion`` ordering, as written in Maven's version specification."""

    name = "maven"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        if any(c.isspace() for c in text):
            raise self.invalid(version, "embedded whitespace")
        return MavenKey(_tokens(text))
