"""Loading Falco rules files: items, their merging across files, and compiling the result.

Rules files are read in order; each item (``list``, ``macro``, ``rule``,
``required_engine_version``, ``required_plugin_versions``) defines, replaces, appends to
or overrides what earlier items (in the same or an earlier file) defined. Only when every
file is read are macros and rules compiled, so a rule may use a macro defined after it and
a later file may change a list an earlier rule uses.

Problems are collected, not raised: :class:`LoadedRules` holds every error and warning with
Falco's code (``LOAD_ERR_YAML_VALIDATE``, ``LOAD_ERR_COMPILE_CONDITION``, …), item type,
item name, file and line, every rule that loaded, and every rule that did not with the
reason: switched off in the file (``enabled: false``), an event source other than
syscalls, or (reported once, with the fields) a condition that needs what our sensors do
not provide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stockade.runtime.events import field_spec
from stockade.runtime.rules.ast import And, Const, FieldRef, ListValue, Literal, Node, Not, Or
from stockade.runtime.rules.ast import Compare as CompareNode
from stockade.runtime.rules.compiler import (
    CompileError,
    EventTypes,
    Expander,
    check_condition,
    compile_condition,
    event_types,
    fields_of,
    macro_references,
    prune_unobserved,
    resolve_field,
)
from stockade.runtime.rules.errors import ConditionSyntaxError, RulesError
from stockade.runtime.rules.output import OutputTemplate
from stockade.runtime.rules.parser import (
    COMPARISON_OPERATORS,
    LIST_OPERATORS,
    parse_condition,
    parse_value,
)
from stockade.runtime.rules.ruleset import Priority, Rule, RuleSet
from stockade.runtime.rules.yamltext import RulesYamlError, read_yaml

__all__ = [
    "ENGINE_VERSION",
    "Diagnostic",
    "DisabledRule",
    "FileSummary",
    "LoadedRules",
    "load_rules",
    "load_rules_text",
]

ENGINE_VERSION: Final = (0, 57, 0)
"""The Falco engine version whose rules language this engine implements."""

PROVIDED_PLUGINS: Final = frozenset({"container"})
"""Plugins whose fields we provide natively (container metadata comes from discovery)."""

SOURCE: Final = "syscall"

_EXCEPTION_COMPS: Final = COMPARISON_OPERATORS
_FIELD_NAME: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(?:\[([^\]]+)\])?\Z")
_OVERRIDABLE: Final = {
    "rule": {
        "append": frozenset({"condition", "output", "desc", "tags", "exceptions"}),
        "replace": frozenset(
            {
                "condition",
                "output",
                "desc",
                "priority",
                "tags",
                "exceptions",
                "enabled",
                "warn_evttypes",
                "skip-if-unknown-filter",
            }
        ),
    },
    "macro": {"append": frozenset({"condition"}), "replace": frozenset({"condition"})},
    "list": {"append": frozenset({"items"}), "replace": frozenset({"items"})},
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An error or a warning about one item, with Falco's code for it."""

    severity: str
    """``error`` or ``warning``."""
    code: str
    item_type: str
    item_name: str
    message: str
    file: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        item = f"{self.item_type} {self.item_name!r}" if self.item_name else self.item_type
        return f"{where}: {self.severity}: {item}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class DisabledRule:
    """A rule that did not load, and why."""

    name: str
    reason: str
    kind: str
    """``enabled_false``, ``source``, ``unsupported_fields``, ``unobserved_event_types``
    or ``unknown_fields`` (skipped by ``skip-if-unknown-filter``)."""
    file: str
    line: int | None = None
    missing_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What became of the rules one file defined."""

    file: str
    rules: int
    loaded: int
    disabled: Mapping[str, int]
    """Disabled rules by :attr:`DisabledRule.kind`."""
    errors: int
    warnings: int


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """The outcome of loading rules files: the rule set and everything said about it."""

    ruleset: RuleSet
    diagnostics: tuple[Diagnostic, ...]
    disabled: tuple[DisabledRule, ...]
    files: tuple[FileSummary, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`RulesError` listing the errors, if there are any."""
        if self.errors:
            lines = "\n".join(str(error) for error in self.errors)
            raise RulesError(
                f"{len(self.errors)} error(s) in the rules files:\n{lines}",
                "run `stockade defender rules check FILE...` for the full report",
            )


