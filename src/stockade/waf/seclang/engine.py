"""The SecLang decision core: a :class:`Transaction` runs a :class:`RuleSet` over one exchange.

Sans-io: the caller hands in an :class:`HttpRequest` (and, for phases 3-4, an
:class:`HttpResponse`) and reads back a :class:`Verdict`. Evaluation follows ModSecurity v2
and Coraza: phases 1-5 in order, rules in load order within a phase, chains, ``skip`` and
``skipAfter`` to a ``SecMarker``, ``setvar`` on the TX collection with macro expansion,
``ctl`` changes for the rest of the transaction, captures into ``TX:0``-``TX:9``, and
disruptive actions honoured only when the engine is ``On``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from stockade.waf.request import (
    HttpRequest,
    HttpResponse,
    ParsedBody,
    default_processor,
    parse_cookies,
    parse_query,
    process_body,
)
from stockade.waf.seclang.loader import RuleSet, id_in, parse_targets
from stockade.waf.seclang.rules import Ctl, Rule, SetVar, Target

Item = tuple[str, str, str]
"""(key, lower-cased key, value) of one collection member."""

LIST_COLLECTIONS: Final = frozenset(
    {
        "ARGS",
        "ARGS_GET",
        "ARGS_POST",
        "ARGS_NAMES",
        "ARGS_GET_NAMES",
        "ARGS_POST_NAMES",
        "REQUEST_COOKIES",
        "REQUEST_COOKIES_NAMES",
        "REQUEST_HEADERS",
        "REQUEST_HEADERS_NAMES",
        "FILES",
        "FILES_NAMES",
        "FILES_SIZES",
        "MULTIPART_PART_HEADERS",
        "MULTIPART_FILENAME",
        "MULTIPART_NAME",
        "XML",
        "RESPONSE_HEADERS",
        "RESPONSE_HEADERS_NAMES",
    }
)
"""Collections the transaction fills once per phase: an empty one can skip a rule."""

_MACRO: Final = re.compile(r"%\{([^}]+)\}")
_COUNTER = itertools.count(1)
_PREFIX: Final = os.urandom(4).hex()


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """One rule (or whole chain) that matched, as a log line would show it."""

    rule_id: int
    phase: int
    msg: str
    logdata: str
    severity: str
    tags: tuple[str, ...]
    matched_var: str
    matched_value: str
    logged: bool
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the engine decided: whether to interrupt, with what, and what matched."""

    interrupted: bool
    status: int
    action: str
    """``deny``, ``drop``, ``redirect``, ``allow`` or empty when not interrupted."""
    rule_id: int
    matched: tuple[MatchedRule, ...]
    inbound_anomaly_score: int
    outbound_anomaly_score: int
    unique_id: str

    @property
    def matched_ids(self) -> frozenset[int]:
        """Ids of the rules that matched and log (what go-ftw reads from the error log)."""
        return frozenset(m.rule_id for m in self.matched if m.logged)


@dataclass(slots=True)
class _PhasePlan:
    rules: list[Rule]
    markers: dict[str, int]
    """Marker name (or rule id as text) to the index after which to resume."""


@dataclass(slots=True)
class Plan:
    """A rule set prepared for evaluation: rules split by phase, markers indexed."""

    ruleset: RuleSet
    phases: dict[int, _PhasePlan] = field(default_factory=dict)
    default_disruptive: dict[int, str] = field(default_factory=dict)
    _by_tag: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def ids_with_tag(self, selector: str) -> tuple[int, ...]:
        """Ids of the rules a tag selector (exact tag or regex) names, computed once."""
        found = self._by_tag.get(selector)
        if found is None:
            found = tuple(
                r.id
                for r in self.ruleset.rules
                if not r.is_marker and _tag_matches(selector, r.tags)
            )
            self._by_tag[selector] = found
        return found

    @classmethod
    def build(cls, ruleset: RuleSet) -> Plan:
        plan = cls(ruleset)
        for phase in range(1, 6):
            rules = [r for r in ruleset.rules if r.is_marker or r.phase == phase]
            markers: dict[str, int] = {}
            for index, rule in enumerate(rules):
                if rule.is_marker:
                    markers.setdefault(rule.marker, index)
                else:
                    markers.setdefault(str(rule.id), index)
            plan.phases[phase] = _PhasePlan(rules, markers)
            for rule in rules:
                for link in rule.links():
                    link.exclusions = [t for t in link.targets if t.exclude]
                    link.selected = [t for t in link.targets if not t.exclude]
                    if link.selected and all(
                        not t.count and t.collection in LIST_COLLECTIONS for t in link.selected
                    ):
                        link.prefilter = tuple({t.collection for t in link.selected})
            disruptive = "pass"
            for action in ruleset.default_actions.get(phase, []):
                if action.name in ("deny", "drop", "pass", "allow", "redirect"):
                    disruptive = action.name
            plan.default_disruptive[phase] = disruptive
        return plan


