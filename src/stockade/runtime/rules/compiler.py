"""From a parsed condition to a Python closure over events.

Compiling a rule's condition takes four steps, each its own function:

1. :class:`Expander` inlines macros and resolves list names (recursively, refusing
   macro loops; a list that refers to itself keeps the name as a plain value, as Falco
   does).
2. :func:`event_types` infers the event types a condition can match, as Falco does to
   index rules (and to warn about rules that match every event type).
3. :func:`prune_unobserved` folds away every branch that can only hold for event types
   our sensors never report, so the fields those branches read (``fd.connected`` in a
   ``sendto`` branch) do not disable the rule.
4. :func:`compile_condition` type-checks each comparison against the field catalogue and
   builds closures: field literals are converted once (numbers, addresses, networks,
   globs), never per event.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from stockade.runtime.events import (
    OBSERVED_EVENT_TYPES,
    Event,
    Extractor,
    FieldSpec,
    FieldType,
    Value,
    field_spec,
)
from stockade.runtime.rules.ast import (
    And,
    Compare,
    Const,
    FieldRef,
    ListValue,
    Literal,
    MacroRef,
    Node,
    Not,
    Or,
)
from stockade.runtime.rules.errors import RulesError
from stockade.runtime.rules.eventnames import KNOWN_EVENT_TYPES
from stockade.runtime.rules.parser import LIST_OPERATORS, parse_value

__all__ = [
    "CompileError",
    "EventTypes",
    "Expander",
    "Predicate",
    "check_condition",
    "compile_condition",
    "event_types",
    "fields_of",
    "prune_unobserved",
]

Predicate = Callable[[Event], bool]


class CompileError(RulesError):
    """A condition that parses but cannot be compiled.

    ``kind`` tells the loader how Falco classifies it: ``unknown_field`` (which a rule's
    ``skip-if-unknown-filter`` turns into a warning), ``undefined_macro`` and
    ``macro_loop`` (validation errors), or ``compile`` (the rest).
    """

    def __init__(self, message: str, kind: str = "compile", name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


# -- 1. macros and lists ------------------------------------------------------------------


class Expander:
    """Inlines macros and resolves list references, remembering what it used."""

    def __init__(self, lists: Mapping[str, Sequence[str]], macros: Mapping[str, Node]) -> None:
        self.lists = lists
        self.macros = macros
        self._expanded: dict[str, Node] = {}
        self._resolved: dict[str, tuple[Literal, ...]] = {}
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()
        self.list_loops: set[str] = set()

    def expand(self, node: Node) -> Node:
        return self._expand(node, ())

    def _expand(self, node: Node, stack: tuple[str, ...]) -> Node:
        if isinstance(node, MacroRef):
            return self._macro(node.name, stack)
        if isinstance(node, And):
            return And(tuple(self._expand(child, stack) for child in node.children))
        if isinstance(node, Or):
            return Or(tuple(self._expand(child, stack) for child in node.children))
        if isinstance(node, Not):
            return Not(self._expand(node.child, stack))
        if isinstance(node, Compare):
            return self._compare(node)
        return node

    def _macro(self, name: str, stack: tuple[str, ...]) -> Node:
        self.used_macros.add(name)
        if name in stack:
            loop = " -> ".join((*stack[stack.index(name) :], name))
            raise CompileError(f"reference loop in macro: {loop}", "macro_loop", name)
        cached = self._expanded.get(name)
        if cached is not None:
            return cached
        body = self.macros.get(name)
        if body is None:
            raise CompileError(f"undefined macro {name!r}", "undefined_macro", name)
        expanded = self._expand(body, (*stack, name))
        self._expanded[name] = expanded
        return expanded

    def _compare(self, node: Compare) -> Compare:
        value = node.value
        if isinstance(value, ListValue):
            items: list[Literal] = []
            for item in value.items:
                items.extend(self._items(item))
            return Compare(node.field, node.op, ListValue(tuple(items)))
        if isinstance(value, Literal) and not value.quoted and value.text in self.lists:
            resolved = self._items(value)
            if len(resolved) != 1:
                raise CompileError(
                    f"list {value.text!r} has {len(resolved)} items and cannot be the single "
                    f"value of {node.op!r}; use 'in'"
                )
            return Compare(node.field, node.op, resolved[0])
        return node

    def _items(self, item: Literal) -> tuple[Literal, ...]:
        if item.quoted or item.text not in self.lists:
            return (item,)
        return self.resolve_list(item.text)

    def resolve_list(self, name: str, stack: tuple[str, ...] = ()) -> tuple[Literal, ...]:
        """The values of a list, lists named among its items replaced by their values."""
        self.used_lists.add(name)
        cached = self._resolved.get(name)
        if cached is not None:
            return cached
        values: list[Literal] = []
        for raw in self.lists[name]:
            item = parse_value(raw)
            if not item.quoted and item.text in self.lists:
                if item.text in stack or item.text == name:
                    # Falco leaves a name it cannot expand any further as a plain value.
                    self.list_loops.add(name)
                    values.append(item)
                    continue
                values.extend(self.resolve_list(item.text, (*stack, name)))
            else:
                values.append(item)
        resolved = tuple(values)
        if not stack:
            self._resolved[name] = resolved
        return resolved


def macro_references(node: Node) -> Iterator[str]:
    """Names of the macros a (not yet expanded) condition refers to."""
    if isinstance(node, MacroRef):
        yield node.name
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from macro_references(child)
    elif isinstance(node, Not):
        yield from macro_references(node.child)


# -- 2. event types -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventTypes:
    """A set of event types, or all of them but some (``negated``)."""

    names: frozenset[str]
    negated: bool = False

    @classmethod
    def every(cls) -> EventTypes:
        return cls(frozenset(), negated=True)

    @classmethod
    def none(cls) -> EventTypes:
        return cls(frozenset())

    def complement(self) -> EventTypes:
        return EventTypes(self.names, not self.negated)

    def union(self, other: EventTypes) -> EventTypes:
        if self.negated and other.negated:
            return EventTypes(self.names & other.names, negated=True)
        if self.negated:
            return EventTypes(self.names - other.names, negated=True)
        if other.negated:
            return EventTypes(other.names - self.names, negated=True)
        return EventTypes(self.names | other.names)

    def intersection(self, other: EventTypes) -> EventTypes:
        return self.complement().union(other.complement()).complement()

    def within(self, universe: frozenset[str]) -> frozenset[str]:
        return universe - self.names if self.negated else self.names & universe

    @property
    def is_every(self) -> bool:
        """Whether this is every event type but at most a few: Falco's "no evt.type"."""
        return self.negated


