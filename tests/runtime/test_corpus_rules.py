"""Falco's own rules files load: every rule compiles or is reported once as disabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.runtime.rules import load_rules

RULES = Path(__file__).parents[1] / "data" / "runtime" / "falco-rules"

# file: (rules, loaded, disabled by kind); the table in docs/runtime-rules.md.
EXPECTED = {
    "falco_rules.yaml": (25, 20, {"unobserved_event_types": 5}),
    "falco-incubating_rules.yaml": (31, 27, {"unobserved_event_types": 4}),
    "falco-sandbox_rules.yaml": (
        37,
        23,
        {"enabled_false": 12, "unsupported_fields": 1, "unobserved_event_types": 1},
    ),
    "falco-deprecated_rules.yaml": (4, 0, {"enabled_false": 4}),
    "application_rules.yaml": (0, 0, {}),
    "k8s_audit_rules.yaml": (48, 0, {"source": 48}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_loads_without_errors(name: str) -> None:
    loaded = load_rules([RULES / name])
    assert loaded.errors == ()
    [summary] = loaded.files
    assert (summary.rules, summary.loaded, dict(summary.disabled)) == EXPECTED[name]
    # Each rule is either loaded or disabled, once, with a reason.
    names = [rule.name for rule in loaded.ruleset] + [d.name for d in loaded.disabled]
    assert len(names) == len(set(names)) == summary.rules
    assert all(d.reason for d in loaded.disabled)


def test_the_stable_rules_index_by_event_type() -> None:
    ruleset = load_rules([RULES / "falco_rules.yaml"]).ruleset
    catch_all = [rule.name for rule in ruleset if rule.event_types is None]
    assert catch_all == []
    assert {r.name for r in ruleset.candidates("connect")} == {
        "Contact K8S API Server From Container",
        "Disallowed SSH Connection Non Standard Port",
    }


def test_disabled_rules_name_the_fields_they_miss() -> None:
    loaded = load_rules([RULES / "falco-sandbox_rules.yaml"])
    [missing] = [d for d in loaded.disabled if d.kind == "unsupported_fields"]
    assert missing.name == "Launch Sensitive Mount Container"
    assert "container.mount.dest[/var/run/docker.sock]" in missing.missing_fields


def test_stable_and_incubating_rules_load_together() -> None:
    loaded = load_rules([RULES / "falco_rules.yaml", RULES / "falco-incubating_rules.yaml"])
    assert loaded.errors == ()
    assert len(loaded.ruleset) == 47
