"""Which rules can match a request, decided per value before any rule is evaluated.

Most CRS rules are one operator over request variables (ARGS, cookies, headers, the URI)
after a transformation chain, and on a benign request almost none of them match. A rule
like that matches exactly when its operator holds on one of its values, transformed by
its chain. So instead of evaluating each rule, the plan gathers these rules into
:class:`PrefilterGroup`\\ s (one per phase and paranoia level: the rules of levels a
request never reaches are never looked at) and, per variable they read, a
:class:`Reader`. When a phase first reaches a rule of a group, each value each reader
reads is transformed by every chain its rules use (a trie, so shared prefixes run once)
and tested once for all those rules together:

* ``@rx`` and ``@pm``/``@pmFromFile`` rules through one RE2 set of their patterns
  (:class:`RegexSet`: one pass names every pattern found);
* other operators whose parameter is fixed (``@detectSQLi``, ``@detectXSS``,
  ``@validateByteRange``, ``@within``, negated ``@rx``, ...) by calling the operator.

What a value yields (the rules it can make match) depends only on the value and the
reader, so it is remembered across requests (bounded), and a header or cookie seen
before costs one dictionary lookup. The engine then evaluates the candidates as before
and skips the other rules: they cannot match.

Exactness: the set runs on RE2 with the options each rule's own pattern uses, and the
other operators are the rule's own functions, so "found" is exactly "the operator holds".
The superset is taken over values: ``!VAR`` exclusions (static or from ``ctl``) and regex
key selectors are ignored, so a candidate may still fail when evaluated, but a rule that
matches is always a candidate. Rules are only prefiltered when every variable they read
is fixed for the whole phase (request and response collections and scalars the engine
sets before a phase starts; never ``TX``, ``MATCHED_VAR*``, counts or persistent
collections) and the operator reads nothing but the value. Everything else is evaluated
every time, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.waf.seclang.regex import Regex, RegexSet
from stockade.waf.seclang.rules import Rule
from stockade.waf.seclang.transformations import Transformation

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

PHASE_STABLE: Final = LIST_COLLECTIONS | frozenset(
    {
        "REQUEST_METHOD",
        "REQUEST_PROTOCOL",
        "REQUEST_URI",
        "REQUEST_URI_RAW",
        "REQUEST_FILENAME",
        "REQUEST_BASENAME",
        "REQUEST_LINE",
        "QUERY_STRING",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "SERVER_NAME",
        "REQUEST_BODY",
        "REQBODY_ERROR_MSG",
        "REQBODY_PROCESSOR_ERROR_MSG",
        "RESPONSE_PROTOCOL",
        "RESPONSE_CONTENT_TYPE",
        "STATUS_LINE",
        "RESPONSE_BODY",
    }
)
"""Variables whose values only change between phases (set from the request, its body or
the response), never by a rule: the ones a prefiltered rule may read. (``UNIQUE_ID`` is
left out: it never repeats, so remembering what a value yields is useless.)"""

_PATTERN_OPERATORS: Final = frozenset({"rx", "pm", "pmfromfile", "pmf"})
_VALUE_OPERATORS: Final = frozenset(
    {
        "rx",
        "pm",
        "pmfromfile",
        "pmf",
        "ipmatch",
        "ipmatchfromfile",
        "ipmatchf",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "streq",
        "contains",
        "strmatch",
        "containsword",
        "beginswith",
        "endswith",
        "within",
        "validatebyterange",
        "validateurlencoding",
        "validateutf8encoding",
        "detectsqli",
        "detectxss",
        "unconditionalmatch",
        "nomatch",
        "verifycc",
    }
)
"""Operators that, with a parameter free of macros, read nothing but the value."""

_MEMO_ENTRIES: Final = 1_024
_MEMO_VALUE_LENGTH: Final = 256
"""Longer values are remembered by a digest: a request body is rarely sent twice, but a
static page or an API's stock answer is inspected on every response."""


def memo_key(value: str) -> str | bytes:
    """The key ``value``'s candidates are remembered under: the value itself when short,
    its 128-bit BLAKE2b digest when long (a few microseconds for a page, where the scan
    it saves takes tens)."""
    if len(value) <= _MEMO_VALUE_LENGTH:
        return value
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _NoContext:
    """The context a prefilter test runs an operator in: no capture, no macros (a rule is
    only prefiltered when its parameter has none)."""

    capturing = False

    def expand(self, text: str) -> str:
        return text

    def capture(self, groups: Sequence[str]) -> None:
        return None


_NO_CONTEXT: Final = _NoContext()

