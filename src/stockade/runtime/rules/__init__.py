"""Falco rules for the Defender: load rules files, compile them, match events.

::

    loaded = load_rules(["falco_rules.yaml"])
    loaded.raise_for_errors()
    for alert in loaded.ruleset.match(event):
        ...

Everything here is pure: rules files come in as text or paths, events as
:mod:`stockade.runtime.events` records, and alerts go out as data.
"""

from __future__ import annotations

from stockade.runtime.rules.errors import ConditionSyntaxError, RulesError
from stockade.runtime.rules.loader import (
    ENGINE_VERSION,
    Diagnostic,
    DisabledRule,
    FileSummary,
    LoadedRules,
    load_rules,
    load_rules_text,
)
from stockade.runtime.rules.parser import parse_condition
from stockade.runtime.rules.ruleset import Alert, Priority, Rule, RuleSet

__all__ = [
    "ENGINE_VERSION",
    "Alert",
    "ConditionSyntaxError",
    "Diagnostic",
    "DisabledRule",
    "FileSummary",
    "LoadedRules",
    "Priority",
    "Rule",
    "RuleSet",
    "RulesError",
    "load_rules",
    "load_rules_text",
    "parse_condition",
]