def _type_compare(node: Compare) -> tuple[EventTypes, EventTypes]:
    every = EventTypes.every()
    if node.field.name != "evt.type" or node.field.arg is not None:
        return every, every
    value = node.value
    if node.op in ("=", "!=") and isinstance(value, Literal):
        exact = EventTypes(frozenset({value.text}))
        if node.op == "=":
            return exact, exact.complement()
        return exact.complement(), exact
    if node.op == "in" and isinstance(value, ListValue):
        listed = EventTypes(frozenset(item.text for item in value.items))
        return listed, listed.complement()
    return every, every


def event_types(node: Node) -> tuple[EventTypes, EventTypes]:
    """The event types for which ``node`` can hold, and those for which it can fail."""
    if isinstance(node, Compare):
        return _type_compare(node)
    if isinstance(node, Const):
        every, none = EventTypes.every(), EventTypes.none()
        return (every, none) if node.value else (none, every)
    if isinstance(node, Not):
        holds, fails = event_types(node.child)
        return fails, holds
    if isinstance(node, And | Or):
        pairs = [event_types(child) for child in node.children]
        holds, fails = pairs[0]
        for child_holds, child_fails in pairs[1:]:
            if isinstance(node, And):
                holds, fails = holds.intersection(child_holds), fails.union(child_fails)
            else:
                holds, fails = holds.union(child_holds), fails.intersection(child_fails)
        return holds, fails
    return EventTypes.every(), EventTypes.every()


