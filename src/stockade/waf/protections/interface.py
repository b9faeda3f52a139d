"""The contract of a native protection, and helpers every protection shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Protocol

from stockade.waf.decision import Detection
from stockade.waf.protections.view import Input, RequestView

__all__ = [
    "PatternRule",
    "PatternSet",
    "Protection",
    "VerdictMemo",
    "detection",
    "first_match",
    "redact",
    "snippet",
]

MAX_MATCHED: Final = 80
"""Characters of matched data a detection keeps."""

_SENSITIVE: Final = re.compile(
    r"pass|pwd|secret|token|auth|session|sess_?id|^sid$|api.?key|credential|cookie|jwt|"
    r"csrf|xsrf|bearer|private",
    re.IGNORECASE,
)
"""Names whose values are credentials: a detection there shows no data."""


class Protection(Protocol):
    """A native protection: reads a :class:`RequestView`, reports :class:`Detection` s.

    ``inspect`` must be total: whatever the request holds, it returns a list."""

    name: str
    """The protection id (``sqli``, ``xss``…), what policies and detections call it."""

    def inspect(self, view: RequestView) -> list[Detection]: ...


def snippet(value: str, start: int = 0, end: int = -1) -> str:
    """Up to :data:`MAX_MATCHED` characters of ``value`` around ``[start, end)``, with
    control characters escaped so a log line stays one line."""
    if end < 0:
        end = len(value)
    end = min(end, start + MAX_MATCHED)
    text = value[start:end]
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")[: MAX_MATCHED * 4]


def redact(name: str, text: str) -> str:
    """``text``, unless ``name`` (a parameter, cookie or header name) holds credentials."""
    if name and _SENSITIVE.search(name):
        return f"[redacted, {len(text)} bytes]"
    return text


def detection(
    protection: str,
    rule_id: str,
    message: str,
    item: Input | None = None,
    *,
    matched: str = "",
    location: str = "",
    severity: str = "critical",
) -> Detection:
    """A :class:`Detection` located at ``item`` (when given), matched data redacted."""
    if item is not None:
        location = location or item.location
        matched = redact(item.name, matched)
    return Detection(
        protection=protection,
        rule_id=rule_id,
        message=message,
        location=location,
        matched=matched,
        severity=severity,
    )


class PatternRule:
    """A detection pattern with the literal fragments it cannot match without.

    Python's ``re`` tries a long alternation at every position of a value; checking a few
    literals with ``in`` first (C speed) lets benign values skip the regex altogether."""

    __slots__ = ("message", "needles", "pattern", "rule_id")

    def __init__(
        self, rule_id: str, message: str, pattern: str, needles: tuple[str, ...] = ()
    ) -> None:
        self.rule_id = rule_id
        self.message = message
        self.pattern = re.compile(pattern)
        self.needles = needles
        """At least one of these occurs in any text the pattern matches (empty: no filter)."""

    def search(self, text: str) -> re.Match[str] | None:
        if not self.needles:
            return self.pattern.search(text)
        for needle in self.needles:
            if needle in text:
                return self.pattern.search(text)
        return None


class PatternSet:
    """Rules tried in order, behind one regex of all their needles: a value that holds
    none of them costs one search instead of one look per rule."""

    __slots__ = ("_gate", "rules")

    def __init__(self, *rules: PatternRule) -> None:
        self.rules = rules
        needles = {needle for rule in rules for needle in rule.needles}
        ungated = any(not rule.needles for rule in rules)
        self._gate = (
            None
            if ungated or not needles
            else re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))
        )

    def first(self, text: str) -> tuple[PatternRule, re.Match[str]] | None:
        """The first rule that matches ``text``, with its match."""
        if self._gate is not None and self._gate.search(text) is None:
            return None
        for rule in self.rules:
            match = rule.search(text)
            if match is not None:
                return rule, match
        return None


def first_match(rules: PatternSet, text: str) -> tuple[PatternRule, re.Match[str]] | None:
    """The first rule of ``rules`` that matches ``text``, with its match."""
    return rules.first(text)


class VerdictMemo:
    """Remembers the verdict of a check on header values (or paths) seen before.

    The same User-Agent, Accept and Referer strings and the same paths arrive on request
    after request; a
    check is a pure function of (location, value), so its answer can be reused. Bounded:
    when full, the memo starts over (hostile churn costs only the recomputation)."""

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], Detection | None] = {}

    def check(self, item: Input, compute: Callable[[Input], Detection | None]) -> Detection | None:
        key = (item.location, item.value)
        entries = self._entries
        if key in entries:
            return entries[key]
        result = compute(item)
        if len(item.value) <= MAX_MEMO_VALUE:
            if len(entries) >= self.max_entries:
                entries.clear()
            entries[key] = result
        return result


MAX_MEMO_VALUE: Final = 1024
"""Longer header values are checked every time (they are rare and would bloat the memo)."""
