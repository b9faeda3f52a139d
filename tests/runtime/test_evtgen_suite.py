"""Falco's event-generator suite, offline: synthesized sensor events fire the named rule.

For every case our sensors can express, the events they would report must make the named
stable rule fire with the expected priority and output fields. The figures are in
docs/runtime-rules.md.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from stockade.runtime.events import field_spec
from stockade.runtime.rules import RuleSet, load_rules
from stockade.runtime.rules.evtgen import EvtgenCase, load_suite, synthesize
from stockade.runtime.rules.output import render_value

DATA = Path(__file__).parents[1] / "data" / "runtime"
CASES = load_suite(DATA / "falco-evtgen-suite")


@cache
def _stable() -> RuleSet:
    loaded = load_rules([DATA / "falco-rules" / "falco_rules.yaml"])
    loaded.raise_for_errors()
    return loaded.ruleset


def agreement(case: EvtgenCase) -> str:
    """``agree``, ``unsupported: why``, or ``disagree: why``."""
    synthesized = synthesize(case)
    if synthesized.unsupported:
        return f"unsupported: {synthesized.unsupported}"
    seen: list[str] = []
    for event in synthesized.events:
        for alert in _stable().match(event):
            if alert.rule != case.rule:
                continue
            if alert.priority.label != case.priority:
                seen.append(f"priority {alert.priority.label}")
                continue
            wrong = {}
            for name, expected in case.output_fields.items():
                if name in alert.fields:
                    got = alert.fields[name]
                else:
                    found = field_spec(name)
                    assert found is not None, name
                    assert found[0].bind is not None, name
                    got = render_value(found[0].bind(found[1])(event))
                if got != expected:
                    wrong[name] = (got, expected)
            if not wrong:
                return "agree"
            seen.append(f"fields {wrong}")
    return f"disagree: {'; '.join(seen) or 'the rule did not fire'}"


@pytest.mark.parametrize("case", CASES, ids=[c.case for c in CASES])
def test_case(case: EvtgenCase) -> None:
    outcome = agreement(case)
    if outcome.startswith("unsupported"):
        pytest.skip(outcome)
    assert outcome == "agree"


def test_agreement_figures() -> None:
    outcomes = Counter(agreement(case).split(":")[0] for case in CASES)
    assert len({c.test for c in CASES}) == 35
    assert outcomes == {"agree": 623, "unsupported": 13}
    unsupported = {c.rule for c in CASES if agreement(c).startswith("unsupported")}
    assert unsupported == {
        "Packet socket created in container",
        "Redirect STDOUT/STDIN to Network Connection in Container",
    }


def test_a_trusted_reader_or_an_untrusted_file_does_not_fire() -> None:
    [case] = [
        c for c in CASES if c.case == "read_sensitive_file_untrusted_openat[target=/etc/shadow]"
    ]
    events = synthesize(case).events
    opened = events[-1]
    for event in (
        opened.__class__(**{**_fields(opened), "path": "/etc/hostname"}),
        opened.__class__(
            **{**_fields(opened), "process": _renamed(opened.process, "sshd")}  # trusted reader
        ),
    ):
        assert case.rule not in [a.rule for a in _stable().match(event)]


def _fields(event: object) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__slots__}  # type: ignore[attr-defined]


def _renamed(process: object, name: str) -> object:
    from dataclasses import replace

    return replace(process, name=name)  # type: ignore[type-var]
