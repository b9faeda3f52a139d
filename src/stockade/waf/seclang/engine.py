"""The SecLang decision core: a :class:`Transaction` runs a :class:`RuleSet` over one exchange.

Sans-io: the caller hands in an :class:`HttpRequest` (and, for phases 3-4, an
:class:`HttpResponse`) and reads back a :class:`Verdict`. Evaluation follows ModSecurity v2
and Coraza: phases 1-5 in order, rules in load order within a phase, chains, ``skip`` and
``skipAfter`` to a ``SecMarker``, ``setvar`` on the TX collection with macro expansion,
``ctl`` changes for the rest of the transaction, captures into ``TX:0``-``TX:9``, and
disruptive actions honoured only when the engine is ``On``.

Speed, without changing a decision (``Plan.build(..., optimize=False)`` is the plain
evaluator the tests hold the optimised one to): rules that cannot match a request are
skipped before evaluation (:mod:`~stockade.waf.seclang.prefilter`); the one-variable
links CRS evaluates on every request (``TX:x``, ``&TX:x``, a request scalar, one header)
have direct evaluators; runs of rules that only read and write TX are replayed from what
the same TX values did before; transformation, libinjection, capture and macro results
are remembered across requests, each store bounded.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import eq, ge, gt, le, lt
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
from stockade.waf.seclang.operators import Operator
from stockade.waf.seclang.prefilter import (
    LIST_COLLECTIONS,
    PHASE_STABLE,
    Gate,
    PrefilterGroup,
    build_groups,
    candidates,
    memo_key,
)
from stockade.waf.seclang.rules import Ctl, Rule, SetVar, Target

Item = tuple[str, str, str]
"""(key, lower-cased key, value) of one collection member."""
LinkResult = list[tuple[str, str]]
"""(variable name, value as the operator saw it) of each value a rule matched."""


_MACRO: Final = re.compile(r"%\{([^}]+)\}")
_MATCHED_MEMO_ENTRIES: Final = 8_192
_MEMO_ENTRIES: Final = 1_024
_MEMO_VALUE_LENGTH: Final = 256
_TRANSFORMED: dict[tuple[str, ...], dict[str, str]] = {}
"""Chain names -> value -> transformed value, shared by every plan (transformations are
pure functions of the value); each bounded, emptied when full."""
_STEPS: dict[tuple[str, ...], dict[str, list[str]]] = {}
"""The same for multiMatch: chain names -> value -> the distinct steps."""
_CAPTURE_KEYS: Final = tuple(str(n) for n in range(10))
_NO_MATCHES: Final[list[tuple[str, str]]] = []
"""MATCHED_VARS before a rule matched anything (shared; never modified)."""
_TEMPLATE_ENTRIES: Final = 4_096
_RUN_MEMO_ENTRIES: Final = 1_024
_RUN_MIN_RULES: Final = 6
"""Shorter runs of TX-only rules are cheaper to run than to look up."""
_INTERNAL_MACROS: Final = frozenset({"MATCHED_VAR", "MATCHED_VAR_NAME", "MATCHED_VARS", "RULE"})
_MARKER: Final = Gate(PrefilterGroup(-1, 0, 0, ()), -1, -1)
"""Stands in the gate list for a SecMarker: nothing to evaluate."""
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
class _TxRun:
    """Consecutive rules that read and write nothing but TX (CRS's setup defaults,
    paranoia-level skips, score sums): what running them does depends only on the values
    of ``reads`` when execution enters, so it is remembered per entry point and those
    values, and replayed (TX writes, match records, where execution goes next)."""

    start: int
    end: int
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    memo: dict[tuple[object, ...], _RunEffect] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _RunEffect:
    exit: int
    writes: tuple[tuple[str, str | None], ...]
    records: tuple[tuple[Rule, str, str, str, str], ...]
    matched_var: tuple[str, str]
    matched_vars: list[tuple[str, str]]
    current_rule: Rule | None


@dataclass(slots=True)
class _PhasePlan:
    rules: list[Rule]
    markers: dict[str, int]
    """Marker name (or rule id as text) to the index after which to resume."""
    gates: list[Gate | None] = field(default_factory=list)
    """Per rule: its prefilter slot, or None when it is evaluated every time."""
    runs: list[_TxRun | None] = field(default_factory=list)
    """Per rule: the run of TX-only rules it belongs to, if any (see :class:`_TxRun`)."""
    fast: list[Callable[[Transaction], LinkResult] | None] = field(default_factory=list)
    """Per rule: a direct evaluator of its first link (see :func:`_fast_path`), if any."""


@dataclass(slots=True)
class Plan:
    """A rule set prepared for evaluation: rules split by phase, markers indexed."""

    ruleset: RuleSet
    phases: dict[int, _PhasePlan] = field(default_factory=dict)
    default_disruptive: dict[int, str] = field(default_factory=dict)
    prefilter_groups: list[PrefilterGroup] = field(default_factory=list)
    link_fast: dict[int, Callable[[Transaction], LinkResult]] = field(default_factory=dict)
    """Direct evaluators of chained rules, by ``id()`` of the rule."""
    _by_tag: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _by_spec: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _ctl_targets: dict[str, list[Target]] = field(default_factory=dict)
    _matched_memo: dict[tuple[int, str, str, str, str], MatchedRule] = field(default_factory=dict)

    def ids_in(self, spec: str) -> tuple[int, ...]:
        """Ids of the rules an id or ``low-high`` range names (``ctl`` specs), computed
        once."""
        found = self._by_spec.get(spec)
        if found is None:
            found = tuple(r.id for r in self.ruleset.rules if not r.is_marker and id_in(r.id, spec))
            if len(self._by_spec) < _TEMPLATE_ENTRIES:
                self._by_spec[spec] = found
        return found

    def ctl_targets(self, text: str) -> list[Target]:
        """The variables of a ``ctl:ruleRemoveTarget...`` value, parsed once (the result is
        shared: never modified)."""
        found = self._ctl_targets.get(text)
        if found is None:
            found = parse_targets(text, file="ctl", line=0)
            if len(self._ctl_targets) < _TEMPLATE_ENTRIES:
                self._ctl_targets[text] = found
        return found

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
    def build(cls, ruleset: RuleSet, *, optimize: bool = True) -> Plan:
        """Prepare ``ruleset``. ``optimize=False`` leaves out everything that only makes
        evaluation faster (the prefilter, the direct evaluators, the remembered TX runs):
        the reference the optimised plan is tested against; both decide the same."""
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
        gates: dict[int, Gate] = {}
        if optimize:
            plan.prefilter_groups, gates = build_groups(ruleset.rules)
            for rule in ruleset.rules:
                for link in rule.links()[1:]:
                    fast = _fast_path(link)
                    if fast is not None:
                        plan.link_fast[id(link)] = fast
        for phase_plan in plan.phases.values():
            rules = phase_plan.rules
            phase_plan.gates = [
                _MARKER if rule.is_marker else gates.get(id(rule)) for rule in rules
            ]
            if optimize:
                phase_plan.fast = [None if r.is_marker else _fast_path(r) for r in rules]
                phase_plan.runs = _tx_runs(rules)
            else:
                phase_plan.fast = [None] * len(rules)
                phase_plan.runs = [None] * len(rules)
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
        self._removed_parsed: list[str] = []
        self._removed_single: set[int] = set()
        self._removed_ranges: list[tuple[int, int]] = []
        self.removed_tag_ids: set[int] = set()
        self.removed_targets: dict[int, list[Target]] = {}
        self._records: list[tuple[Rule, str, str, str, str]] = []
        """(head, msg, logdata, matched var, matched value) per match, expanded when it
        matched; :attr:`matched` builds the records on demand."""
        self._matched: list[MatchedRule] = []
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
        self._candidates: list[set[int] | frozenset[int] | None] = [None] * len(
            plan.prefilter_groups
        )
        self._phase_done = 0
        self._init_request()

    # --- public ------------------------------------------------------------------------

    @property
    def matched(self) -> list[MatchedRule]:
        """The rules (whole chains) that matched so far, in order."""
        built = self._matched
        records = self._records
        if len(built) == len(records):
            return built
        memo = self.plan._matched_memo
        for head, msg, logdata, var, value in records[len(built) :]:
            # The same rule matching the same way (CRS's setup and paranoia-level skips on
            # every request) yields an equal, immutable record: build it once.
            key = (id(head), msg, logdata, var, value)
            rule = memo.get(key)
            if rule is None:
                rule = MatchedRule(
                    rule_id=head.id,
                    phase=head.phase,
                    msg=msg,
                    logdata=logdata,
                    severity=head.severity,
                    tags=head.tags,
                    matched_var=var,
                    matched_value=value,
                    logged=head.log,
                    file=head.file,
                    line=head.line,
                )
                if len(memo) >= _MATCHED_MEMO_ENTRIES:
                    memo.clear()
                memo[key] = rule
            built.append(rule)
        return built

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
        # Header names lower-cased once: the collections and the lookups below share them.
        headers = [(k, k.lower(), v) for k, v in request.headers]
        host = [v for _, lower, v in headers if lower == "host"]
        scalars["SERVER_NAME"] = host[0].split(":", 1)[0] if host else ""
        self._scalars = scalars
        self._args_get = parse_query(query)
        cache = self._cache
        cache["REQUEST_HEADERS"] = headers
        cache["REQUEST_HEADERS_NAMES"] = [(k, lower, k) for k, lower, _ in headers]
        cookies = parse_cookies([v for _, lower, v in headers if lower == "cookie"])
        self._set("REQUEST_COOKIES", cookies)
        self._set("REQUEST_COOKIES_NAMES", [(k, k) for k, _ in cookies])
        self._set_args([])
        content_type = [v for _, lower, v in headers if lower == "content-type"]
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
            if not exclusions:
                return [(f"{collection}:{k}", v) for k, v in found]
            return [
                (f"{collection}:{k}", v)
                for k, v in found
                if not _excluded(collection, k, key, exclusions)
            ]
        if target.count:
            if key is not None:
                # Keys are compared lower-cased; TX keys are stored lower-cased.
                if collection == "TX":
                    return [(collection, "1" if key in self.tx else "0")]
                return [(collection, str(len(self._keyed(collection).get(key, ()))))]
            items = self._items(collection)
            if target.key_regex is None:
                return [(collection, str(len(items)))]
            count = sum(1 for k, lk, _ in items if target.selects(lk, k))
            return [(collection, str(count))]
        if collection == "TX":
            # A regex selector over TX (CRS's per-header and per-content-type variables).
            known = target._selected
            selected: list[tuple[str, str]] = []
            for item_key, value in self.tx.items():
                hit = known.get(item_key)
                if hit is None:
                    hit = target.selects(item_key, item_key)
                if hit and not (exclusions and _excluded("TX", item_key, item_key, exclusions)):
                    selected.append((f"TX:{item_key}", value))
            return selected
        items = self._items(collection)
        if not items:
            return []
        scalar = collection in self._scalars or collection.startswith("MATCHED_VAR")
        if not exclusions and target.key_regex is None:
            if scalar:
                return [
                    (collection if not k else f"{collection}:{k}", value) for k, _, value in items
                ]
            return [(f"{collection}:{k}", value) for k, _, value in items]
        out: list[tuple[str, str]] = []
        selective = target.key_regex is not None
        for item_key, lower, value in items:
            if selective and not target.selects(lower, item_key):
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
        template = _TEMPLATES.get(text)
        if template is None:
            template = _template(text)
        out = []
        for part in template:
            if type(part) is str:
                out.append(part)
            else:
                out.append(self._macro(*part))
        return "".join(out)

    def _macro(self, upper: str, key: str, lowered: str) -> str:
        if upper == "RULE":
            rule = self._current_rule
            if rule is None:
                return ""
            values = {"id": str(rule.id), "msg": rule.msg, "severity": rule.severity}
            return values.get(lowered, "")
        if upper == "TX" and key:
            return self.tx.get(lowered, "")
        if upper == "MATCHED_VAR":
            return self._matched_var[1]
        if upper == "MATCHED_VAR_NAME":
            return self._matched_var[0]
        items = self._items(upper)
        if key:
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
        gates = plan.gates
        candidates = self._candidates
        removed_targets = self.removed_targets
        removing = bool(self.removed_ids or self.removed_tag_ids)
        runs = plan.runs
        fasts = plan.fast
        recording: tuple[_TxRun, tuple[object, ...], int] | None = None
        index = 0
        count = len(rules)
        while index < count:
            run = runs[index]
            if recording is not None and run is not recording[0]:
                self._remember_run(recording, index)
                recording = None
            if run is not None and recording is None:
                tx = self.tx
                key: tuple[object, ...] = (index, *[tx.get(name) for name in run.reads])
                if removing:
                    # Which of the run's rules ctl removed is part of what decides it.
                    key = (*key, tuple(self.removed_ids), frozenset(self.removed_tag_ids))
                effect = run.memo.get(key)
                if effect is not None:
                    index = self._replay(effect)
                    continue
                recording = (run, key, len(self._records))
            rule = rules[index]
            gate = gates[index]
            index += 1
            if gate is not None:
                if gate is _MARKER:
                    continue
                found = candidates[gate.group_index]
                if found is None:
                    found = self._prefilter(gate.group)
                    candidates[gate.group_index] = found
                if gate.slot not in found:
                    # Its pattern is in none of the values it reads: it cannot match.
                    continue
            if removing and self._removed(rule):
                continue
            self._current_rule = rule
            self._matched_vars = _NO_MATCHES
            fast = fasts[index - 1]
            if fast is not None and not (removed_targets and rule.id in removed_targets):
                matches = fast(self)
            else:
                matches = self._evaluate_link(rule, rule)
            if not matches:
                continue
            matched = self._complete_chain(rule, matches)
            # The rule's actions may have removed rules (ctl).
            removing = bool(self.removed_ids or self.removed_tag_ids)
            if not matched:
                continue
            disruptive = rule.disruptive
            if (
                disruptive
                and disruptive != "pass"
                and self.engine_mode == "on"
                and self._disrupt(rule, phase)
            ):
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
        if recording is not None:
            self._remember_run(recording, index)

    def _remember_run(
        self, recording: tuple[_TxRun, tuple[object, ...], int], exit_index: int
    ) -> None:
        run, key, first_record = recording
        tx = self.tx
        effect = _RunEffect(
            exit_index,
            tuple((name, tx.get(name)) for name in run.writes),
            tuple(self._records[first_record:]),
            self._matched_var,
            self._matched_vars,
            self._current_rule,
        )
        if len(run.memo) >= _RUN_MEMO_ENTRIES:
            run.memo.clear()
        run.memo[key] = effect

    def _replay(self, effect: _RunEffect) -> int:
        tx = self.tx
        for name, value in effect.writes:
            if value is None:
                tx.pop(name, None)
            else:
                tx[name] = value
        if effect.records:
            self._records.extend(effect.records)
        self._matched_var = effect.matched_var
        self._matched_vars = effect.matched_vars
        self._current_rule = effect.current_rule
        return effect.exit

    def _prefilter(self, group: PrefilterGroup) -> set[int] | frozenset[int]:
        """Slots of the group's rules whose pattern is found in a value they read."""
        found: set[int] | frozenset[int] = frozenset()
        for reader in group.readers:
            memo = reader.memo
            for collection, key in reader.sources:
                if key is None:
                    values = [value for _, _, value in self._items(collection)]
                else:
                    values = [value for _, value in self._keyed(collection).get(key, ())]
                for value in values:
                    remembered = memo_key(value)
                    slots = memo.get(remembered)
                    if slots is None:
                        slots = candidates(reader, value, remembered)
                        if slots is None:
                            # RE2 could not run the set: evaluate every rule of the group.
                            return group.every_slot()
                    if slots:
                        found = found | slots
        return found

    def _removed(self, rule: Rule) -> bool:
        rule_id = rule.id
        if rule_id in self.removed_tag_ids:
            return True
        if len(self._removed_parsed) != len(self.removed_ids):
            self._parse_removed()
        if rule_id in self._removed_single:
            return True
        return any(low <= rule_id <= high for low, high in self._removed_ranges)

    def _parse_removed(self) -> None:
        """``removed_ids`` (ctl:ruleRemoveById specs) as ids and ranges, read as
        :func:`id_in` reads them."""
        for spec in self.removed_ids[len(self._removed_parsed) :]:
            self._removed_parsed.append(spec)
            low, sep, high = spec.partition("-")
            try:
                if sep:
                    self._removed_ranges.append((int(low), int(high)))
                else:
                    self._removed_single.add(int(spec))
            except ValueError:
                continue  # names no rule

    def _complete_chain(self, head: Rule, matches: list[tuple[str, str]]) -> bool:
        """After the head matched: its actions, then each chained rule in turn; records
        the match when the whole chain matched."""
        last_var = matches[-1]
        self._matched_vars = matches
        self._matched_var = last_var
        if head.setvars or head.ctls:
            self._run_actions(head)
        link = head.chain
        removed_targets = self.removed_targets
        link_fast = self.plan.link_fast
        while link is not None:
            fast = link_fast.get(id(link)) if link_fast else None
            if fast is not None and not (removed_targets and head.id in removed_targets):
                matches = fast(self)
            else:
                matches = self._evaluate_link(link, head)
            if not matches:
                return False
            last_var = matches[-1]
            self._matched_vars = matches
            self._matched_var = last_var
            if link.setvars or link.ctls:
                self._run_actions(link)
            link = link.chain
        self._records.append(
            (
                head,
                self.expand(head.msg) if head.msg else "",
                self.expand(head.logdata)[:512] if head.logdata else "",
                last_var[0],
                last_var[1][:256],
            )
        )
        return True

    def _evaluate_link(self, rule: Rule, head: Rule) -> list[tuple[str, str]]:
        operator = rule.operator
        if operator is None:
            # SecAction: matches unconditionally
            return [("", "")]
        prefilter = rule.prefilter
        if prefilter:
            cache = self._cache
            for name in prefilter:
                if cache.get(name):
                    break
            else:
                return []
        removed = self.removed_targets
        exclusions = self._exclusions(rule, head) if removed else rule.exclusions
        transforms = rule.transforms
        names = rule.transform_names
        multi_match = rule.multi_match
        test = operator.matcher
        negated = operator.negated
        self.capturing = rule.capture
        matches: list[tuple[str, str]] = []
        for target in rule.selected:
            for var_name, value in self._values(target, exclusions):
                candidates: Sequence[str]
                if multi_match:
                    candidates = self._steps(value, names, transforms)
                elif transforms:
                    candidates = (self._transformed(value, names, transforms),)
                else:
                    candidates = (value,)
                for transformed in candidates:
                    self._captures = None
                    if test(transformed, self) != negated:
                        captures = self._captures
                        if captures is not None:
                            tx = self.tx
                            for position, name in enumerate(_CAPTURE_KEYS):
                                if position < len(captures):
                                    tx[name] = captures[position]
                                else:
                                    tx.pop(name, None)
                        matches.append((var_name, transformed))
                        self._matched_var = (var_name, transformed)
                        break
        self.capturing = False
        return matches

    def _transformed(
        self, value: str, names: tuple[str, ...], transforms: Sequence[Callable[[str], str]]
    ) -> str:
        """``value`` through the chain, remembered: across requests for short values (the
        same headers, cookies and arguments come back), within this one for long ones."""
        memo = _TRANSFORMED.get(names)
        if memo is None:
            memo = _TRANSFORMED[names] = {}
        found = memo.get(value)
        if found is None:
            key = (value, names)
            found = self._tcache.get(key)
            if found is None:
                found = value
                for function in transforms:
                    found = function(found)
                if len(value) <= _MEMO_VALUE_LENGTH:
                    if len(memo) >= _MEMO_ENTRIES:
                        memo.clear()
                    memo[value] = found
                else:
                    self._tcache[key] = found
        return found

    def _steps(
        self, value: str, names: tuple[str, ...], transforms: Sequence[Callable[[str], str]]
    ) -> list[str]:
        """multiMatch: the value before any transformation and after each that changes it
        (remembered like :meth:`_transformed`)."""
        memo = _STEPS.get(names)
        if memo is None:
            memo = _STEPS[names] = {}
        found = memo.get(value)
        if found is None:
            first = value
            found = [value]
            for function in transforms:
                value = function(value)
                if value != found[-1]:
                    found.append(value)
            if len(first) <= _MEMO_VALUE_LENGTH:
                if len(memo) >= _MEMO_ENTRIES:
                    memo.clear()
                memo[first] = found
        return found

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
            targets = self.plan.ctl_targets(targets_text)
            if option == "ruleremovetargetbyid":
                for spec in selector.split():
                    for rule_id in self.plan.ids_in(spec):
                        self.removed_targets.setdefault(rule_id, []).extend(targets)
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