def unknown_event_types(node: Node) -> list[str]:
    """Event type names the condition compares ``evt.type`` with that no one knows."""
    found: list[str] = []
    if isinstance(node, Compare):
        if node.field.name == "evt.type" and node.op in ("=", "!=", "in"):
            values = node.value.items if isinstance(node.value, ListValue) else (node.value,)
            found.extend(
                v.text for v in values if v is not None and v.text not in KNOWN_EVENT_TYPES
            )
    elif isinstance(node, And | Or):
        for child in node.children:
            found.extend(unknown_event_types(child))
    elif isinstance(node, Not):
        found.extend(unknown_event_types(node.child))
    return found


# -- 3. pruning what our sensors never see -------------------------------------------------


def prune_unobserved(
    node: Node, observed: frozenset[str] = OBSERVED_EVENT_TYPES
) -> tuple[Node, EventTypes]:
    """``node`` with every subtree decided by the event type alone replaced by a constant.

    Returns the simplified tree and the event types it can hold for. A subtree that can
    hold only for event types outside ``observed`` is false on every event we will ever
    evaluate; one that can fail only for such types is true on every one.
    """
    pruned, holds, _ = _prune(node, observed)
    return pruned, holds


def _prune(node: Node, observed: frozenset[str]) -> tuple[Node, EventTypes, EventTypes]:
    if isinstance(node, Not):
        child, holds, fails = _prune(node.child, observed)
        if isinstance(child, Const):
            return _decided(not child.value)
        return _settle(Not(child), fails, holds, observed)
    if isinstance(node, And | Or):
        is_and = isinstance(node, And)
        children: list[Node] = []
        holds = EventTypes.every() if is_and else EventTypes.none()
        fails = EventTypes.none() if is_and else EventTypes.every()
        for original in node.children:
            child, child_holds, child_fails = _prune(original, observed)
            if isinstance(child, Const):
                if child.value is not is_and:  # false in an 'and', true in an 'or'
                    return _decided(child.value)
                continue
            children.append(child)
            if is_and:
                holds, fails = holds.intersection(child_holds), fails.union(child_fails)
            else:
                holds, fails = holds.union(child_holds), fails.intersection(child_fails)
        if not children:
            return _decided(is_and)
        combined: Node = children[0] if len(children) == 1 else type(node)(tuple(children))
        return _settle(combined, holds, fails, observed)
    holds, fails = event_types(node)
    return _settle(node, holds, fails, observed)


def _decided(value: bool) -> tuple[Node, EventTypes, EventTypes]:
    every, none = EventTypes.every(), EventTypes.none()
    return (Const(True), every, none) if value else (Const(False), none, every)


def _settle(
    node: Node, holds: EventTypes, fails: EventTypes, observed: frozenset[str]
) -> tuple[Node, EventTypes, EventTypes]:
    if not holds.within(observed):
        return _decided(False)
    if not fails.within(observed):
        return _decided(True)
    return node, holds, fails


def fields_of(node: Node) -> Iterator[FieldRef]:
    """Every field a condition reads, in order, with repeats."""
    if isinstance(node, Compare):
        yield node.field
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from fields_of(child)
    elif isinstance(node, Not):
        yield from fields_of(node.child)


# -- 4. closures ------------------------------------------------------------------------------


def resolve_field(ref: FieldRef) -> tuple[FieldSpec, str | None]:
    """The catalogue entry of a field reference; CompileError if it is not a field."""
    found = field_spec(ref.name, ref.arg)
    if found is None:
        raise CompileError(f"unknown field {ref}", "unknown_field", str(ref))
    spec, arg = found
    if spec.arg.value == "none" and ref.arg is not None:
        raise CompileError(f"field {ref.name} takes no argument", "unknown_field", str(ref))
    if spec.arg.value == "key" and arg is None:
        raise CompileError(f"field {ref.name} needs an argument", "unknown_field", str(ref))
    if spec.arg.value == "index" and arg is not None and not arg.isdigit():
        raise CompileError(f"field {ref.name} takes a number: {ref}", "unknown_field", str(ref))
    return spec, arg