# -- the loading state --------------------------------------------------------------------


@dataclass(slots=True)
class _Where:
    file: str
    line: int | None


@dataclass(slots=True)
class _ListDef:
    name: str
    items: list[str]
    where: _Where


@dataclass(slots=True)
class _MacroDef:
    name: str
    condition: str
    where: _Where


@dataclass(slots=True)
class _Exception:
    name: str
    fields: list[str] | str
    comps: list[str] | str
    values: list[Any]


@dataclass(slots=True)
class _RuleDef:
    name: str
    condition: str
    output: str
    desc: str
    priority: Priority
    where: _Where
    condition_where: _Where
    tags: tuple[str, ...] = ()
    enabled: bool = True
    source: str = SOURCE
    exceptions: list[_Exception] = field(default_factory=list)
    warn_evttypes: bool = True
    skip_unknown: bool = False


class _ItemError(Exception):
    """Ends the processing of one item; the diagnostic is already recorded."""


class _Loader:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.lists: dict[str, _ListDef] = {}
        self.macros: dict[str, _MacroDef] = {}
        self.rules: dict[str, _RuleDef] = {}
        self.files: list[str] = []

    # diagnostics

    def report(  # noqa: PLR0917 - the arguments are Diagnostic's fields, in its order
        self,
        severity: str,
        code: str,
        item_type: str,
        item_name: str,
        message: str,
        where: _Where,
    ) -> None:
        self.diagnostics.append(
            Diagnostic(severity, code, item_type, item_name, message, where.file, where.line)
        )

    def fail(self, code: str, item_type: str, item_name: str, message: str, where: _Where) -> None:
        self.report("error", code, item_type, item_name, message, where)
        raise _ItemError

    # reading

    def read_text(self, name: str, text: str | bytes) -> None:
        self.files.append(name)
        try:
            documents = read_yaml(name, text)
        except RulesYamlError as exc:
            self.report(
                "error",
                "LOAD_ERR_YAML_PARSE",
                "rules content",
                "",
                exc.reason,
                _Where(name, exc.line),
            )
            return
        for line, items in documents:
            if items is None:
                continue
            if not isinstance(items, list):
                kind = "a mapping" if isinstance(items, dict) else "a single value"
                self.report(
                    "error",
                    "LOAD_ERR_YAML_VALIDATE",
                    "rules content",
                    "",
                    f"a rules file is a YAML list of items, not {kind}",
                    _Where(name, line),
                )
                continue
            for item_line, item in items:
                try:
                    self.read_item(item, _Where(name, item_line))
                except _ItemError:
                    continue

    def read_item(self, item: object, where: _Where) -> None:
        if not isinstance(item, dict):
            self.fail(
                "LOAD_ERR_YAML_VALIDATE",
                "rules content item",
                "",
                "each item of a rules file is a mapping (list:, macro:, rule:, …)",
                where,
            )
            return
        if "required_engine_version" in item:
            self.engine_version(item["required_engine_version"], where)
        elif "required_plugin_versions" in item:
            self.plugin_versions(item["required_plugin_versions"], where)
        elif "list" in item:
            self.list_item(item, where)
        elif "macro" in item:
            self.macro_item(item, where)
        elif "rule" in item:
            self.rule_item(item, where)
        else:
            keys = ", ".join(sorted(str(k) for k in item)) or "nothing"
            self.report(
                "warning",
                "LOAD_UNKNOWN_ITEM",
                "rules content item",
                "",
                f"unknown item with keys {keys}: skipped",
                where,
            )

    # items

    def engine_version(self, value: object, where: _Where) -> None:
        version = _engine_version(value)
        if version is None:
            self.fail(
                "LOAD_ERR_YAML_VALIDATE",
                "required_engine_version",
                "",
                f"required_engine_version {value!r} is not a version number",
                where,
            )
            return
        if version > ENGINE_VERSION:
            wanted = ".".join(map(str, version))
            ours = ".".join(map(str, ENGINE_VERSION))
            self.fail(
                "LOAD_ERR_VALIDATE",
                "required_engine_version",
                "",
                f"the rules need engine version {wanted}; this engine implements {ours}",
                where,
            )

    def plugin_versions(self, value: object, where: _Where) -> None:
        if not isinstance(value, list):
            self.fail(
                "LOAD_ERR_YAML_VALIDATE",
                "required_plugin_versions",
                "",
                "required_plugin_versions is a list of {name, version}",
                where,
            )
            return
        for entry in value:
            if not isinstance(entry, dict) or not entry.get("name"):
                self.fail(
                    "LOAD_ERR_YAML_VALIDATE",
                    "required_plugin_versions",
                    "",
                    "each required plugin has a name and a version",
                    where,
                )
                return
            names = {str(entry["name"])} | {
                str(alternative.get("name"))
                for alternative in entry.get("alternatives") or []
                if isinstance(alternative, dict)
            }
            if not names & PROVIDED_PLUGINS:
                self.report(
                    "warning",
                    "LOAD_PLUGIN_NOT_PROVIDED",
                    "required_plugin_versions",
                    str(entry["name"]),
                    f"plugin {entry['name']} is not available here; rules that need its "
                    "event source or fields will not load",
                    where,
                )

    def _name(self, item: dict[str, Any], kind: str, where: _Where) -> str:
        name = item.get(kind)
        if name is None or name == "":
            self.fail("LOAD_ERR_YAML_VALIDATE", kind, "", f"the {kind} has no name", where)
        return str(name)

    def _mode(self, item: dict[str, Any], kind: str, name: str, where: _Where) -> dict[str, str]:
        """How the item changes an existing one: {} (define), or key -> append/replace."""
        append = item.get("append", False)
        if not isinstance(append, bool):
            self.fail("LOAD_ERR_YAML_VALIDATE", kind, name, "'append' is true or false", where)
        override = item.get("override")
        if override is None:
            if not append:
                return {}
            keys = _OVERRIDABLE[kind]["append"] & set(item)
            return dict.fromkeys(keys, "append")
        if append:
            self.fail(
                "LOAD_ERR_VALIDATE",
                kind,
                name,
                "an item has either 'append' or 'override', not both",
                where,
            )
        if not isinstance(override, dict) or not override:
            self.fail(
                "LOAD_ERR_YAML_VALIDATE",
                kind,
                name,
                "'override' maps keys to append or replace",
                where,
            )
        modes: dict[str, str] = {}
        for key, how in override.items():
            if how not in ("append", "replace"):
                self.fail(
                    "LOAD_ERR_YAML_VALIDATE",
                    kind,
                    name,
                    f"override of {key!r} is 'append' or 'replace', not {how!r}",
                    where,
                )
            if key not in _OVERRIDABLE[kind][how]:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    kind,
                    name,
                    f"{key!r} of a {kind} cannot be overridden with {how}",
                    where,
                )
            if key not in item:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    kind,
                    name,
                    f"override names {key!r}, which the item does not give",
                    where,
                )
            modes[str(key)] = str(how)
        return modes

    def list_item(self, item: dict[str, Any], where: _Where) -> None:
        name = self._name(item, "list", where)
        modes = self._mode(item, "list", name, where)
        if "items" not in item:
            self.fail("LOAD_ERR_YAML_VALIDATE", "list", name, "the list has no 'items'", where)
        raw = item["items"]
        if raw is None:
            raw = []
        if not isinstance(raw, list) or any(isinstance(v, dict | list) for v in raw):
            self.fail("LOAD_ERR_YAML_VALIDATE", "list", name, "'items' is a list of values", where)
        items = [_scalar_text(value) for value in raw]
        existing = self.lists.get(name)
        if modes:
            if existing is None:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "list",
                    name,
                    "the list appends to or overrides a list that is not defined before it",
                    where,
                )
                return
            if modes.get("items") == "replace":
                existing.items = items
            else:
                existing.items = existing.items + items
            return
        self.lists[name] = _ListDef(name, items, where)

    def macro_item(self, item: dict[str, Any], where: _Where) -> None:
        name = self._name(item, "macro", where)
        modes = self._mode(item, "macro", name, where)
        condition = item.get("condition")
        if condition is None:
            self.fail(
                "LOAD_ERR_YAML_VALIDATE", "macro", name, "the macro has no 'condition'", where
            )
        text = _scalar_text(condition)
        existing = self.macros.get(name)
        if modes:
            if existing is None:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "macro",
                    name,
                    "the macro appends to or overrides a macro that is not defined before it",
                    where,
                )
                return
            if modes.get("condition") == "replace":
                existing.condition = text
            else:
                existing.condition = f"{existing.condition} {text}"
            existing.where = where
            return
        self.macros[name] = _MacroDef(name, text, where)

    def rule_item(self, item: dict[str, Any], where: _Where) -> None:
        name = self._name(item, "rule", where)
        modes = self._mode(item, "rule", name, where)
        existing = self.rules.get(name)
        if modes or item.get("append") is True:
            self.change_rule(item, name, modes, existing, where)
            return
        if set(item) <= {"rule", "enabled"} and "enabled" in item:
            # An item naming a rule and only 'enabled' switches that rule on or off.
            if existing is None:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "rule",
                    name,
                    "'enabled' is given for a rule that is not defined before it",
                    where,
                )
                return
            existing.enabled = self._bool(item, "enabled", name, where, existing.enabled)
            return
        for key in ("condition", "output", "desc", "priority"):
            if item.get(key) is None:
                self.fail("LOAD_ERR_YAML_VALIDATE", "rule", name, f"the rule has no {key!r}", where)
        priority = self._priority(item["priority"], name, where)
        source = str(item.get("source") or SOURCE)
        exceptions = self._exceptions(item.get("exceptions"), None, name, where)
        self.rules[name] = _RuleDef(
            name=name,
            condition=_scalar_text(item["condition"]),
            output=_scalar_text(item["output"]).strip(),
            desc=_scalar_text(item["desc"]).strip(),
            priority=priority,
            where=where,
            condition_where=where,
            tags=self._tags(item.get("tags"), name, where),
            enabled=self._bool(item, "enabled", name, where, True),
            source=source,
            exceptions=exceptions,
            warn_evttypes=self._bool(item, "warn_evttypes", name, where, True),
            skip_unknown=self._bool(item, "skip-if-unknown-filter", name, where, False),
        )

    def change_rule(
        self,
        item: dict[str, Any],
        name: str,
        modes: dict[str, str],
        existing: _RuleDef | None,
        where: _Where,
    ) -> None:
        if item.get("append") and "condition" not in item and "exceptions" not in item:
            self.fail(
                "LOAD_ERR_VALIDATE",
                "rule",
                name,
                "an appended rule must give a condition or exceptions",
                where,
            )
        if existing is None:
            self.fail(
                "LOAD_ERR_VALIDATE",
                "rule",
                name,
                "the rule appends to or overrides a rule that is not defined before it",
                where,
            )
            return
        for key, how in modes.items():
            value = item[key]
            if key == "condition":
                text = _scalar_text(value)
                existing.condition = f"{existing.condition} {text}" if how == "append" else text
                existing.condition_where = where
            elif key in ("output", "desc"):
                text = _scalar_text(value).strip()
                current = existing.output if key == "output" else existing.desc
                merged = f"{current} {text}" if how == "append" else text
                if key == "output":
                    existing.output = merged
                else:
                    existing.desc = merged
            elif key == "tags":
                tags = self._tags(value, name, where)
                existing.tags = existing.tags + tags if how == "append" else tags
            elif key == "exceptions":
                if how == "append":
                    existing.exceptions = self._exceptions(value, existing.exceptions, name, where)
                else:
                    existing.exceptions = self._exceptions(value, None, name, where)
            elif key == "priority":
                existing.priority = self._priority(value, name, where)
            elif key == "enabled":
                existing.enabled = self._bool(item, key, name, where, existing.enabled)
            elif key == "warn_evttypes":
                existing.warn_evttypes = self._bool(item, key, name, where, True)
            elif key == "skip-if-unknown-filter":
                existing.skip_unknown = self._bool(item, key, name, where, False)

    def _priority(self, value: object, name: str, where: _Where) -> Priority:
        try:
            return Priority.parse(value)
        except RulesError as exc:
            self.fail("LOAD_ERR_YAML_VALIDATE", "rule", name, exc.message, where)
            raise  # pragma: no cover - fail() raised

    def _bool(
        self, item: dict[str, Any], key: str, name: str, where: _Where, default: bool
    ) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            self.fail("LOAD_ERR_YAML_VALIDATE", "rule", name, f"{key!r} is true or false", where)
        return bool(value)

    def _tags(self, value: object, name: str, where: _Where) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail("LOAD_ERR_YAML_VALIDATE", "rule", name, "'tags' is a list", where)
            return ()
        return tuple(_scalar_text(tag) for tag in value)

    def _exceptions(
        self,
        value: object,
        existing: list[_Exception] | None,
        rule: str,
        where: _Where,
    ) -> list[_Exception]:
        """The exceptions of a rule; with ``existing``, those appended to them."""
        result = [_Exception(e.name, e.fields, e.comps, list(e.values)) for e in existing or []]
        if value is None:
            return result
        if not isinstance(value, list):
            self.fail("LOAD_ERR_YAML_VALIDATE", "rule", rule, "'exceptions' is a list", where)
            return result
        by_name = {e.name: e for e in result}
        for entry in value:
            if not isinstance(entry, dict):
                self.fail(
                    "LOAD_ERR_YAML_VALIDATE", "exception", "", "an exception is a mapping", where
                )
                continue
            name = entry.get("name")
            if name is None or name == "":
                self.fail("LOAD_ERR_YAML_VALIDATE", "exception", "", "exception has no name", where)
            name = str(name)
            values = entry.get("values") or []
            if not isinstance(values, list):
                self.fail("LOAD_ERR_YAML_VALIDATE", "exception", name, "'values' is a list", where)
            current = by_name.get(name)
            if current is not None and existing is not None and "fields" not in entry:
                self._check_values(current.fields, values, name, where)
                current.values.extend(values)
                continue
            if "fields" not in entry:
                code = "LOAD_ERR_VALIDATE" if existing is not None else "LOAD_ERR_YAML_VALIDATE"
                self.fail(
                    code,
                    "exception",
                    name,
                    "the exception has no 'fields' (a field, or a list of fields)",
                    where,
                )
            exception = self._new_exception(entry, name, values, where)
            if current is not None:
                result.remove(current)
            result.append(exception)
            by_name[name] = exception
        return result

    def _new_exception(
        self, entry: dict[str, Any], name: str, values: list[Any], where: _Where
    ) -> _Exception:
        fields = entry["fields"]
        if isinstance(fields, list):
            fields = [_scalar_text(f) for f in fields]
            comps = entry.get("comps", ["="] * len(fields))
            if not isinstance(comps, list):
                comps = [comps]
            comps = [_scalar_text(c) for c in comps]
            if len(comps) != len(fields):
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "exception",
                    name,
                    f"{len(fields)} fields but {len(comps)} comps: they pair up one to one",
                    where,
                )
        elif isinstance(fields, str):
            comps = _scalar_text(entry.get("comps", "in"))
        else:
            self.fail(
                "LOAD_ERR_YAML_VALIDATE",
                "exception",
                name,
                "'fields' is a field or a list of fields",
                where,
            )
            raise _ItemError  # pragma: no cover - fail() raised
        for comp in comps if isinstance(comps, list) else [comps]:
            if comp not in _EXCEPTION_COMPS:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "exception",
                    name,
                    f"{comp!r} is not a comparison operator",
                    where,
                )
        for field_name in fields if isinstance(fields, list) else [fields]:
            parsed = _FIELD_NAME.match(field_name)
            if parsed is None or field_spec(parsed[1], parsed[2]) is None:
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "exception",
                    name,
                    f"{field_name!r} is not a field",
                    where,
                )
        self._check_values(fields, values, name, where)
        return _Exception(name, fields, comps, list(values))

    def _check_values(
        self, fields: list[str] | str, values: list[Any], name: str, where: _Where
    ) -> None:
        if not isinstance(fields, list):
            return
        for value in values:
            if not isinstance(value, list) or len(value) != len(fields):
                self.fail(
                    "LOAD_ERR_VALIDATE",
                    "exception",
                    name,
                    f"each value of the exception lists {len(fields)} values, one per field",
                    where,
                )

    # compiling

    def compile(self) -> LoadedRules:
        lists = {name: definition.items for name, definition in self.lists.items()}
        parsed_macros: dict[str, Node] = {}
        for macro in self.macros.values():
            try:
                parsed_macros[macro.name] = parse_condition(macro.condition)
            except ConditionSyntaxError as exc:
                self.report(
                    "error",
                    "LOAD_ERR_COMPILE_CONDITION",
                    "macro",
                    macro.name,
                    f"condition: {exc.message}",
                    macro.where,
                )
        expander = Expander(lists, parsed_macros)
        broken_macros = set(self.macros) - set(parsed_macros)
        referenced_macros: set[str] = set()
        for name, node in parsed_macros.items():
            referenced_macros.update(macro_references(node))
            if broken_macros & set(macro_references(node)):
                continue
            try:
                expander.expand(node)
            except CompileError as exc:
                where = self.macros[name].where
                if exc.kind == "undefined_macro" and exc.name in broken_macros:
                    continue
                code = (
                    "LOAD_ERR_VALIDATE" if exc.kind != "compile" else "LOAD_ERR_COMPILE_CONDITION"
                )
                self.report("error", code, "macro", name, exc.message, where)
        rules: list[Rule] = []
        disabled: list[DisabledRule] = []
        for definition in self.rules.values():
            outcome = self.compile_rule(definition, expander, referenced_macros)
            if isinstance(outcome, Rule):
                rules.append(outcome)
            elif outcome is not None:
                disabled.append(outcome)
        for name, macro in self.macros.items():
            if name not in referenced_macros:
                self.report(
                    "warning",
                    "LOAD_UNUSED_MACRO",
                    "macro",
                    name,
                    "no rule or macro uses this macro",
                    macro.where,
                )
        referenced_lists = expander.used_lists | self._lists_named_in_lists()
        for name, list_definition in self.lists.items():
            if name not in referenced_lists:
                self.report(
                    "warning",
                    "LOAD_UNUSED_LIST",
                    "list",
                    name,
                    "no rule, macro or list uses this list",
                    list_definition.where,
                )
            if name in expander.list_loops:
                self.report(
                    "warning",
                    "LOAD_LIST_REFERENCE_LOOP",
                    "list",
                    name,
                    "the list refers back to itself; the name is kept as a plain value",
                    list_definition.where,
                )
        return LoadedRules(
            RuleSet(rules),
            tuple(self.diagnostics),
            tuple(disabled),
            tuple(self.summaries(rules, disabled)),
        )

    def _lists_named_in_lists(self) -> set[str]:
        return {item for definition in self.lists.values() for item in definition.items} & set(
            self.lists
        )

    def compile_rule(
        self, definition: _RuleDef, expander: Expander, referenced_macros: set[str]
    ) -> Rule | DisabledRule | None:
        name = definition.name
        where = definition.condition_where

        def error(code: str, message: str, at: _Where = where) -> None:
            self.report("error", code, "rule", name, message, at)

        try:
            condition = parse_condition(definition.condition)
        except ConditionSyntaxError as exc:
            error("LOAD_ERR_COMPILE_CONDITION", f"condition: {exc.message}")
            return None
        referenced_macros.update(macro_references(condition))
        if definition.source != SOURCE:
            return DisabledRule(
                name,
                f"event source {definition.source!r} is not provided by our sensors",
                "source",
                definition.where.file,
                definition.where.line,
            )
        try:
            full = self.with_exceptions(condition, definition.exceptions)
        except CompileError as exc:
            error("LOAD_ERR_COMPILE_CONDITION", f"exceptions: {exc.message}", definition.where)
            return None
        try:
            expanded = expander.expand(full)
        except CompileError as exc:
            code = "LOAD_ERR_COMPILE_CONDITION" if exc.kind == "compile" else "LOAD_ERR_VALIDATE"
            error(code, exc.message)
            return None
        unknown = _unknown_fields(expanded)
        if unknown:
            listed = ", ".join(unknown)
            if definition.skip_unknown:
                self.report(
                    "warning",
                    "LOAD_UNKNOWN_FIELD",
                    "rule",
                    name,
                    f"unknown field(s) {listed}: rule skipped (skip-if-unknown-filter)",
                    where,
                )
                return DisabledRule(
                    name,
                    f"unknown field(s) {listed} (skip-if-unknown-filter: true)",
                    "unknown_fields",
                    definition.where.file,
                    definition.where.line,
                    tuple(unknown),
                )
            error("LOAD_ERR_COMPILE_CONDITION", f"unknown field(s) {listed}")
            return None
        try:
            check_condition(expanded)
        except CompileError as exc:
            error("LOAD_ERR_COMPILE_CONDITION", exc.message)
            return None
        try:
            output = OutputTemplate.parse(definition.output)
        except CompileError as exc:
            error("LOAD_ERR_COMPILE_OUTPUT", exc.message, definition.where)
            return None
        holds, _ = event_types(expanded)
        if holds.is_every and definition.warn_evttypes:
            self.report(
                "warning",
                "LOAD_NO_EVTTYPE",
                "rule",
                name,
                "the condition does not narrow evt.type: it runs on every event, which is slow",
                definition.where,
            )
        pruned, observed_types = prune_unobserved(expanded)
        if not definition.enabled:
            would = _blocker(pruned, holds)
            return DisabledRule(
                name,
                "enabled: false in the rules file"
                + (f"; if enabled it would not load: {would}" if would else ""),
                "enabled_false",
                definition.where.file,
                definition.where.line,
                tuple(_unsupported_fields(pruned)),
            )
        if isinstance(pruned, Const) and not pruned.value:
            wanted = sorted(holds.names) if not holds.negated else []
            return DisabledRule(
                name,
                "matches only event types our sensors do not report"
                + (f": {', '.join(wanted)}" if wanted else ""),
                "unobserved_event_types",
                definition.where.file,
                definition.where.line,
            )
        missing = _unsupported_fields(pruned)
        if missing:
            reasons = "; ".join(f"{field_name}: {why}" for field_name, why in missing.items())
            return DisabledRule(
                name,
                f"needs fields our sensors do not provide ({reasons})",
                "unsupported_fields",
                definition.where.file,
                definition.where.line,
                tuple(missing),
            )
        types = None if observed_types.negated else observed_types.names
        excluded = observed_types.names if observed_types.negated else frozenset()
        return Rule(
            name=name,
            priority=definition.priority,
            condition=definition.condition,
            output=output,
            predicate=compile_condition(pruned),
            event_types=types,
            excluded_event_types=excluded,
            tags=definition.tags,
            description=definition.desc,
            source=definition.source,
            fields=tuple(dict.fromkeys(str(ref) for ref in fields_of(pruned))),
        )

    def with_exceptions(self, condition: Node, exceptions: Sequence[_Exception]) -> Node:
        """``(condition) and not (exception or …)``, as Falco combines them."""
        alternatives: list[Node] = []
        for exception in exceptions:
            alternatives.extend(_exception_nodes(exception))
        if not alternatives:
            return condition
        excluded = alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))
        return And((condition, Not(excluded)))

    def summaries(
        self, rules: Sequence[Rule], disabled: Sequence[DisabledRule]
    ) -> Iterable[FileSummary]:
        loaded_names = {rule.name for rule in rules}
        disabled_by_name = {d.name: d for d in disabled}
        for file in self.files:
            defined = [d for d in self.rules.values() if d.where.file == file]
            kinds: dict[str, int] = {}
            for definition in defined:
                found = disabled_by_name.get(definition.name)
                if found is not None:
                    kinds[found.kind] = kinds.get(found.kind, 0) + 1
            in_file = [d for d in self.diagnostics if d.file == file]
            yield FileSummary(
                file=file,
                rules=len(defined),
                loaded=sum(1 for d in defined if d.name in loaded_names),
                disabled=kinds,
                errors=sum(1 for d in in_file if d.severity == "error"),
                warnings=sum(1 for d in in_file if d.severity == "warning"),
            )