def _fast_path(rule: Rule) -> Callable[[Transaction], LinkResult] | None:
    """A direct evaluator for the link shapes CRS evaluates on every request: one variable
    (``TX:name``, ``&TX:name``, a request scalar such as ``REQUEST_LINE``, one key of a
    request collection, or a count of one) without ``!VAR`` exclusions, capture or
    ``multiMatch``. Each gives what the general path gives; where it would have to
    reproduce a rare case (a collection not filled yet) it hands over to the general path.
    A rule that ``ctl`` removes targets from always takes the general path."""
    operator = rule.operator
    if operator is None or len(rule.selected) != 1:
        return None
    if rule.multi_match or rule.capture:
        return None
    target = rule.selected[0]
    if target.key_regex is not None:
        return None
    collection = target.collection
    key = target.key
    test = operator.matcher
    negated = operator.negated
    names = rule.transform_names
    transforms = rule.transforms
    if collection == "TX" and key is not None and not transforms:
        return _tx_path(key, target.count, test, negated, _static_numeric(operator))
    if rule.exclusions:
        return None
    if collection in LIST_COLLECTIONS:
        if target.count:
            return _count_path(
                rule,
                collection=collection,
                key=key,
                test=test,
                negated=negated,
                names=names,
                transforms=transforms,
            )
        if key is not None:
            return _keyed_path(
                rule,
                collection=collection,
                key=key,
                test=test,
                negated=negated,
                names=names,
                transforms=transforms,
            )
        return None
    if collection in PHASE_STABLE and key is None and not target.count:
        return _scalar_path(
            rule,
            collection=collection,
            test=test,
            negated=negated,
            names=names,
            transforms=transforms,
        )
    return None