_NUMERIC_OPS: Final = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"})
_EQUALITY_OPS: Final = frozenset({"=", "!=", "in", "intersects", "exists"})
_ALLOWED_OPS: Final = {
    FieldType.INT: _NUMERIC_OPS,
    FieldType.BOOL: _EQUALITY_OPS,
    FieldType.IP: _EQUALITY_OPS,
    FieldType.NET: _EQUALITY_OPS,
}


def compile_condition(node: Node) -> Predicate:
    """A predicate over events for an expanded, pruned condition."""
    if isinstance(node, Const):
        constant = node.value
        return lambda event: constant
    if isinstance(node, Not):
        inner = compile_condition(node.child)
        return lambda event: not inner(event)
    if isinstance(node, And):
        parts = tuple(compile_condition(child) for child in node.children)
        if len(parts) == 2:
            first, second = parts
            return lambda event: first(event) and second(event)

        def every(event: Event) -> bool:
            return all(part(event) for part in parts)

        return every
    if isinstance(node, Or):
        parts = tuple(compile_condition(child) for child in node.children)
        if len(parts) == 2:
            first, second = parts
            return lambda event: first(event) or second(event)

        def some(event: Event) -> bool:
            return any(part(event) for part in parts)

        return some
    if isinstance(node, Compare):
        return _compile_compare(node)
    raise CompileError(f"macro {node.name!r} was not expanded")  # pragma: no cover


def extractor_for(ref: FieldRef) -> Extractor:
    """The extractor of a supported field (outputs read fields through this too)."""
    spec, arg = resolve_field(ref)
    if spec.bind is None:
        raise CompileError(f"field {ref} is not provided: {spec.unsupported}")
    return spec.bind(arg)


def check_condition(node: Node) -> None:
    """Type-check every comparison of an expanded condition, supported fields or not.

    Raises :class:`CompileError` for the first field that is not in the catalogue, the
    first unknown event type, and the first operator or value a field cannot take.
    """
    if isinstance(node, Compare):
        _prepare(node)
    elif isinstance(node, And | Or):
        for child in node.children:
            check_condition(child)
    elif isinstance(node, Not):
        check_condition(node.child)


def _prepare(node: Compare) -> tuple[FieldSpec, str | None, Callable[[Value], bool] | None]:
    spec, arg = resolve_field(node.field)
    op = node.op
    allowed = _ALLOWED_OPS.get(spec.type)
    if allowed is not None and op not in allowed:
        raise CompileError(f"operator {op!r} cannot compare {spec.type.value} field {node.field}")
    if node.field.name == "evt.type" and op in ("=", "!=", "in"):
        unknown = unknown_event_types(node)
        if unknown:
            raise CompileError(f"unknown event type {unknown[0]}")
    if op == "exists":
        return spec, arg, None
    return spec, arg, _value_test(spec.type, op, node.value, str(node.field))


def _compile_compare(node: Compare) -> Predicate:
    spec, arg, test = _prepare(node)
    if spec.bind is None:
        raise CompileError(f"field {node.field} is not provided: {spec.unsupported}")
    extract = spec.bind(arg)
    if test is None:
        return lambda event: extract(event) is not None
    if spec.any_value(arg):
        match_all = node.op == "intersects"

        def any_of(event: Event) -> bool:
            value = extract(event)
            if value is None:
                return False
            if isinstance(value, tuple) and not match_all:
                return any(test(item) for item in value)
            return test(value)

        return any_of

    def one(event: Event) -> bool:
        value = extract(event)
        return value is not None and test(value)

    return one


