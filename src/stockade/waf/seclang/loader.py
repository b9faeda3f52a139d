"""Directives to a :class:`RuleSet`: SecRule, SecAction, SecMarker and the configuration
directives CRS uses, with every error naming its file and line."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockade.waf.errors import SecLangError
from stockade.waf.seclang.operators import OperatorError, compile_operator
from stockade.waf.seclang.parser import (
    Action,
    Directive,
    iter_directives,
    parse_actions,
    read_rule_file,
)
from stockade.waf.seclang.regex import compile_regex
from stockade.waf.seclang.rules import Ctl, Rule, SetVar, Target
from stockade.waf.seclang.transformations import lookup as lookup_transformation

ENGINE_MODES = ("on", "detectiononly", "off")

_DISRUPTIVE = frozenset({"deny", "drop", "block", "allow", "redirect", "pass", "proxy"})
_IGNORED_ACTIONS = frozenset(
    {
        "ver",
        "rev",
        "maturity",
        "accuracy",
        "auditlog",
        "noauditlog",
        "sanitisematched",
        "sanitisearg",
        "sanitisematchedbytes",
        "sanitiserequestheader",
        "sanitiseresponseheader",
        "initcol",
        "setuid",
        "setsid",
        "expirevar",
        "deprecatevar",
        "exec",
        "append",
        "prepend",
        "pause",
        "xmlns",
        "setenv",
    }
)
_IGNORED_DIRECTIVES = frozenset(
    {
        "seccomponentsignature",
        "secauditengine",
        "secauditlog",
        "secauditlogparts",
        "secauditlogtype",
        "secauditlogformat",
        "secauditlogrelevantstatus",
        "secauditlogstoragedir",
        "secauditlogdirmode",
        "secauditlogfilemode",
        "secdebuglog",
        "secdebugloglevel",
        "secdatadir",
        "sectmpdir",
        "secuploaddir",
        "secrequestbodylimitaction",
        "secresponsebodylimitaction",
        "secrequestbodyinmemorylimit",
        "secrequestbodynofileslimit",
        "secrequestbodyjsondepthlimit",
        "secargumentslimit",
        "secresponsebodylimit",
        "secrxprefilter",
        "seccollectiontimeout",
        "secargumentseparator",
        "seccookieformat",
        "secunicodemapfile",
        "secstatusengine",
        "secpcrematchlimit",
        "secpcrematchlimitrecursion",
        "secserversignature",
        "secwebappid",
        "secsensorid",
        "sechashengine",
    }
)


@dataclass(slots=True)
class RuleSet:
    """Rules in load order (chains folded into their head) and engine settings."""

    rules: list[Rule] = field(default_factory=list)
    engine_mode: str = "on"
    request_body_access: bool = True
    response_body_access: bool = False
    request_body_limit: int = 13_107_200
    response_mime_types: tuple[str, ...] = ("text/plain", "text/html")
    default_actions: dict[int, list[Action]] = field(default_factory=dict)

    def rule_by_id(self, rule_id: int) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None


class Loader:
    """Reads SecLang files and text into one :class:`RuleSet`."""

    def __init__(self, ruleset: RuleSet | None = None) -> None:
        self.ruleset = ruleset if ruleset is not None else RuleSet()
        self._pending_chain: Rule | None = None
        self._pending_where: tuple[str, int] = ("", 0)

    def load_file(self, path: Path) -> None:
        self.load_text(read_rule_file(path), file=str(path), base_dir=path.parent)

    def load_files(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self.load_file(path)

    def load_text(self, text: str, *, file: str = "<string>", base_dir: Path | None = None) -> None:
        for directive in iter_directives(text, file=file):
            self._directive(directive, base_dir)
        if self._pending_chain is not None:
            where_file, where_line = self._pending_where
            raise SecLangError(
                "rule ends with 'chain' but no rule follows", file=where_file, line=where_line
            )

    # --- directives ---------------------------------------------------------------------

    def _directive(self, directive: Directive, base_dir: Path | None) -> None:
        name = directive.name.lower()
        args = directive.args
        where: dict[str, Any] = {"file": directive.file, "line": directive.line}
        if self._pending_chain is not None and name != "secrule":
            raise SecLangError(
                f"{directive.name} cannot follow a rule that asks for a chain", **where
            )
        if name == "secrule":
            if len(args) not in (2, 3):
                raise SecLangError("SecRule takes VARIABLES OPERATOR [ACTIONS]", **where)
            self._rule(directive, args[0], args[1], args[2] if len(args) == 3 else "", base_dir)
        elif name == "secaction":
            if len(args) != 1:
                raise SecLangError("SecAction takes one ACTIONS argument", **where)
            self._rule(directive, None, None, args[0], base_dir)
        elif name == "secmarker":
            if len(args) != 1:
                raise SecLangError("SecMarker takes one name", **where)
            marker = Rule(id=0, phase=0, file=directive.file, line=directive.line)
            marker.marker = args[0]
            self.ruleset.rules.append(marker)
        elif name == "secdefaultaction":
            if len(args) != 1:
                raise SecLangError("SecDefaultAction takes one ACTIONS argument", **where)
            actions = parse_actions(args[0], **where)
            phase = 2
            for action in actions:
                if action.name == "phase":
                    phase = _phase(action.value, directive)
            self.ruleset.default_actions[phase] = [a for a in actions if a.name != "phase"]
        elif name == "secruleengine":
            mode = _one(args, directive).lower()
            if mode not in ENGINE_MODES:
                raise SecLangError(f"SecRuleEngine: unknown mode {mode!r}", **where)
            self.ruleset.engine_mode = mode
        elif name == "secrequestbodyaccess":
            self.ruleset.request_body_access = _on_off(_one(args, directive), directive)
        elif name == "secresponsebodyaccess":
            self.ruleset.response_body_access = _on_off(_one(args, directive), directive)
        elif name == "secrequestbodylimit":
            try:
                self.ruleset.request_body_limit = int(_one(args, directive))
            except ValueError as exc:
                raise SecLangError("SecRequestBodyLimit takes a number", **where) from exc
        elif name == "secresponsebodymimetype":
            self.ruleset.response_mime_types = tuple(a.lower() for a in args)
        elif name == "secresponsebodymimetypesclear":
            self.ruleset.response_mime_types = ()
        elif name == "secruleremovebyid":
            specs = [spec for arg in args for spec in arg.split()]
            self._remove(lambda r: any(_id_in(r.id, spec) for spec in specs))
        elif name == "secruleremovebytag":
            pattern = compile_regex(_one(args, directive))
            self._remove(lambda r: any(pattern.search(t) for t in r.tags))
        elif name == "secruleremovebymsg":
            pattern = compile_regex(_one(args, directive))
            self._remove(lambda r: pattern.search(r.msg))
        elif name in ("secruleupdatetargetbyid", "secruleupdatetargetbytag"):
            if len(args) < 2:
                raise SecLangError(f"{directive.name} takes a selector and VARIABLES", **where)
            targets = parse_targets(args[1], file=directive.file, line=directive.line)
            for rule in self.ruleset.rules:
                if name.endswith("byid"):
                    chosen = any(_id_in(rule.id, s) for s in args[0].split())
                else:
                    chosen = args[0] in rule.tags
                if chosen and not rule.is_marker:
                    rule.targets.extend(targets)
        elif name == "secruleupdateactionbyid":
            self._update_actions(directive, base_dir)
        elif name in _IGNORED_DIRECTIVES:
            return
        else:
            raise SecLangError(f"unknown directive {directive.name}", **where)

    def _remove(self, predicate: Callable[[Rule], bool]) -> None:
        self.ruleset.rules = [r for r in self.ruleset.rules if r.is_marker or not predicate(r)]

    def _update_actions(self, directive: Directive, base_dir: Path | None) -> None:
        where: dict[str, Any] = {"file": directive.file, "line": directive.line}
        if len(directive.args) != 2:
            raise SecLangError("SecRuleUpdateActionById takes an id and ACTIONS", **where)
        rule_id = _rule_id(directive.args[0].split(":")[0], directive)
        rule = self.ruleset.rule_by_id(rule_id)
        if rule is None:
            return
        for action in parse_actions(directive.args[1], **where):
            if action.name == "t":
                rule.transforms = ()
                rule.transform_names = ()
            _apply_action(rule, action, directive, base_dir)

    def _rule(
        self,
        directive: Directive,
        variables: str | None,
        operator: str | None,
        actions_text: str,
        base_dir: Path | None,
    ) -> None:
        where: dict[str, Any] = {"file": directive.file, "line": directive.line}
        actions = parse_actions(actions_text, **where)
        head = self._pending_chain
        rule = Rule(id=0, phase=2, file=directive.file, line=directive.line)
        if variables is not None and operator is not None:
            rule.targets = parse_targets(variables, **where)
            try:
                rule.operator = compile_operator(operator, base_dir=base_dir)
            except OperatorError as exc:
                raise SecLangError(str(exc), **where) from exc
        explicit_phase = None
        chained = False
        for action in actions:
            if action.name == "phase":
                explicit_phase = _phase(action.value, directive)
            elif action.name == "chain":
                chained = True
        if head is None:
            phase = explicit_phase or 2
            rule.phase = phase
            for action in self.ruleset.default_actions.get(phase, []):
                if action.name not in ("id", "msg", "logdata", "tag", "severity", "chain"):
                    _apply_action(rule, action, directive, base_dir)
            rule.has_explicit_transforms = False
        for action in actions:
            if action.name in ("phase", "chain"):
                continue
            _apply_action(rule, action, directive, base_dir)
        if head is None:
            if rule.id == 0:
                raise SecLangError("rule has no id", **where)
            if not 1 <= rule.phase <= 5:
                raise SecLangError(f"phase {rule.phase} is out of range 1-5", **where)
            self.ruleset.rules.append(rule)
        else:
            rule.is_chain_link = True
            rule.phase = head.phase
            tail = head
            while tail.chain is not None:
                tail = tail.chain
            tail.chain = rule
        if chained:
            if head is None:
                self._pending_chain = rule
                self._pending_where = (directive.file, directive.line)
        elif head is not None:
            self._pending_chain = None


def _apply_action(rule: Rule, action: Action, directive: Directive, base_dir: Path | None) -> None:
    where: dict[str, Any] = {"file": directive.file, "line": directive.line}
    name, value = action.name, action.value
    if name == "id":
        rule.id = _rule_id(value, directive)
    elif name == "phase":
        rule.phase = _phase(value, directive)
    elif name == "t":
        if value.lower() == "none":
            rule.transforms = ()
            rule.transform_names = ()
        else:
            function = lookup_transformation(value)
            if function is None:
                raise SecLangError(f"unknown transformation t:{value}", **where)
            rule.transforms = (*rule.transforms, function)
            rule.transform_names = (*rule.transform_names, value.lower())
    elif name in _DISRUPTIVE:
        rule.disruptive = name
        if name == "allow":
            rule.allow_scope = value.lower()
    elif name == "status":
        try:
            rule.status = int(value)
        except ValueError as exc:
            raise SecLangError(f"status:{value} is not a number", **where) from exc
    elif name == "log":
        rule.log = True
    elif name == "nolog":
        rule.log = False
    elif name == "capture":
        rule.capture = True
    elif name == "multimatch":
        rule.multi_match = True
    elif name == "msg":
        rule.msg = value
    elif name == "logdata":
        rule.logdata = value
    elif name == "severity":
        rule.severity = value
    elif name == "tag":
        rule.tags = (*rule.tags, value)
        if value.startswith("paranoia-level/"):
            try:
                rule.paranoia_level = int(value.rsplit("/", 1)[1])
            except ValueError:
                rule.paranoia_level = 0
    elif name == "skip":
        try:
            rule.skip = int(value)
        except ValueError as exc:
            raise SecLangError(f"skip:{value} is not a number", **where) from exc
    elif name == "skipafter":
        rule.skip_after = value
    elif name == "setvar":
        rule.setvars.append(_setvar(value, directive))
    elif name == "ctl":
        option, sep, setting = value.partition("=")
        if not sep:
            raise SecLangError(f"ctl:{value} has no '='", **where)
        rule.ctls.append(Ctl(option.strip().lower(), setting.strip()))
    elif name in _IGNORED_ACTIONS:
        return
    else:
        raise SecLangError(f"unknown action {name!r}", **where)


def _setvar(text: str, directive: Directive) -> SetVar:
    where: dict[str, Any] = {"file": directive.file, "line": directive.line}
    if text.startswith("!"):
        collection, _, name = text[1:].partition(".")
        return SetVar(collection.lower(), name.lower(), "delete", "")
    target, sep, value = text.partition("=")
    collection, dot, name = target.partition(".")
    if not dot or not name:
        raise SecLangError(f"setvar:{text} needs COLLECTION.NAME", **where)
    operation = "="
    if sep and value[:1] in ("+", "-"):
        operation = value[0]
        value = value[1:]
    elif not sep:
        value = "1"
    return SetVar(collection.lower(), name.lower(), operation, value)


def parse_targets(text: str, *, file: str, line: int) -> list[Target]:
    """``REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS:foo|&TX:x`` as :class:`Target`\\ s."""
    targets: list[Target] = []
    for raw in _split_targets(text):
        part = raw.strip()
        if not part:
            raise SecLangError(f"empty variable in {text!r}", file=file, line=line)
        exclude = part.startswith("!")
        count = part.startswith("&")
        part = part.lstrip("!&")
        collection, sep, selector = part.partition(":")
        if not sep:
            collection, sep, selector = part.partition(".")
        collection = collection.strip().upper()
        if not collection or not re.fullmatch(r"[A-Z0-9_]+", collection):
            raise SecLangError(f"bad variable name {raw!r}", file=file, line=line)
        target = Target(collection=collection, count=count, exclude=exclude, text=raw.strip())
        selector = selector.strip()
        if selector.startswith("'") and selector.endswith("'") and len(selector) >= 2:
            selector = selector[1:-1]
        if (
            selector.startswith("/")
            and selector.endswith("/")
            and len(selector) >= 2
            and collection != "XML"
        ):
            try:
                target.key_regex = compile_regex(selector[1:-1], ignore_case=True)
            except re.error as exc:
                raise SecLangError(
                    f"bad selector regex in {raw!r}: {exc}", file=file, line=line
                ) from exc
        elif selector:
            target.key = selector.lower()
        targets.append(target)
    return targets


def _split_targets(text: str) -> list[str]:
    # '|' separates variables, except inside a /regex/ selector. An XML selector is an
    # XPath expression (XML:/*, XML://@*), never a regex.
    parts: list[str] = []
    current: list[str] = []
    in_regex = False
    previous = ""
    for char in text:
        if char == "/":
            if not in_regex and previous == ":" and not _is_xml(current):
                in_regex = True
            elif in_regex and previous != "\\":
                in_regex = False
        if char == "|" and not in_regex:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        previous = char
    parts.append("".join(current))
    return parts


def _is_xml(variable: list[str]) -> bool:
    return "".join(variable).strip().lstrip("!&").upper() == "XML:"


def _rule_id(text: str, directive: Directive) -> int:
    try:
        value = int(text.strip().strip("'"))
    except ValueError as exc:
        raise SecLangError(
            f"rule id {text!r} is not a number", file=directive.file, line=directive.line
        ) from exc
    if value <= 0:
        raise SecLangError("rule id must be positive", file=directive.file, line=directive.line)
    return value


def _phase(text: str, directive: Directive) -> int:
    named = {"request": 2, "response": 4, "logging": 5}
    text = text.strip().strip("'").lower()
    if text in named:
        return named[text]
    try:
        value = int(text)
    except ValueError as exc:
        raise SecLangError(
            f"phase {text!r} is not 1-5", file=directive.file, line=directive.line
        ) from exc
    if not 1 <= value <= 5:
        raise SecLangError(f"phase {value} is not 1-5", file=directive.file, line=directive.line)
    return value


def _one(args: tuple[str, ...], directive: Directive) -> str:
    if len(args) != 1:
        raise SecLangError(
            f"{directive.name} takes one argument", file=directive.file, line=directive.line
        )
    return args[0]


def _on_off(text: str, directive: Directive) -> bool:
    lowered = text.lower()
    if lowered not in ("on", "off"):
        raise SecLangError(
            f"{directive.name} takes On or Off", file=directive.file, line=directive.line
        )
    return lowered == "on"


def _id_in(rule_id: int, spec: str) -> bool:
    low, sep, high = spec.partition("-")
    try:
        if sep:
            return int(low) <= rule_id <= int(high)
        return rule_id == int(spec)
    except ValueError:
        return False


def id_in(rule_id: int, spec: str) -> bool:
    """Whether ``rule_id`` is the id or inside the ``low-high`` range ``spec`` names."""
    return _id_in(rule_id, spec)