Matcher = Callable[[str, Transaction], bool]

_COMPARISONS: Final[dict[str, Callable[[int, int], bool]]] = {
    "eq": eq,
    "ge": ge,
    "gt": gt,
    "le": le,
    "lt": lt,
}


def _static_numeric(op: Operator) -> tuple[Callable[[int, int], bool], int] | None:
    """(comparison, bound) of ``@eq``/``@ge``/``@gt``/``@le``/``@lt`` with a constant
    parameter, whose matcher compares the value read as C's atoi does."""
    compare = _COMPARISONS.get(op.name)
    if compare is None or "%{" in op.param:
        return None
    return compare, _to_int(op.param)


def _tx_path(
    key: str,
    count: bool,
    test: Matcher,
    negated: bool,
    numeric: tuple[Callable[[int, int], bool], int] | None,
) -> Callable[..., LinkResult]:
    # A TX key ignores ``!VAR`` exclusions on the general path too.
    if count:

        def tx_count(transaction: Transaction) -> LinkResult:
            value = "1" if key in transaction.tx else "0"
            if test(value, transaction) != negated:
                return [("TX", value)]
            return []

        return tx_count
    name = f"TX:{key}"
    if numeric is not None:
        compare, bound = numeric

        def tx_number(transaction: Transaction) -> LinkResult:
            value = transaction.tx.get(key)
            if value is None:
                return []
            number = int(value) if value.isdecimal() and value.isascii() else _to_int(value)
            if compare(number, bound) != negated:
                return [(name, value)]
            return []

        return tx_number

    def tx_value(transaction: Transaction) -> LinkResult:
        value = transaction.tx.get(key)
        if value is not None and test(value, transaction) != negated:
            return [(name, value)]
        return []

    return tx_value


