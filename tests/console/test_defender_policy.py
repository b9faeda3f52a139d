"""The Defenders' runtime policy on the Console: administrators set it, Defenders read it,
bad policies are refused whole, every change is audited — over real HTTP on both stores."""

from __future__ import annotations

from typing import Any

import httpx
import yaml

from stockade.console.roles import Role
from stockade.runtime.defender import DefenderPolicy
from stockade.runtime.incidents import Action

from .conftest import RunningConsole

POLICY = {
    "default": "alert",
    "actions": {"builtin:reverse-shell": "stop", "builtin:*": "prevent", "model:*": "alert"},
    "exceptions": [
        {"rule": "builtin:package-manager", "image": "debian/*"},
        {"rule": "model:outbound", "destination": "10.0.0.5:5432"},
    ],
}


def _enrolled_defender(console: RunningConsole, name: str = "node-1") -> httpx.Client:
    """A client with the token of a Defender enrolled through the API."""
    answer = console.client(Role.ADMINISTRATOR).post("/api/v1/defenders", json={"name": name})
    assert answer.status_code == 201, answer.text
    client = console.client()
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


def _full(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy as the Console answers it: every exception pattern spelled out."""
    every = dict.fromkeys(("rule", "image", "process", "path", "destination"), "*")
    return {**policy, "exceptions": [{**every, **x} for x in policy["exceptions"]]}


def test_unset_policy_is_the_default(console: RunningConsole) -> None:
    agent = _enrolled_defender(console)
    answer = agent.get("/api/v1/defenders/policy")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["updatedAt"] is None
    assert body["updatedBy"] is None
    assert body["policy"] == {"default": "alert", "actions": {}, "exceptions": []}
    policy = DefenderPolicy.from_yaml(body["yaml"])
    assert policy.default is Action.ALERT
    assert not policy.actions
    assert not policy.exceptions


def test_administrator_sets_it_and_defenders_read_it_in_order(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    put = admin.put("/api/v1/defenders/policy", json=POLICY)
    assert put.status_code == 200, put.text
    assert put.json()["updatedBy"] == "token:test-administrator"
    agent = _enrolled_defender(console)
    body = agent.get("/api/v1/defenders/policy").json()
    assert body["policy"] == _full(POLICY)
    assert body["updatedAt"] is not None
    # the YAML text is the Defender's policy-file format, with the actions in order:
    # the first matching entry wins, so reverse_shell must stay ahead of builtin:*
    policy = DefenderPolicy.from_yaml(body["yaml"])
    assert [pattern for pattern, _ in policy.actions] == list(POLICY["actions"])
    assert policy.action_for("builtin:reverse-shell") is Action.STOP
    assert policy.action_for("builtin:crypto-miner") is Action.PREVENT
    assert policy.action_for("Some Falco rule") is Action.ALERT
    assert [(x.rule, x.image, x.destination) for x in policy.exceptions] == [
        ("builtin:package-manager", "debian/*", "*"),
        ("model:outbound", "*", "10.0.0.5:5432"),
    ]
    assert yaml.safe_load(body["yaml"])["exceptions"][0] == POLICY["exceptions"][0]


def test_only_administrators_set_it_and_only_defenders_and_administrators_read_it(
    console: RunningConsole,
) -> None:
    for role in (Role.OPERATOR, Role.AUDITOR, Role.CI, Role.DEFENDER):
        answer = console.client(role).put("/api/v1/defenders/policy", json=POLICY)
        assert answer.status_code == 403, (role, answer.text)
    for role in (Role.OPERATOR, Role.AUDITOR, Role.CI):
        assert console.client(role).get("/api/v1/defenders/policy").status_code == 403
    assert console.client(Role.DEFENDER).get("/api/v1/defenders/policy").status_code == 200
    assert console.client(Role.ADMINISTRATOR).get("/api/v1/defenders/policy").status_code == 200
    assert console.client().get("/api/v1/defenders/policy").status_code == 401


def _refused(console: RunningConsole, body: Any) -> dict[str, Any]:
    answer = console.client(Role.ADMINISTRATOR).put("/api/v1/defenders/policy", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    return problem


def test_bad_policies_are_refused_and_nothing_changes(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    assert admin.put("/api/v1/defenders/policy", json=POLICY).status_code == 200
    problem = _refused(console, {"default": "explode"})
    assert "default" in str(problem)
    _refused(console, {"actions": {"builtin:*": "kill"}})
    _refused(console, {"exceptions": [{"rule": "x", "user": "root"}]})
    _refused(console, {"exceptions": [{"rule": ""}]})
    _refused(console, {"actions": {"": "alert"}})
    _refused(console, {"surprise": True})
    _refused(console, ["not", "a", "mapping"])
    assert admin.get("/api/v1/defenders/policy").json()["policy"] == _full(POLICY)


def test_changes_are_audited(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    assert admin.put("/api/v1/defenders/policy", json=POLICY).status_code == 200
    assert admin.put("/api/v1/defenders/policy", json={"default": "prevent"}).status_code == 200
    entries = console.client(Role.AUDITOR).get("/api/v1/audit", params={"limit": 100}).json()
    changes = [e for e in entries["items"] if e["action"] == "defenders.policy"]
    assert len(changes) == 2
    latest = max(changes, key=lambda e: e["at"])
    assert latest["detail"]["from"]["actions"] == POLICY["actions"]
    assert latest["detail"]["to"] == {"default": "prevent", "actions": {}, "exceptions": []}
    assert latest["target"] == "settings:defender-policy"