def _exception_nodes(exception: _Exception) -> list[Node]:
    if isinstance(exception.fields, str):
        field_ref = _field_ref(exception.fields)
        comp = exception.comps if isinstance(exception.comps, str) else "in"
        if not exception.values:
            return []
        if comp in LIST_OPERATORS:
            items: list[Literal] = []
            for value in exception.values:
                items.extend(_list_items(value))
            return [CompareNode(field_ref, comp, ListValue(tuple(items)))]
        return [CompareNode(field_ref, comp, _scalar_value(value)) for value in exception.values]
    nodes: list[Node] = []
    comps = exception.comps if isinstance(exception.comps, list) else [exception.comps]
    for row in exception.values:
        checks: list[Node] = []
        for field_name, comp, value in zip(exception.fields, comps, row, strict=True):
            field_ref = _field_ref(field_name)
            if comp in LIST_OPERATORS:
                checks.append(CompareNode(field_ref, comp, ListValue(tuple(_list_items(value)))))
            else:
                checks.append(CompareNode(field_ref, comp, _scalar_value(value)))
        nodes.append(checks[0] if len(checks) == 1 else And(tuple(checks)))
    return nodes


def _field_ref(text: str) -> FieldRef:
    match = _FIELD_NAME.match(text)
    if match is None:  # pragma: no cover - validated when the exception was read
        raise CompileError(f"{text!r} is not a field")
    return FieldRef(match[1], match[2])