def _scalar_path(
    rule: Rule,
    *,
    collection: str,
    test: Matcher,
    negated: bool,
    names: tuple[str, ...],
    transforms: tuple[Callable[[str], str], ...],
) -> Callable[..., LinkResult]:
    def scalar(transaction: Transaction) -> LinkResult:
        value = transaction._scalars.get(collection)
        if value is None:
            return transaction._evaluate_link(rule, rule)
        if transforms:
            value = transaction._transformed(value, names, transforms)
        if test(value, transaction) != negated:
            transaction._matched_var = (collection, value)
            return [(collection, value)]
        return []

    return scalar


def _keyed_path(
    rule: Rule,
    *,
    collection: str,
    key: str,
    test: Matcher,
    negated: bool,
    names: tuple[str, ...],
    transforms: tuple[Callable[[str], str], ...],
) -> Callable[..., LinkResult]:
    def keyed(transaction: Transaction) -> LinkResult:
        if collection not in transaction._cache:
            return transaction._evaluate_link(rule, rule)
        found = transaction._keyed(collection).get(key)
        if not found:
            return []
        matches: LinkResult = []
        for item_key, raw in found:
            value = transaction._transformed(raw, names, transforms) if transforms else raw
            if test(value, transaction) != negated:
                var = (f"{collection}:{item_key}", value)
                matches.append(var)
                transaction._matched_var = var
        return matches

    return keyed


