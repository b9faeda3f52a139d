"""Literal anchors: where in a text a pattern can possibly start to match.

Python's ``re`` tries a pattern at every position of the text. For gitleaks' typical
``(?i)[\\w.-]{0,50}?(?:adafruit)(?:[ \\t\\w.-]{0,20})…`` that is fifty steps of the lazy
prefix at every character before it even looks for ``adafruit`` — under one megabyte a
second. RE2 does not care (it runs a DFA), but the pure-Python engine needs help.

Most patterns contain a run of items that can only match one of a few literal strings
(``adafruit``, ``ghp_``, ``-----begin``) at a bounded distance from the start of the
match. An :class:`Anchor` records those strings (lowercased, every case variant
included) and the distance. The Python engine then finds the literals with ``str.find``
and tries the pattern only at the few start positions that could reach one of them,
in increasing order — so it finds exactly the matches, in exactly the order, that a full
scan finds (``engine.PythonPattern.finditer`` gives the argument).

Pure: trees in, anchors out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from stockade.compliance.secrets.syntax import (
    MAX_CODEPOINT,
    Alternate,
    AnyChar,
    Assertion,
    CharClass,
    Concat,
    Empty,
    Group,
    Literal,
    Node,
    Ranges,
    Regex,
    RegexSyntaxError,
    Repeat,
    class_ranges,
    fold_orbit,
    normalize,
)

MAX_LITERALS: Final = 64
"""More variants than this and the search for them costs more than it saves."""
MIN_LITERAL_LENGTH: Final = 2
MAX_CLASS_EXPANSION: Final = 4
MAX_SMALL_REPEAT: Final = 3


@dataclass(frozen=True, slots=True)
class Anchor:
    """Every match contains one of ``literals`` starting ``min_before``…``max_before``
    characters after the start of the match (in the lowered text)."""

    literals: tuple[str, ...]
    min_before: int
    max_before: int
    prefix_chars: Ranges | None
    """When the part before the anchor only matches characters, the set of them: a start
    position is possible only if every character from it up to the anchor is in the set."""


def lower_char(ch: str) -> str:
    """Lowercase one character without changing the length of the text."""
    low = ch.lower()
    return low if len(low) == 1 else ch


def lower_text(text: str) -> str:
    """``text`` lowercased character by character, so that offsets stay the same."""
    low = text.lower()
    if len(low) == len(text):
        return low  # no character grew, so none moved
    return "".join(lower_char(ch) for ch in text)


def find_anchor(regex: Regex) -> Anchor | None:
    """The most selective anchor of ``regex``, or None when it has none worth using."""
    items = _flatten(regex.node)
    expansions = [_literals(item) for item in items]
    best: tuple[int, int, int] | None = None  # (-shortest, count, start)
    best_literals: frozenset[str] = frozenset()
    max_before = 0
    for start in range(len(items)):
        if start:
            longest = _max_length(items[start - 1])
            if longest is None:
                break  # an unbounded prefix: no later start has a bounded distance
            max_before += longest
        product: frozenset[str] = frozenset({""})
        for end in range(start, len(items)):
            expansion = expansions[end]
            # A part that is not a short literal list still begins with one of a few
            # prefixes; those end the run (an occurrence is where the run starts).
            last = expansion is None
            product = _product(product, _prefixes(items[end]) if expansion is None else expansion)
            if not product or len(product) > MAX_LITERALS:
                break
            shortest = min(len(s) for s in product)
            if shortest >= MIN_LITERAL_LENGTH:
                key = (-shortest, len(product), start)
                if best is None or key < best:
                    best, best_literals = key, product
            if last:
                break
    if best is None:
        return None
    start = best[2]
    before = items[:start]
    return Anchor(
        literals=tuple(sorted(best_literals)),
        min_before=sum(_min_length(item) for item in before),
        max_before=sum(_max_length(item) or 0 for item in before),
        prefix_chars=_prefix_chars(before),
    )


def _prefixes(node: Node) -> frozenset[str]:
    """Strings one of which every match of ``node`` starts with (``""`` at worst)."""
    exact = _literals(node)
    if exact is not None:
        return exact
    if isinstance(node, Group):
        return _prefixes(node.node)
    if isinstance(node, Repeat) and node.min >= 1:
        return _prefixes(node.node)
    if isinstance(node, Alternate):
        union: set[str] = set()
        for item in node.items:
            union |= _prefixes(item)
        return frozenset(union) if len(union) <= MAX_LITERALS else frozenset({""})
    if isinstance(node, Concat):
        result: frozenset[str] = frozenset({""})
        for item in node.items:
            part = _literals(item)
            if part is None:
                extended = _product(result, _prefixes(item))
                return extended or result
            extended = _product(result, part)
            if not extended:
                return result
            result = extended
        return result
    return frozenset({""})


def _flatten(node: Node) -> list[Node]:
    """The sequence of items every match goes through, groups opened up."""
    if isinstance(node, Group):
        return _flatten(node.node)
    if isinstance(node, Concat):
        return [part for item in node.items for part in _flatten(item)]
    return [node]


def _product(left: frozenset[str], right: frozenset[str]) -> frozenset[str]:
    if len(left) * len(right) > MAX_LITERALS:
        return frozenset()
    return frozenset(a + b for a, b in itertools.product(left, right))


def _chars(cps: Iterable[int]) -> frozenset[str]:
    return frozenset(lower_char(chr(cp)) for cp in cps)


def _literals(node: Node) -> frozenset[str] | None:
    """The lowered strings ``node`` can match, when they are few."""
    if isinstance(node, Literal):
        return _chars(fold_orbit(node.char) if node.fold else (node.char,))
    if isinstance(node, CharClass):
        try:
            ranges = class_ranges(node)
        except RegexSyntaxError:
            return None
        if sum(hi - lo + 1 for lo, hi in ranges) > MAX_CLASS_EXPANSION:
            return None
        return _chars(cp for lo, hi in ranges for cp in range(lo, hi + 1))
    if isinstance(node, Assertion | Empty):
        return frozenset({""})
    if isinstance(node, Group):
        return _literals(node.node)
    if isinstance(node, Concat):
        result: frozenset[str] = frozenset({""})
        for item in node.items:
            part = _literals(item)
            if part is None:
                return None
            result = _product(result, part)
            if not result:
                return None
        return result
    if isinstance(node, Alternate):
        union: set[str] = set()
        for item in node.items:
            part = _literals(item)
            if part is None:
                return None
            union |= part
            if len(union) > MAX_LITERALS:
                return None
        return frozenset(union)
    if isinstance(node, Repeat):
        if node.max is None or node.max > MAX_SMALL_REPEAT:
            return None
        part = _literals(node.node)
        if part is None:
            return None
        options: set[str] = set()
        for count in range(node.min, node.max + 1):
            power: frozenset[str] = frozenset({""})
            for _ in range(count):
                power = _product(power, part)
                if not power:
                    return None
            options |= power
        return frozenset(options) if len(options) <= MAX_LITERALS else None
    return None  # AnyChar


def _max_length(node: Node) -> int | None:
    if isinstance(node, Literal | CharClass | AnyChar):
        return 1
    if isinstance(node, Assertion | Empty):
        return 0
    if isinstance(node, Group):
        return _max_length(node.node)
    if isinstance(node, Concat | Alternate):
        lengths = [_max_length(item) for item in node.items]
        if any(length is None for length in lengths):
            return None
        known = [length for length in lengths if length is not None]
        return sum(known) if isinstance(node, Concat) else max(known, default=0)
    inner = _max_length(node.node)
    if inner is None or node.max is None:
        return None
    return inner * node.max


def _min_length(node: Node) -> int:
    if isinstance(node, Literal | CharClass | AnyChar):
        return 1
    if isinstance(node, Assertion | Empty):
        return 0
    if isinstance(node, Group):
        return _min_length(node.node)
    if isinstance(node, Concat):
        return sum(_min_length(item) for item in node.items)
    if isinstance(node, Alternate):
        return min((_min_length(item) for item in node.items), default=0)
    return _min_length(node.node) * node.min


def _prefix_chars(items: list[Node]) -> Ranges | None:
    parts: list[tuple[int, int]] = []
    for item in items:
        ranges = _item_chars(item)
        if ranges is None:
            return None
        parts.extend(ranges)
    return normalize(parts)


def _item_chars(node: Node) -> Ranges | None:
    """The characters a character-only item can consume (None for anything else)."""
    if isinstance(node, Repeat):
        return _item_chars(node.node)
    if isinstance(node, Literal):
        return normalize((cp, cp) for cp in (fold_orbit(node.char) if node.fold else (node.char,)))
    if isinstance(node, CharClass):
        try:
            return class_ranges(node)
        except RegexSyntaxError:
            return None
    if isinstance(node, AnyChar):
        return ((0, MAX_CODEPOINT),) if node.dotall else ((0, 9), (11, MAX_CODEPOINT))
    if isinstance(node, Assertion | Empty):
        return ()
    return None