Test = Callable[[str, Any], bool]
FlatStep = tuple[
    int, str, "Transformation | None", frozenset[int], tuple[tuple[int, Test, bool], ...]
]


@dataclass(slots=True)
class Step:
    """One node of a reader's transformation trie: ``function`` applied to the parent's
    result. The rules whose chain ends here: ``in_set`` (their pattern is in the reader's
    set) and ``direct`` (slot, operator function, negated)."""

    name: str
    function: Transformation | None
    in_set: frozenset[int] = frozenset()
    direct: tuple[tuple[int, Test, bool], ...] = ()
    children: list[Step] = field(default_factory=list)


@dataclass(slots=True)
class Reader:
    """Variables read by the same rules through the same chains (CRS's common
    ``REQUEST_COOKIES|REQUEST_COOKIES_NAMES`` is one reader): a value's candidates depend
    only on the value and the reader."""

    index: int
    sources: tuple[tuple[str, str | None], ...]
    """(collection, lower-cased key or None for every member)."""
    root: Step
    regex_set: RegexSet | None
    """The patterns of the reader's ``@rx``/``@pm`` rules (None if it has none)."""
    slot_of: tuple[int, ...]
    """Rule slot of each pattern of ``regex_set``, by index."""
    direct: dict[int, tuple[Test, bool]]
    """Rule slot -> (operator function, negated) for the rules tested by calling them."""
    steps: tuple[FlatStep, ...] = ()
    """The trie flattened parent first: (index of the parent's text, with 0 the value),
    function name, function (None at the root), slots in the set, direct tests."""
    memo: dict[str | bytes, frozenset[int]] = field(default_factory=dict)
    """Value -> the slots it yields (bounded; emptied when full)."""


class PrefilterGroup:
    """The prefiltered rules of one phase and paranoia level and the readers to scan."""

    __slots__ = ("index", "phase", "readers", "size")

    def __init__(self, index: int, phase: int, size: int, readers: tuple[Reader, ...]) -> None:
        self.index = index
        self.phase = phase
        self.size = size
        """Number of rules (slots 0..size-1)."""
        self.readers = readers

    def every_slot(self) -> set[int]:
        return set(range(self.size))


@dataclass(frozen=True, slots=True)
class Gate:
    """Where a rule sits: evaluate the rule only if its slot was found."""

    group: PrefilterGroup
    slot: int
    group_index: int


def candidates(reader: Reader, value: str, key: str | bytes) -> frozenset[int] | None:
    """Slots of the reader's rules whose operator holds on ``value`` transformed by their
    chain; None when RE2 could not run the set. (Callers look in ``reader.memo`` under
    ``key``, :func:`memo_key` of the value, first.)"""
    found = _scan(reader, value)
    if found is not None:
        memo = reader.memo
        if len(memo) >= _MEMO_ENTRIES:
            memo.clear()
        memo[key] = found
    return found


def _scan(reader: Reader, value: str) -> frozenset[int] | None:
    found: set[int] = set()
    wanted: dict[str, frozenset[int]] = {}
    applied: dict[tuple[str, str], str] = {}
    """(function, text) -> result: branches of the trie often see the same text."""
    texts = [value]
    for parent, name, function, in_set, direct in reader.steps:
        text = texts[parent]
        if function is not None:
            key = (name, text)
            result = applied.get(key)
            if result is None:
                result = applied[key] = function(text)
            text = result
        texts.append(text)
        if in_set:
            wanted[text] = wanted.get(text, frozenset()) | in_set
        for slot, test, negated in direct:
            if slot not in found and test(text, _NO_CONTEXT) != negated:
                found.add(slot)
    if wanted:
        regex_set = reader.regex_set
        slot_of = reader.slot_of
        for text, slots in wanted.items():
            hits = regex_set.match(text) if regex_set is not None else None
            if hits is None:
                return None
            if len(hits) > 1:
                found.update(slots.intersection([slot_of[index] for index in hits]))
    return frozenset(found)


def prefilter_test(rule: Rule) -> Regex | tuple[Test, bool] | None:
    """How to tell whether ``rule`` (a chain head) can match from one of its values: its
    pattern (to join a set) or its operator function and negation; None when the rule
    cannot be prefiltered."""
    operator = rule.operator
    if operator is None or not rule.selected:
        return None
    if operator.name not in _VALUE_OPERATORS or "%{" in operator.param:
        return None
    for target in rule.selected:
        if target.count or target.collection not in PHASE_STABLE:
            return None
    regex = operator.regex
    if (
        not operator.negated
        and operator.name in _PATTERN_OPERATORS
        and regex is not None
        and regex.engine == "re2"
    ):
        return regex
    return operator.matcher, operator.negated