def _count_path(
    rule: Rule,
    *,
    collection: str,
    key: str | None,
    test: Matcher,
    negated: bool,
    names: tuple[str, ...],
    transforms: tuple[Callable[[str], str], ...],
) -> Callable[..., LinkResult]:
    def count(transaction: Transaction) -> LinkResult:
        cache = transaction._cache
        if collection not in cache:
            return transaction._evaluate_link(rule, rule)
        if key is None:
            value = str(len(cache[collection]))
        else:
            value = str(len(transaction._keyed(collection).get(key, ())))
        if transforms:
            value = transaction._transformed(value, names, transforms)
        if test(value, transaction) != negated:
            transaction._matched_var = (collection, value)
            return [(collection, value)]
        return []

    return count


def _tx_runs(rules: list[Rule]) -> list[_TxRun | None]:
    """The runs of consecutive TX-only rules (and markers) long enough to remember."""
    runs: list[_TxRun | None] = [None] * len(rules)
    index = 0
    while index < len(rules):
        accesses = _tx_access(rules[index])
        if accesses is None:
            index += 1
            continue
        start = index
        reads: set[str] = set()
        writes: set[str] = set()
        size = 0
        while index < len(rules) and (accesses := _tx_access(rules[index])) is not None:
            reads |= accesses[0]
            writes |= accesses[1]
            size += 0 if rules[index].is_marker else 1
            index += 1
        if size >= _RUN_MIN_RULES:
            run = _TxRun(start, index, tuple(sorted(reads)), tuple(sorted(writes)))
            for position in range(start, index):
                runs[position] = run
    return runs