def _scalar_value(value: object) -> Literal:
    if isinstance(value, list):
        raise CompileError("a list is given where the comparison takes one value")
    return parse_value(_scalar_text(value))


def _list_items(value: object) -> list[Literal]:
    if isinstance(value, list):
        return [parse_value(_scalar_text(item)) for item in value]
    text = _scalar_text(value).strip()
    if text.startswith("(") and text.endswith(")"):
        # "(a, b)" or "(my_list)": a list as a condition writes it.
        try:
            node = parse_condition(f"evt.type in {text}")
        except ConditionSyntaxError as exc:
            raise CompileError(f"exception value {text!r}: {exc.reason}") from None
        if not isinstance(node, CompareNode) or not isinstance(node.value, ListValue):
            raise CompileError(f"exception value {text!r} is not one list")
        return list(node.value.items)
    return [parse_value(text)]


def _blocker(pruned: Node, holds: EventTypes) -> str | None:
    """Why a rule that is switched off would not load if switched on, if it would not."""
    if isinstance(pruned, Const) and not pruned.value:
        return "it matches only event types our sensors do not report"
    missing = _unsupported_fields(pruned)
    if missing:
        return "it needs " + ", ".join(missing)
    return None


def _unknown_fields(node: Node) -> list[str]:
    unknown: list[str] = []
    for ref in fields_of(node):
        try:
            resolve_field(ref)
        except CompileError:
            if str(ref) not in unknown:
                unknown.append(str(ref))
    return unknown


