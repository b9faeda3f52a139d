"""Secret rules as data: the gitleaks rule format, validated, with patterns kept as text.

A :class:`RuleSet` is what :func:`~stockade.compliance.secrets.config.load_rules` returns
and what a :class:`~stockade.compliance.secrets.detect.Detector` compiles. Patterns stay
strings here (already checked as RE2 syntax), so rule sets compare, print and pickle
plainly; compiling is the detector's job, for the engine it runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

RuleId = NewType("RuleId", str)


class Condition(enum.StrEnum):
    """How an allowlist's checks combine."""

    OR = "OR"
    AND = "AND"


class RegexTarget(enum.StrEnum):
    """What an allowlist's ``regexes`` are tested against."""

    SECRET = "secret"  # noqa: S105 - the name of a target, not a password
    MATCH = "match"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Conditions under which a finding (or a whole file) is not reported."""

    description: str = ""
    condition: Condition = Condition.OR
    commits: tuple[str, ...] = ()
    """Lowercased commit ids; never true outside git history, kept for compatibility."""
    paths: tuple[str, ...] = ()
    regex_target: RegexTarget = RegexTarget.SECRET
    regexes: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    """Lowercased; a secret that contains one is allowed."""
    target_rules: tuple[RuleId, ...] = ()
    """Global allowlists only: the rules it applies to (it is moved into them)."""


@dataclass(frozen=True, slots=True)
class Required:
    """A composite rule's companion: the primary finding counts only when this rule also
    finds something in the same fragment, within the given distance when one is set."""

    rule_id: RuleId
    within_lines: int | None = None
    within_columns: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: RuleId
    description: str = ""
    regex: str | None = None
    path: str | None = None
    secret_group: int = 0
    """Which capture group is the secret; 0 means the first non-empty group (or the whole
    match when the pattern has none)."""
    entropy: float = 0.0
    """Minimum Shannon entropy of the secret; 0 turns the check off."""
    keywords: tuple[str, ...] = ()
    """Lowercased; the rule runs only on text that contains one (none: always)."""
    tags: tuple[str, ...] = ()
    allowlists: tuple[Allowlist, ...] = ()
    required: tuple[Required, ...] = ()
    skip_report: bool = False
    """Only a companion of composite rules: its own findings are never reported."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlists: tuple[Allowlist, ...] = ()
    """Global allowlists (without ``target_rules``: those were moved into their rules)."""
    title: str = ""
    source: str = ""
    """Where the rules came from: a path, or ``default``."""
    warnings: tuple[str, ...] = ()
    """What loading noticed but did not refuse (unknown keys, disabled rules not found)."""

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def __len__(self) -> int:
        return len(self.rules)