def _tx_access(rule: Rule) -> tuple[set[str], set[str]] | None:
    """(TX keys read, TX keys written) when the rule touches nothing but TX and its own
    match state (no other variable, ``ctl``, capture or disruptive action); else None."""
    if rule.is_marker:
        return set(), set()
    if rule.disruptive not in ("", "pass"):
        return None
    reads: set[str] = set()
    writes: set[str] = set()
    for link in rule.links():
        if link.ctls or link.capture or link.multi_match:
            return None
        operator = link.operator
        if operator is not None:
            if len(link.selected) != 1 or link.transforms:
                return None
            target = link.selected[0]
            if target.collection != "TX" or target.key is None or target.key_regex is not None:
                return None
            reads.add(target.key)
            if not _tx_macros(operator.param, reads):
                return None
        for setvar in link.setvars:
            if setvar.collection != "tx" or "%{" in setvar.name:
                return None
            writes.add(setvar.name)
            if not _tx_macros(setvar.value, reads):
                return None
    if not _tx_macros(rule.msg, reads) or not _tx_macros(rule.logdata, reads):
        return None
    return reads, writes


def _tx_macros(text: str, reads: set[str]) -> bool:
    """Add the TX keys ``text``'s macros read; False if it reads anything else but the
    rule's own match state."""
    if "%{" not in text:
        return True
    for part in _template(text):
        if isinstance(part, str):
            continue
        collection, key, lowered = part
        if collection == "TX" and key:
            reads.add(lowered)
        elif collection not in _INTERNAL_MACROS:
            return False
    return True


Template = tuple[str | tuple[str, str, str], ...]
_TEMPLATES: dict[str, Template] = {}
"""Macro text -> literal parts and (COLLECTION, key, lower-cased key) references."""


def _template(text: str) -> Template:
    parts: list[str | tuple[str, str, str]] = []
    position = 0
    for match in _MACRO.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        collection, _, key = match.group(1).partition(".")
        parts.append((collection.upper(), key, key.lower()))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    template = tuple(parts)
    if len(_TEMPLATES) < _TEMPLATE_ENTRIES:
        _TEMPLATES[text] = template
    return template


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
    if text.isdecimal() and text.isascii():
        return int(text)
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
