"""Compiled rules: what a SecRule, SecAction or SecMarker directive becomes once loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from stockade.waf.seclang.operators import Operator
from stockade.waf.seclang.regex import Regex
from stockade.waf.seclang.transformations import Transformation

_SELECTED_MEMO_ENTRIES: Final = 1_024


@dataclass(slots=True)
class Target:
    """One variable of a rule: ``ARGS``, ``ARGS:id``, ``ARGS:/^id_/``, ``&ARGS``, ``!ARGS:x``."""

    collection: str
    key: str | None = None
    """Lower-cased literal selector."""
    key_regex: Regex | None = None
    count: bool = False
    exclude: bool = False
    text: str = ""
    _selected: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    """Keys the regex selector was tried on (the same header and TX names come back on
    every request)."""

    def selects(self, key_lower: str, key: str) -> bool:
        regex = self.key_regex
        if regex is not None:
            known = self._selected.get(key)
            if known is None:
                known = regex.search(key)
                if len(self._selected) < _SELECTED_MEMO_ENTRIES and len(key) <= 256:
                    self._selected[key] = known
            return known
        return self.key is None or self.key == key_lower


@dataclass(slots=True)
class SetVar:
    collection: str
    name: str
    """Lower-cased; may hold macros (``%{tx.x}``)."""
    operation: str
    """``=``, ``+``, ``-``, ``delete``."""
    value: str


@dataclass(slots=True)
class Ctl:
    option: str
    """Lower-cased: ``ruleremovebyid``, ``ruleengine``, ``requestbodyprocessor``, …"""
    value: str


@dataclass(slots=True)
class Rule:
    id: int
    phase: int
    file: str
    line: int
    targets: list[Target] = field(default_factory=list)
    operator: Operator | None = None
    transforms: tuple[Transformation, ...] = ()
    transform_names: tuple[str, ...] = ()
    setvars: list[SetVar] = field(default_factory=list)
    ctls: list[Ctl] = field(default_factory=list)
    disruptive: str = ""
    """``deny``, ``drop``, ``block``, ``allow``, ``redirect``, ``pass`` or empty (default)."""
    allow_scope: str = ""
    status: int = 0
    log: bool = True
    capture: bool = False
    multi_match: bool = False
    skip: int = 0
    skip_after: str = ""
    msg: str = ""
    logdata: str = ""
    severity: str = ""
    tags: tuple[str, ...] = ()
    chain: Rule | None = None
    is_chain_link: bool = False
    marker: str = ""
    """Set for a SecMarker: rules skipping after it resume here."""
    paranoia_level: int = 0
    has_explicit_transforms: bool = False
    exclusions: list[Target] = field(default_factory=list)
    """The ``!VAR`` targets, split out once when the plan is built."""
    selected: list[Target] = field(default_factory=list)
    """The targets to read (all but the ``!VAR`` ones)."""
    prefilter: tuple[str, ...] = ()
    """Collections that must not all be empty for the rule to have anything to match."""

    @property
    def is_marker(self) -> bool:
        return bool(self.marker)

    def links(self) -> list[Rule]:
        chain: list[Rule] = []
        rule: Rule | None = self
        while rule is not None:
            chain.append(rule)
            rule = rule.chain
        return chain
