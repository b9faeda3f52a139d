"""Which events a rule takes: kind globs, a minimum severity and label matchers. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from stockade.console.events import EVENT_SEVERITIES, ConsoleEvent

__all__ = ["RuleSpec", "matches", "more_severe", "severity_rank"]


def severity_rank(severity: str) -> int:
    """0 for ``critical`` … 4 for ``info``; a word not in the list ranks below ``info``."""
    try:
        return EVENT_SEVERITIES.index(severity)
    except ValueError:
        return len(EVENT_SEVERITIES)


def more_severe(a: str, b: str) -> str:
    return a if severity_rank(a) <= severity_rank(b) else b


@dataclass(frozen=True, slots=True)
class RuleSpec:
    kinds: tuple[str, ...]
    """Globs over :attr:`ConsoleEvent.kind` (``*`` crosses dots); any may match."""
    min_severity: str = "info"
    labels: Mapping[str, str] = field(default_factory=dict)
    """Label name to glob, all of which must match; ``!glob`` matches a label that is
    missing or does not match the glob."""


def _label_matches(pattern: str, value: str | None) -> bool:
    if pattern.startswith("!"):
        return value is None or not fnmatchcase(value, pattern[1:])
    return value is not None and fnmatchcase(value, pattern)


def matches(rule: RuleSpec, event: ConsoleEvent) -> bool:
    if severity_rank(event.severity) > severity_rank(rule.min_severity):
        return False
    if not any(fnmatchcase(event.kind, kind) for kind in rule.kinds):
        return False
    return all(_label_matches(p, event.labels.get(name)) for name, p in rule.labels.items())