def _unsupported_fields(node: Node) -> dict[str, str]:
    missing: dict[str, str] = {}
    for ref in fields_of(node):
        spec, _ = resolve_field(ref)
        if spec.unsupported is not None:
            missing.setdefault(str(ref), spec.unsupported)
    return missing


def _scalar_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _engine_version(value: object) -> tuple[int, int, int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (0, value, 0)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return (0, int(text), 0)
        parts = text.split(".")
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            return (int(parts[0]), int(parts[1]), int(parts[2]))
    return None


def load_rules_text(sources: Sequence[tuple[str, str | bytes]]) -> LoadedRules:
    """Load rules from ``(name, text)`` pairs, in order, as if they were files."""
    loader = _Loader()
    for name, text in sources:
        loader.read_text(name, text)
    return loader.compile()


def load_rules(paths: Sequence[str | Path]) -> LoadedRules:
    """Load rules files (a directory stands for its ``*.yaml``/``*.yml`` files, sorted).

    Raises :class:`RulesError` only for a path that cannot be read; everything about the
    content is in the returned :class:`LoadedRules`.
    """
    sources: list[tuple[str, str | bytes]] = []
    for path in map(Path, paths):
        files = (
            sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                sources.append((str(file), file.read_bytes()))
            except OSError as exc:
                raise RulesError(
                    f"cannot read {file}: {exc.strerror or exc}",
                    "check the path and its permissions",
                ) from exc
    return load_rules_text(sources)
