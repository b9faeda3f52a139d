"""Compiled rules, indexed by event type, and the alerts they raise."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from stockade.runtime.events import OBSERVED_EVENT_TYPES, Event
from stockade.runtime.rules.compiler import Predicate
from stockade.runtime.rules.errors import RulesError
from stockade.runtime.rules.output import OutputTemplate

__all__ = ["Alert", "Priority", "Rule", "RuleSet"]


class Priority(Enum):
    """Falco's priorities, most severe first."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @classmethod
    def parse(cls, text: object) -> Priority:
        """A priority as rules files write it, in any case (``INFO`` too)."""
        name = str(text).strip().upper()
        if name == "INFO":
            return cls.INFORMATIONAL
        try:
            return cls[name]
        except KeyError:
            raise RulesError(
                f"invalid priority {text!r}",
                "use one of " + ", ".join(p.name.lower() for p in cls),
            ) from None

    @property
    def label(self) -> str:
        """The lower-case name (``warning``), as Falco's JSON output spells it."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Rule:
    """One enabled, compiled rule."""

    name: str
    priority: Priority
    condition: str
    output: OutputTemplate
    predicate: Predicate = field(repr=False, compare=False)
    event_types: frozenset[str] | None
    """The event types the condition can match; None when it can match any but those in
    :attr:`excluded_event_types`."""
    excluded_event_types: frozenset[str] = frozenset()
    tags: tuple[str, ...] = ()
    description: str = ""
    source: str = "syscall"
    fields: tuple[str, ...] = ()
    """The fields the (pruned) condition reads."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule that matched an event."""

    rule: str
    priority: Priority
    output: str
    tags: tuple[str, ...]
    fields: Mapping[str, str | None]
    """Each field of the rule's output and its value (None: no value, shown ``<NA>``)."""
    event: Event = field(repr=False, compare=False)
    source: str = "syscall"


class RuleSet:
    """Rules ready to evaluate: :meth:`match` runs only those that can match the event.

    As in Falco, each rule is indexed by the event types its condition constrains, so an
    ``execve`` event never reaches a rule about ``openat``.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        self._by_type: dict[str, tuple[Rule, ...]] = {}
        for event_type in OBSERVED_EVENT_TYPES:
            self._by_type[event_type] = self._candidates(event_type)

    def _candidates(self, event_type: str) -> tuple[Rule, ...]:
        return tuple(
            rule
            for rule in self._rules
            if (rule.event_types is None and event_type not in rule.excluded_event_types)
            or (rule.event_types is not None and event_type in rule.event_types)
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def candidates(self, event_type: str) -> tuple[Rule, ...]:
        """The rules an event of ``event_type`` is evaluated against, in load order."""
        found = self._by_type.get(event_type)
        if found is None:
            found = self._by_type[event_type] = self._candidates(event_type)
        return found

    def match(self, event: Event) -> list[Alert]:
        """An alert for every rule whose condition holds for ``event``, in load order."""
        return [
            _alert(rule, event) for rule in self.candidates(event.type) if rule.predicate(event)
        ]

    def first_match(self, event: Event) -> Alert | None:
        """The first rule that matches, as Falco's default ``rule_matching: first`` does."""
        for rule in self.candidates(event.type):
            if rule.predicate(event):
                return _alert(rule, event)
        return None


def _alert(rule: Rule, event: Event) -> Alert:
    text, values = rule.output.render(event)
    return Alert(rule.name, rule.priority, text, rule.tags, values, event, rule.source)