def build_groups(rules: Iterable[Rule]) -> tuple[list[PrefilterGroup], dict[int, Gate]]:
    """Group the prefilterable rule heads; the gates are keyed by ``id(rule)``."""
    by_level: dict[tuple[int, int], list[tuple[Rule, Regex | tuple[Test, bool]]]] = {}
    for rule in rules:
        if rule.is_marker:
            continue
        test = prefilter_test(rule)
        if test is not None:
            by_level.setdefault((rule.phase, max(rule.paranoia_level, 1)), []).append((rule, test))
    groups: list[PrefilterGroup] = []
    gates: dict[int, Gate] = {}
    for phase, level in sorted(by_level):
        placed = by_level[(phase, level)]
        readers = _readers(placed)
        if readers is None:
            continue
        group = PrefilterGroup(len(groups), phase, len(placed), readers)
        groups.append(group)
        for slot, (rule, _) in enumerate(placed):
            gates[id(rule)] = Gate(group, slot, group.index)
    return groups, gates


Chain = tuple[tuple[str, ...], tuple[Transformation, ...]]


def _readers(placed: list[tuple[Rule, Regex | tuple[Test, bool]]]) -> tuple[Reader, ...] | None:
    """The readers of a group's rules (slot = position in ``placed``); None when RE2
    cannot hold one of the patterns in a set (the group is then not prefiltered)."""
    # (collection, key) -> chain -> slots
    table: dict[tuple[str, str | None], dict[Chain, set[int]]] = {}
    for slot, (rule, _) in enumerate(placed):
        for chain in _chains(rule):
            for target in rule.selected:
                key = target.key if target.key_regex is None else None
                chains = table.setdefault((target.collection, key), {})
                chains.setdefault(chain, set()).add(slot)
    # Variables with the same chains and slots share one reader (and its memo entries).
    shared: dict[frozenset[tuple[tuple[str, ...], frozenset[int]]], list[Any]] = {}
    for (collection, key), chains in table.items():
        signature = frozenset((names, frozenset(slots)) for (names, _), slots in chains.items())
        entry = shared.setdefault(signature, [[], chains])
        entry[0].append((collection, key))
    readers: list[Reader] = []
    for index, (sources, chains) in enumerate(shared.values()):
        regex_set: RegexSet | None = None
        slot_of = [-1]  # index 0: the set's always-matching probe
        direct: dict[int, tuple[Test, bool]] = {}
        for slot in sorted(set().union(*chains.values())):
            test = placed[slot][1]
            if not isinstance(test, Regex):
                direct[slot] = test
                continue
            if regex_set is None:
                regex_set = RegexSet()
            if regex_set.add(test) is None:
                return None
            slot_of.append(slot)
        if regex_set is not None and not regex_set.compile():
            return None
        root = _trie(chains, direct)
        readers.append(
            Reader(
                index,
                tuple(sources),
                root,
                regex_set,
                tuple(slot_of),
                direct,
                _flatten(root),
            )
        )
    return tuple(readers)


def _trie(chains: dict[Chain, set[int]], direct: dict[int, tuple[Test, bool]]) -> Step:
    root = Step("", None)
    for (names, functions), slots in chains.items():
        step = root
        for name, function in zip(names, functions, strict=True):
            child = next((c for c in step.children if c.name == name), None)
            if child is None:
                child = Step(name, function)
                step.children.append(child)
            step = child
        step.in_set = step.in_set | frozenset(s for s in slots if s not in direct)
        step.direct = (
            *step.direct,
            *((s, *direct[s]) for s in sorted(slots) if s in direct),
        )
    return root


def _flatten(root: Step) -> tuple[FlatStep, ...]:
    """The trie as a list a scan walks in order: each step names the step whose text it
    transforms (0 is the value itself, step ``n`` writes text ``n``)."""
    steps: list[FlatStep] = [(0, "", None, root.in_set, root.direct)]
    pending = [(child, 1) for child in root.children]
    while pending:
        step, parent = pending.pop(0)
        steps.append((parent, step.name, step.function, step.in_set, step.direct))
        position = len(steps)
        pending.extend((child, position) for child in step.children)
    return tuple(steps)


def _chains(rule: Rule) -> list[Chain]:
    """The chains a rule's operator sees a value through: its own, or with ``multiMatch``
    the value before any transformation and after each one (every prefix)."""
    names = rule.transform_names
    functions = rule.transforms
    if not rule.multi_match:
        return [(names, functions)]
    return [(names[:n], functions[:n]) for n in range(len(names) + 1)]