class Transaction:
    """One request/response exchange evaluated against a :class:`Plan`."""

    def __init__(self, plan: Plan, request: HttpRequest) -> None:
        self.plan = plan
        self.request = request
        self.response: HttpResponse | None = None
        self.tx: dict[str, str] = {}
        self.collections: dict[str, dict[str, str]] = {}
        self.unique_id = f"{_PREFIX}{next(_COUNTER):012x}"
        self.engine_mode = plan.ruleset.engine_mode
        self.request_body_access = plan.ruleset.request_body_access
        self.force_body_variable = False
        self.body_processor = ""
        self.removed_ids: list[str] = []
        self.removed_tag_ids: set[int] = set()
        self.removed_targets: dict[int, list[Target]] = {}
        self.matched: list[MatchedRule] = []
        self.interrupted = False
        self.status = 0
        self.action = ""
        self.rule_id = 0
        self.allowed_phases: set[int] = set()
        self.capturing = False
        self._captures: list[str] | None = None
        self._matched_vars: list[tuple[str, str]] = []
        self._matched_var: tuple[str, str] = ("", "")
        self._current_rule: Rule | None = None
        self._tcache: dict[tuple[str, tuple[str, ...]], str] = {}
        self._body: ParsedBody | None = None
        self._cache: dict[str, list[Item]] = {}
        self._key_index: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._phase_done = 0
        self._init_request()

    # --- public ------------------------------------------------------------------------

    def process_request_headers(self) -> None:
        self._run_phase(1)

    def process_request_body(self) -> None:
        self._process_body()
        self._run_phase(2)

    def process_response_headers(self, response: HttpResponse) -> None:
        self.response = response
        self._invalidate_response()
        self._run_phase(3)

    def process_response_body(self) -> None:
        self._run_phase(4)

    def process_logging(self) -> None:
        self._run_phase(5, even_if_interrupted=True)

    def verdict(self) -> Verdict:
        return Verdict(
            interrupted=self.interrupted,
            status=self.status,
            action=self.action,
            rule_id=self.rule_id,
            matched=tuple(self.matched),
            inbound_anomaly_score=_to_int(self.tx.get("blocking_inbound_anomaly_score", "0")),
            outbound_anomaly_score=_to_int(self.tx.get("blocking_outbound_anomaly_score", "0")),
            unique_id=self.unique_id,
        )

    # --- request model --------------------------------------------------------------------

    def _init_request(self) -> None:
        request = self.request
        uri = request.uri
        raw_uri = uri
        if "://" in uri.split("?", 1)[0]:
            # absolute form: REQUEST_URI loses the scheme and authority, RAW keeps them
            after_scheme = uri.split("://", 1)[1]
            slash = after_scheme.find("/")
            uri = after_scheme[slash:] if slash >= 0 else "/"
        path, _, query = uri.partition("?")
        path = path.split("#", 1)[0]
        basename = path.rsplit("/", 1)[-1]
        scalars = {
            "REQUEST_METHOD": request.method,
            "REQUEST_PROTOCOL": request.protocol,
            "REQUEST_URI": uri,
            "REQUEST_URI_RAW": raw_uri,
            "REQUEST_FILENAME": path,
            "REQUEST_BASENAME": basename,
            "REQUEST_LINE": f"{request.method} {raw_uri} {request.protocol}",
            "QUERY_STRING": query,
            "REMOTE_ADDR": request.remote_addr,
            "REMOTE_HOST": request.remote_addr,
            "REMOTE_PORT": str(request.remote_port),
            "SERVER_PORT": str(request.server_port),
            "SERVER_ADDR": "127.0.0.1",
            "UNIQUE_ID": self.unique_id,
            "REQBODY_ERROR": "0",
            "REQBODY_PROCESSOR_ERROR": "0",
            "REQBODY_ERROR_MSG": "",
            "REQBODY_PROCESSOR_ERROR_MSG": "",
            "INBOUND_DATA_ERROR": "0",
            "OUTBOUND_DATA_ERROR": "0",
            "URLENCODED_ERROR": "0",
            "DURATION": "0",
            "HIGHEST_SEVERITY": "255",
            "REQUEST_BODY_LENGTH": str(len(request.body)),
            "AUTH_TYPE": "",
            "PATH_INFO": "",
            "WEBSERVER_ERROR_LOG": "",
        }
        host = request.header_values("host")
        scalars["SERVER_NAME"] = host[0].split(":", 1)[0] if host else ""
        self._scalars = scalars
        self._args_get = parse_query(query)
        headers = list(request.headers)
        self._set("REQUEST_HEADERS", [(k, v) for k, v in headers])
        self._set("REQUEST_HEADERS_NAMES", [(k, k) for k, _ in headers])
        cookies = parse_cookies(request.header_values("cookie"))
        self._set("REQUEST_COOKIES", cookies)
        self._set("REQUEST_COOKIES_NAMES", [(k, k) for k, _ in cookies])
        self._set_args([])
        content_type = request.header_values("content-type")
        self._content_type = content_type[0] if content_type else ""
        self.body_processor = default_processor(self._content_type)
        self._scalars["REQBODY_PROCESSOR"] = self.body_processor

    def _set(self, name: str, pairs: Sequence[tuple[str, str]]) -> None:
        self._cache[name] = [(k, k.lower(), v) for k, v in pairs]
        self._key_index.pop(name, None)

    def _set_args(self, post: Sequence[tuple[str, str]]) -> None:
        self._set("ARGS_GET", self._args_get)
        self._set("ARGS_GET_NAMES", [(k, k) for k, _ in self._args_get])
        self._set("ARGS_POST", post)
        self._set("ARGS_POST_NAMES", [(k, k) for k, _ in post])
        both = [*self._args_get, *post]
        self._set("ARGS", both)
        self._set("ARGS_NAMES", [(k, k) for k, _ in both])
        self._scalars["ARGS_COMBINED_SIZE"] = str(sum(len(k) + len(v) for k, v in both))

    def _process_body(self) -> None:
        body_text = self.request.body.decode("latin-1")
        if not self.request_body_access:
            self._scalars["REQUEST_BODY"] = ""
            return
        limit = self.plan.ruleset.request_body_limit
        if len(body_text) > limit:
            body_text = body_text[:limit]
            self._scalars["INBOUND_DATA_ERROR"] = "1"
        self._scalars["REQUEST_BODY"] = body_text
        self._scalars["FULL_REQUEST_LENGTH"] = str(len(body_text))
        if not body_text:
            return
        parsed = process_body(self.body_processor, body_text, self._content_type)
        self._body = parsed
        if parsed.error:
            self._scalars["REQBODY_ERROR"] = "1"
            self._scalars["REQBODY_PROCESSOR_ERROR"] = "1"
            self._scalars["REQBODY_ERROR_MSG"] = parsed.error
            self._scalars["REQBODY_PROCESSOR_ERROR_MSG"] = parsed.error
        for flag, value in parsed.multipart_flags.items():
            self._scalars[flag] = str(value)
        self._set_args(parsed.args)
        self._set("FILES", [(f.field, f.filename) for f in parsed.files])
        self._set("FILES_NAMES", [(f.field, f.field) for f in parsed.files])
        self._set("FILES_SIZES", [(f.field, str(f.size)) for f in parsed.files])
        self._set("MULTIPART_FILENAME", [(f.field, f.filename) for f in parsed.files])
        self._set("MULTIPART_NAME", [(k, k) for k, _ in parsed.args])
        self._scalars["FILES_COMBINED_SIZE"] = str(sum(f.size for f in parsed.files))
        self._set("MULTIPART_PART_HEADERS", parsed.part_headers)
        if parsed.processor == "XML":
            self._set(
                "XML",
                [("/*", t) for t in parsed.xml_text] + [("//@*", a) for a in parsed.xml_attributes],
            )

    def _invalidate_response(self) -> None:
        response = self.response
        if response is None:
            return
        self._scalars["RESPONSE_STATUS"] = str(response.status)
        self._scalars["RESPONSE_PROTOCOL"] = response.protocol
        self._scalars["STATUS_LINE"] = f"{response.protocol} {response.status}"
        self._set("RESPONSE_HEADERS", list(response.headers))
        self._set("RESPONSE_HEADERS_NAMES", [(k, k) for k, _ in response.headers])
        content_type = ""
        content_length = str(len(response.body))
        for key, value in response.headers:
            if key.lower() == "content-type":
                content_type = value
            elif key.lower() == "content-length":
                content_length = value
        self._scalars["RESPONSE_CONTENT_TYPE"] = content_type
        self._scalars["RESPONSE_CONTENT_LENGTH"] = content_length
        body = ""
        media = content_type.split(";", 1)[0].strip().lower()
        if self.plan.ruleset.response_body_access and (
            media in self.plan.ruleset.response_mime_types
        ):
            body = response.body.decode("latin-1")
        self._scalars["RESPONSE_BODY"] = body

    # --- variables ------------------------------------------------------------------------

    def _items(self, collection: str) -> list[Item]:
        cached = self._cache.get(collection)
        if cached is not None:
            return cached
        if collection == "TX":
            return [(k, k, v) for k, v in self.tx.items()]
        if collection in ("MATCHED_VARS", "MATCHED_VARS_NAMES"):
            names = collection == "MATCHED_VARS_NAMES"
            return [(n, n.lower(), n if names else v) for n, v in self._matched_vars]
        if collection == "MATCHED_VAR":
            return [("", "", self._matched_var[1])] if self._matched_var[0] else []
        if collection == "MATCHED_VAR_NAME":
            return [("", "", self._matched_var[0])] if self._matched_var[0] else []
        scalar = self._scalars.get(collection)
        if scalar is not None:
            return [("", "", scalar)]
        stored = self.collections.get(collection.lower())
        if stored is not None:
            return [(k, k, v) for k, v in stored.items()]
        return []

    def _keyed(self, collection: str) -> dict[str, list[tuple[str, str]]]:
        index = self._key_index.get(collection)
        if index is None:
            index = {}
            for key, lower, value in self._items(collection):
                index.setdefault(lower, []).append((key, value))
            if collection in self._cache:
                self._key_index[collection] = index
        return index

    def _values(self, target: Target, exclusions: Sequence[Target]) -> list[tuple[str, str]]:
        collection = target.collection
        key = target.key
        if key is not None and not target.count:
            if collection == "TX":
                value = self.tx.get(key)
                return [] if value is None else [(f"TX:{key}", value)]
            found = self._keyed(collection).get(key)
            if not found:
                return []
            return [
                (f"{collection}:{k}", v)
                for k, v in found
                if not exclusions or not _excluded(collection, k, key, exclusions)
            ]
        items = self._items(collection)
        if target.count:
            if target.key is None and target.key_regex is None:
                return [(collection, str(len(items)))]
            count = sum(1 for k, lk, _ in items if target.selects(lk, k))
            return [(collection, str(count))]
        if not items:
            return []
        out: list[tuple[str, str]] = []
        scalar = collection in self._scalars or collection.startswith("MATCHED_VAR")
        regex = target.key_regex
        for item_key, lower, value in items:
            if regex is not None and not regex.search(item_key):
                continue
            if exclusions and _excluded(collection, item_key, lower, exclusions):
                continue
            out.append(
                (collection if scalar and not item_key else f"{collection}:{item_key}", value)
            )
        return out

    # --- macros and operator context -----------------------------------------------------

    def expand(self, text: str) -> str:
        if "%{" not in text:
            return text
        return _MACRO.sub(self._macro, text)

    def _macro(self, match: re.Match[str]) -> str:
        name = match.group(1)
        collection, _, key = name.partition(".")
        upper = collection.upper()
        if upper == "RULE":
            rule = self._current_rule
            if rule is None:
                return ""
            values = {"id": str(rule.id), "msg": rule.msg, "severity": rule.severity}
            return values.get(key.lower(), "")
        if upper == "TX" and key:
            return self.tx.get(key.lower(), "")
        if upper == "MATCHED_VAR":
            return self._matched_var[1]
        if upper == "MATCHED_VAR_NAME":
            return self._matched_var[0]
        items = self._items(upper)
        if key:
            lowered = key.lower()
            for _item_key, item_lower, value in items:
                if item_lower == lowered:
                    return value
            return ""
        return items[0][2] if items else ""

    def capture(self, groups: Sequence[str]) -> None:
        self._captures = list(groups)

    # --- evaluation -----------------------------------------------------------------------

    def _run_phase(self, phase: int, *, even_if_interrupted: bool = False) -> None:
        if self._phase_done >= phase:
            return
        self._phase_done = phase
        if self.engine_mode == "off":
            return
        if self.interrupted and not even_if_interrupted:
            return
        if phase in self.allowed_phases:
            return
        plan = self.plan.phases[phase]
        rules = plan.rules
        index = 0
        count = len(rules)
        while index < count:
            rule = rules[index]
            index += 1
            if rule.is_marker or self._removed(rule):
                continue
            if not self._evaluate_chain(rule):
                continue
            if self.engine_mode == "on" and self._disrupt(rule, phase):
                return
            if self.interrupted or phase in self.allowed_phases:
                return
            if rule.skip_after:
                target = plan.markers.get(rule.skip_after)
                if target is not None and target >= index:
                    index = target + 1
                elif target is None:
                    index = count
            elif rule.skip:
                index += rule.skip

    def _removed(self, rule: Rule) -> bool:
        if self.removed_ids and any(id_in(rule.id, spec) for spec in self.removed_ids):
            return True
        return rule.id in self.removed_tag_ids

    def _evaluate_chain(self, head: Rule) -> bool:
        self._current_rule = head
        self._matched_vars = []
        link: Rule | None = head
        last_var = ("", "")
        while link is not None:
            matches = self._evaluate_link(link, head)
            if not matches:
                return False
            self._matched_vars = matches
            last_var = matches[-1]
            self._matched_var = last_var
            self._run_actions(link)
            link = link.chain
        logdata = self.expand(head.logdata) if head.logdata else ""
        self.matched.append(
            MatchedRule(
                rule_id=head.id,
                phase=head.phase,
                msg=self.expand(head.msg) if head.msg else "",
                logdata=logdata[:512],
                severity=head.severity,
                tags=head.tags,
                matched_var=last_var[0],
                matched_value=last_var[1][:256],
                logged=head.log,
                file=head.file,
                line=head.line,
            )
        )
        return True

    def _evaluate_link(self, rule: Rule, head: Rule) -> list[tuple[str, str]]:
        operator = rule.operator
        if operator is None:
            # SecAction: matches unconditionally
            return [("", "")]
        if rule.prefilter:
            cache = self._cache
            if not any(cache.get(name) for name in rule.prefilter):
                return []
        exclusions = self._exclusions(rule, head)
        transforms = rule.transforms
        names = rule.transform_names
        tcache = self._tcache
        self.capturing = rule.capture
        matches: list[tuple[str, str]] = []
        for target in rule.selected:
            for var_name, value in self._values(target, exclusions):
                candidates: Sequence[str]
                if rule.multi_match:
                    candidates = self._each_step(value, transforms)
                elif transforms:
                    key = (value, names)
                    transformed = tcache.get(key)
                    if transformed is None:
                        transformed = value
                        for function in transforms:
                            transformed = function(transformed)
                        tcache[key] = transformed
                    candidates = (transformed,)
                else:
                    candidates = (value,)
                for transformed in candidates:
                    self._captures = None
                    if operator(transformed, self):
                        if self._captures is not None:
                            for position in range(10):
                                if position < len(self._captures):
                                    self.tx[str(position)] = self._captures[position]
                                else:
                                    self.tx.pop(str(position), None)
                        matches.append((var_name, transformed))
                        self._matched_var = (var_name, transformed)
                        break
        self.capturing = False
        return matches

    @staticmethod
    def _each_step(value: str, transforms: Sequence[Callable[[str], str]]) -> list[str]:
        """multiMatch: the value before any transformation and after each that changes it."""
        steps = [value]
        for function in transforms:
            value = function(value)
            if value != steps[-1]:
                steps.append(value)
        return steps

    def _exclusions(self, rule: Rule, head: Rule) -> list[Target]:
        extra = self.removed_targets.get(head.id)
        if extra:
            return [*rule.exclusions, *extra]
        return rule.exclusions

    def _run_actions(self, rule: Rule) -> None:
        for setvar in rule.setvars:
            self._setvar(setvar)
        for ctl in rule.ctls:
            self._ctl(ctl)

    def _setvar(self, setvar: SetVar) -> None:
        name = self.expand(setvar.name).lower() if "%{" in setvar.name else setvar.name
        store = (
            self.tx
            if setvar.collection == "tx"
            else self.collections.setdefault(setvar.collection, {})
        )
        if setvar.operation == "delete":
            store.pop(name, None)
            return
        value = self.expand(setvar.value)
        if setvar.operation == "=":
            store[name] = value
            return
        current = _to_int(store.get(name, "0"))
        delta = _to_int(value)
        store[name] = str(current + delta if setvar.operation == "+" else current - delta)

    def _ctl(self, ctl: Ctl) -> None:
        option = ctl.option
        value = self.expand(ctl.value)
        if option == "ruleengine":
            mode = value.lower()
            if mode in ("on", "off", "detectiononly"):
                self.engine_mode = mode
        elif option == "ruleremovebyid":
            self.removed_ids.extend(value.split())
        elif option == "ruleremovebytag":
            self.removed_tag_ids.update(self.plan.ids_with_tag(value))
        elif option in ("ruleremovetargetbyid", "ruleremovetargetbytag"):
            selector, _, targets_text = value.partition(";")
            if not targets_text:
                return
            targets = parse_targets(targets_text, file="ctl", line=0)
            if option == "ruleremovetargetbyid":
                for spec in selector.split():
                    for rule in self.plan.ruleset.rules:
                        if not rule.is_marker and id_in(rule.id, spec):
                            self.removed_targets.setdefault(rule.id, []).extend(targets)
            else:
                for rule_id in self.plan.ids_with_tag(selector):
                    self.removed_targets.setdefault(rule_id, []).extend(targets)
        elif option == "requestbodyprocessor":
            self.body_processor = value.upper()
            self._scalars["REQBODY_PROCESSOR"] = self.body_processor
        elif option == "forcerequestbodyvariable":
            self.force_body_variable = value.lower() == "on"
        elif option == "requestbodyaccess":
            self.request_body_access = value.lower() == "on"

    def _disrupt(self, rule: Rule, phase: int) -> bool:
        action = rule.disruptive
        if action == "block":
            action = self.plan.default_disruptive.get(phase, "pass")
        if action in ("deny", "drop", "redirect"):
            self.interrupted = True
            self.action = action
            self.status = rule.status or (302 if action == "redirect" else 403)
            self.rule_id = rule.id
            return True
        if action == "allow":
            scope = rule.allow_scope
            if scope == "phase":
                self.allowed_phases.add(phase)
            elif scope == "request":
                self.allowed_phases.update(p for p in (1, 2) if p >= phase)
            else:
                self.allowed_phases.update(p for p in (1, 2, 3, 4) if p >= phase)
            return True
        return False


def _tag_matches(spec: str, tags: Sequence[str]) -> bool:
    return spec in tags or any(re.search(spec, tag) for tag in tags)


def _excluded(collection: str, key: str, lower: str, exclusions: Sequence[Target]) -> bool:
    for target in exclusions:
        if target.collection != collection:
            continue
        if target.key is None and target.key_regex is None:
            return True
        if target.selects(lower, key):
            return True
    return False


_INT: Final = re.compile(r"\s*[-+]?\d+")


def _to_int(text: str) -> int:
    match = _INT.match(text)
    return int(match.group(0)) if match else 0


def evaluate(plan: Plan, request: HttpRequest, response: HttpResponse | None = None) -> Verdict:
    """Run every phase the exchange reaches and return the verdict."""
    transaction = Transaction(plan, request)
    transaction.process_request_headers()
    transaction.process_request_body()
    if response is not None and not transaction.interrupted:
        transaction.process_response_headers(response)
        transaction.process_response_body()
    transaction.process_logging()
    return transaction.verdict()