def _value_test(
    kind: FieldType, op: str, operand: Literal | ListValue | None, field: str
) -> Callable[[Value], bool]:
    if op in LIST_OPERATORS:
        if not isinstance(operand, ListValue):
            raise CompileError(f"{op!r} needs a list: {field} {op} (...)")
        items = [_convert(kind, item.text, field) for item in operand.items]
        if op == "pmatch":
            prefixes = tuple(str(item).rstrip("/") for item in items)
            return lambda value: (
                isinstance(value, str)
                and any(
                    value == prefix or value.startswith(prefix + "/") or prefix == ""
                    for prefix in prefixes
                )
            )
        if kind in (FieldType.NET, FieldType.IP):
            networks = tuple(items)
            return lambda value: any(_address_matches(value, network) for network in networks)
        members = frozenset(items)
        if op == "intersects":
            return lambda value: (
                bool(members.intersection(value)) if isinstance(value, tuple) else value in members
            )
        return lambda value: value in members
    if not isinstance(operand, Literal):
        raise CompileError(f"{op!r} needs a single value: {field} {op} VALUE")
    literal = _convert(kind, operand.text, field)
    if kind in (FieldType.NET, FieldType.IP) and op in ("=", "!="):
        if op == "=":
            return lambda value: _address_matches(value, literal)
        return lambda value: not _address_matches(value, literal)
    if kind is FieldType.STRING:
        return _string_test(op, operand.text, field)
    comparisons: dict[str, Callable[[Value], bool]] = {
        "=": lambda value: value == literal,
        "!=": lambda value: value != literal,
        "<": lambda value: value < literal,  # type: ignore[operator]
        "<=": lambda value: value <= literal,  # type: ignore[operator]
        ">": lambda value: value > literal,  # type: ignore[operator]
        ">=": lambda value: value >= literal,  # type: ignore[operator]
    }
    return comparisons[op]


def _string_test(op: str, text: str, field: str) -> Callable[[Value], bool]:
    if op == "=":
        return lambda value: value == text
    if op == "!=":
        return lambda value: value != text
    if op == "contains":
        return lambda value: text in value  # type: ignore[operator]
    if op == "icontains":
        lowered = text.lower()
        return lambda value: lowered in value.lower()  # type: ignore[union-attr]
    if op == "startswith":
        return lambda value: value.startswith(text)  # type: ignore[union-attr]
    if op == "endswith":
        return lambda value: value.endswith(text)  # type: ignore[union-attr]
    if op in ("bcontains", "bstartswith"):
        try:
            needle = bytes.fromhex(text)
        except ValueError:
            raise CompileError(f"{op!r} needs hexadecimal bytes, not {text!r}") from None
        if op == "bcontains":
            return lambda value: needle in str(value).encode("utf-8", "surrogateescape")
        return lambda value: str(value).encode("utf-8", "surrogateescape").startswith(needle)
    if op in ("glob", "iglob"):
        flags = re.IGNORECASE if op == "iglob" else 0
        matcher = re.compile(fnmatch.translate(text), flags | re.DOTALL).match
        return lambda value: matcher(value) is not None  # type: ignore[arg-type]
    if op == "regex":
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise CompileError(f"invalid regular expression {text!r}: {exc}") from None
        return lambda value: pattern.fullmatch(value) is not None  # type: ignore[arg-type]
    ordering: dict[str, Callable[[Value], bool]] = {
        "<": lambda value: value < text,  # type: ignore[operator]
        "<=": lambda value: value <= text,  # type: ignore[operator]
        ">": lambda value: value > text,  # type: ignore[operator]
        ">=": lambda value: value >= text,  # type: ignore[operator]
    }
    if op in ordering:
        return ordering[op]
    raise CompileError(f"operator {op!r} cannot compare string field {field}")  # pragma: no cover


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address_matches(value: Value, wanted: object) -> bool:
    if isinstance(wanted, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address) and (
            value.version == wanted.version and value in wanted
        )
    return value == wanted


def _convert(kind: FieldType, text: str, field: str) -> object:
    if kind is FieldType.INT:
        try:
            return int(text)
        except ValueError:
            try:
                return int(text, 0)
            except ValueError:
                raise CompileError(f"{field} is a number; {text!r} is not") from None
    if kind is FieldType.BOOL:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise CompileError(f"{field} is true or false; {text!r} is neither")
    if kind is FieldType.IP:
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            pass
    if kind in (FieldType.IP, FieldType.NET):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise CompileError(f"{field} is an address; {text!r} is not one") from None
    return text
