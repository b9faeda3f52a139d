"""The policies page over real HTTP: rules and collections changed through its forms
(audited by the API's own functions), bad input refused with the form shown again and
nothing stored, roles, CSRF, escaping, and verdicts of real published scans."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from stockade.console.client import publish_scan
from stockade.console.roles import Role
from stockade.console.testing import synthetic_scan_document

from ..conftest import RunningConsole
from .conftest import (
    HOSTILE,
    USER_PASSWORD,
    add_user,
    as_image,
    assert_page_headers,
    audit_actions,
    log_in,
    post_form,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RULES = "/api/v1/policies/rules/vulnerabilities"


def _rules(console: RunningConsole, kind: str = "vulnerabilities") -> list[dict[str, Any]]:
    answer = console.client(Role.AUDITOR).get(f"/api/v1/policies/rules/{kind}")
    return list(answer.json()["items"])


def _operator(console: RunningConsole) -> httpx.Client:
    add_user(console, "olga", Role.OPERATOR)
    return log_in(console, "olga", USER_PASSWORD)


def _rule_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "team",
        "description": "Images of the team",
        "alertThreshold": "medium",
        "blockThreshold": "critical",
        "graceDays": "0",
        "position": "",
        "exceptionId": ["", ""],
        "exceptionReason": ["", ""],
        "exceptionExpires": ["", ""],
    }
    return {**form, **changes}


def test_an_operator_creates_changes_moves_and_deletes_rules(console: RunningConsole) -> None:
    operator = _operator(console)
    page = operator.get("/policies/rules/vulnerabilities")
    assert page.status_code == 200
    assert_page_headers(page)
    created = post_form(operator, "/policies/rules/vulnerabilities", _rule_form())
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/policies?done=rule-created"
    assert "The rule was created." in operator.get(created.headers["location"]).text
    second = post_form(
        operator,
        "/policies/rules/vulnerabilities",
        _rule_form(
            name="strict",
            blockThreshold="high",
            onlyFixed="1",
            graceDays="14",
            exceptionId=["CVE-2023-4911", ""],
            exceptionReason=["setuid binaries removed", ""],
            exceptionExpires=["2030-12-31", ""],
        ),
    )
    assert second.status_code == 303, second.text
    team, strict = _rules(console)
    assert (team["name"], team["position"], team["blockThreshold"]) == ("team", 1, "critical")
    assert (strict["onlyFixed"], strict["graceDays"]) == (True, 14)
    assert strict["exceptions"] == [
        {"id": "CVE-2023-4911", "reason": "setuid binaries removed", "expires": "2030-12-31"}
    ]
    assert team["collections"] == ["all"]

    # Edit: the form shows the rule as stored; sending it back with a change saves it.
    form = operator.get("/policies/rules/vulnerabilities/strict").text
    assert 'value="CVE-2023-4911"' in form
    assert 'value="2030-12-31"' in form
    saved = post_form(
        operator,
        "/policies/rules/vulnerabilities/strict",
        _rule_form(
            description="now stricter",
            blockThreshold="medium",
            alertThreshold="low",
            graceDays="0",
            position="2",
            exceptionId=["CVE-2023-4911", "CVE-2024-28085"],
            exceptionReason=["setuid binaries removed", "wall is not installed"],
            exceptionExpires=["2030-12-31", ""],
            exceptionRemove=["0"],
        ),
    )
    assert saved.status_code == 303, saved.text
    strict = _rules(console)[1]
    assert (strict["blockThreshold"], strict["alertThreshold"]) == ("medium", "low")
    assert strict["onlyFixed"] is False  # an unticked box is off
    assert strict["exceptions"] == [
        {"id": "CVE-2024-28085", "reason": "wall is not installed", "expires": None}
    ]

    # Order: "strict" moves up; the API's own numbering follows.
    moved = post_form(operator, "/policies/rules/vulnerabilities/strict/move", {"direction": "up"})
    assert moved.status_code == 303
    assert [r["name"] for r in _rules(console)] == ["strict", "team"]
    overview = operator.get("/policies").text
    assert overview.index(">strict</a>") < overview.index(">team</a>")

    deleted = post_form(operator, "/policies/rules/vulnerabilities/team/delete")
    assert deleted.headers["location"] == "/policies?done=rule-deleted"
    assert [r["name"] for r in _rules(console)] == ["strict"]
    assert [(a, actor) for a, actor, _ in audit_actions(console, "policy.rule")] == [
        ("policy.rule.create", "user:olga"),
        ("policy.rule.create", "user:olga"),
        ("policy.rule.change", "user:olga"),
        ("policy.rule.change", "user:olga"),
        ("policy.rule.delete", "user:olga"),
    ]
    assert post_form(operator, "/policies/rules/vulnerabilities/team/delete").status_code == 404


def test_a_compliance_rule_has_checks_and_no_grace_period(console: RunningConsole) -> None:
    operator = _operator(console)
    page = operator.get("/policies/rules/compliance").text
    assert 'name="checks"' in page
    assert 'name="graceDays"' not in page
    made = post_form(
        operator,
        "/policies/rules/compliance",
        _rule_form(name="k8s", checks="STK-K8S-*\n\n  secret:*  \n", blockThreshold="high"),
    )
    assert made.status_code == 303, made.text
    (rule,) = _rules(console, "compliance")
    assert rule["checks"] == ["STK-K8S-*", "secret:*"]
    # A hand-made form cannot give a compliance rule a grace period.
    refused = post_form(
        operator, "/policies/rules/compliance", _rule_form(name="other", onlyFixed="1")
    )
    assert refused.status_code == 422
    assert "OnlyFixed and graceDays apply to vulnerability rules only." in refused.text
    assert len(_rules(console, "compliance")) == 1


BAD_RULES: list[tuple[dict[str, Any], int, str]] = [
    ({"name": "has space"}, 400, "The name may hold letters, digits"),
    ({"name": ""}, 400, "The name is required."),
    (
        {"alertThreshold": "high", "blockThreshold": "low"},
        422,
        "The block threshold is below the alert threshold. Block at the alert threshold or "
        "above it.",
    ),
    ({"blockThreshold": "dreadful"}, 400, "Block at must be one of"),
    ({"collections": ["nowhere"]}, 422, "No collection named &#39;nowhere&#39;."),
    ({"graceDays": "soon"}, 400, "Grace period (days) must be a whole number."),
    ({"graceDays": "9999"}, 400, "Grace period (days) must be at most 3650."),
    ({"position": "0"}, 400, "Position must be at least 1."),
    (
        {"exceptionId": ["CVE-1"], "exceptionReason": [""], "exceptionExpires": [""]},
        400,
        "Exception reason (entry 1) is required.",
    ),
    (
        {"exceptionId": ["CVE-1"], "exceptionReason": ["x"], "exceptionExpires": ["31/12/2030"]},
        400,
        "Exception expiry (entry 1) must be a date written YYYY-MM-DD.",
    ),
    ({"name": "taken"}, 409, "A vulnerabilities rule named &#39;taken&#39; exists."),
]


@pytest.mark.parametrize(("change", "status", "message"), BAD_RULES)
def test_bad_rule_input_shows_the_form_again_and_stores_nothing(
    console: RunningConsole, change: dict[str, Any], status: int, message: str
) -> None:
    admin = log_in(console)
    assert post_form(admin, "/policies/rules/vulnerabilities", _rule_form(name="taken")).is_redirect
    before = _rules(console)
    entries = len(audit_actions(console, "policy."))
    answer = post_form(
        admin,
        "/policies/rules/vulnerabilities",
        _rule_form(**{"name": "fresh", "description": "typed by hand", **change}),
    )
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert 'value="typed by hand"' in answer.text  # what was typed is kept
    assert_page_headers(answer)
    assert _rules(console) == before
    assert len(audit_actions(console, "policy.")) == entries


def test_collections_are_made_changed_and_deleted_through_forms(console: RunningConsole) -> None:
    operator = _operator(console)
    made = post_form(
        operator,
        "/policies/collections",
        {
            "name": "payments",
            "description": "PCI scope",
            "images": "registry.example/pay/*\n\nregistry.example/card:*\n",
            "namespaces": "payments-*",
            "labels": "pci=true",
            "hosts": "",
        },
    )
    assert made.status_code == 303, made.text
    reader = console.client(Role.AUDITOR)
    stored = reader.get("/api/v1/policies/collections/payments").json()
    assert stored["images"] == ["registry.example/pay/*", "registry.example/card:*"]
    assert (stored["namespaces"], stored["labels"]) == (["payments-*"], ["pci=true"])
    bad_label = post_form(
        operator, "/policies/collections/payments", {"labels": "pci=true\npci", "images": ""}
    )
    assert bad_label.status_code == 400
    assert "Labels: a label pattern is KEY=VALUE." in bad_label.text
    assert reader.get("/api/v1/policies/collections/payments").json()["labels"] == ["pci=true"]
    changed = post_form(
        operator, "/policies/collections/payments", {"description": "PCI", "hosts": "pay-*"}
    )
    assert changed.status_code == 303
    assert reader.get("/api/v1/policies/collections/payments").json()["images"] == []

    # A rule names it: it cannot go, and the page says which rule.
    post_form(
        operator,
        "/policies/rules/vulnerabilities",
        _rule_form(name="pci", collections=["payments"]),
    )
    overview = operator.get("/policies").text
    assert '<span class="tag">vulnerabilities/pci</span>' in overview
    refused = post_form(operator, "/policies/collections/payments/delete")
    assert refused.status_code == 409
    assert "is used by vulnerabilities/pci. Take it out of those rules first." in refused.text
    post_form(operator, "/policies/rules/vulnerabilities/pci/delete")
    assert post_form(operator, "/policies/collections/payments/delete").status_code == 303
    assert reader.get("/api/v1/policies/collections/payments").status_code == 404
    # The built-in collection is shown, never offered for change.
    builtin = operator.get("/policies/collections/all")
    assert "Built in: it cannot be changed or deleted." in builtin.text
    assert "<form" not in builtin.text.split("<main", 1)[1]
    assert post_form(operator, "/policies/collections/all", {}).status_code == 409
    assert [a for a, _, _ in audit_actions(console, "policy.collection")] == [
        "policy.collection.create",
        "policy.collection.change",
        "policy.collection.delete",
    ]


def test_readers_see_policies_and_may_not_change_them(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    admin.post(RULES, json={"name": "team", "blockThreshold": "high"}).raise_for_status()
    add_user(console, "audrey", Role.AUDITOR)
    reader = log_in(console, "audrey", USER_PASSWORD)
    overview = reader.get("/policies")
    assert overview.status_code == 200
    assert_page_headers(overview)
    assert ">team</a>" in overview.text
    assert "New rule" not in overview.text
    assert 'action="/policies/rules/' not in overview.text
    rule = reader.get("/policies/rules/vulnerabilities/team")
    assert rule.status_code == 200
    assert "<fieldset disabled>" in rule.text
    assert "Save rule" not in rule.text
    for path in ("/policies/rules/vulnerabilities", "/policies/collections"):
        assert reader.get(path).status_code == 403, path
    for path, form in (
        ("/policies/rules/vulnerabilities", _rule_form(name="mine")),
        ("/policies/rules/vulnerabilities/team", _rule_form(blockThreshold="low")),
        ("/policies/rules/vulnerabilities/team/delete", {}),
        ("/policies/collections", {"name": "mine"}),
    ):
        refused = post_form(reader, path, form)
        assert refused.status_code == 403, path
        assert "The role auditor may not do this." in refused.text
    assert [r["blockThreshold"] for r in _rules(console)] == ["high"]
    add_user(console, "pipeline", Role.CI)
    assert log_in(console, "pipeline", USER_PASSWORD).get("/policies").status_code == 403
    assert log_in(console).get("/policies/rules/nonsense").status_code == 404
    assert reader.get("/policies/rules/vulnerabilities/nope").status_code == 404
    assert reader.get("/policies/rules/vulnerabilities/bad%20name").status_code == 404


def test_policy_forms_need_the_csrf_token(console: RunningConsole) -> None:
    admin = log_in(console)
    forged = admin.post("/policies/rules/vulnerabilities", data=_rule_form(name="forged"))
    assert forged.status_code == 403
    guessed = admin.post(
        "/policies/collections", data={"name": "forged", "csrf_token": "not-the-token"}
    )
    assert guessed.status_code == 403
    assert _rules(console) == []
    assert (
        console.client(Role.AUDITOR).get("/api/v1/policies/collections").json()["items"][1:] == []
    )


def test_verdicts_show_outcomes_reasons_and_link_the_image(
    console: RunningConsole, real_scan: dict[str, Any]
) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    admin.post(
        RULES, json={"name": "team", "alertThreshold": "low", "blockThreshold": "high"}
    ).raise_for_status()
    shop = as_image(real_scan, "example/shop:2.4", "ab")
    publish_scan(console.url, console.tokens[Role.CI], shop)
    hostile = synthetic_scan_document(7, packages=5, findings=0, name=HOSTILE)
    publish_scan(console.url, console.tokens[Role.CI], hostile)
    verdicts = admin.get("/api/v1/policies/verdicts").json()["items"]
    by_name = {v["artifactName"]: v for v in verdicts}
    assert by_name[HOSTILE]["outcome"] == "pass"
    expected = by_name["example/shop:2.4"]
    detail = admin.get(f"/api/v1/scans/{expected['scanId']}/verdict").json()
    assert expected["outcome"] != "pass"
    assert detail["reasons"]

    reader = log_in(console)
    page = reader.get("/policies")
    text = page.text.replace("<wbr>", "")
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in text
    row = next(r for r in text.split("<tr>") if "example/shop:2.4" in r)
    assert f'class="outcome outcome-{expected["outcome"]}"' in row
    first = detail["reasons"][0]
    assert f"<code>{first['id']}</code>" in row
    link = re.search(r'<a href="(/images/[^"]+)">example/shop:2\.4</a>', text)
    assert link is not None
    assert unquote(link[1]) == "/images/" + shop["artifact"]["digest"]
    assert reader.get(link[1]).status_code == 200
    # Filters: only the outcome asked for.
    passed = reader.get("/policies", params={"outcome": "pass"}).text.replace("<wbr>", "")
    assert "example/shop:2.4" not in passed
    assert "no rule applied" not in passed  # the rule applied to the hostile image too
    assert reader.get("/policies", params={"outcome": "nonsense"}).status_code == 200


def test_a_rule_with_hundreds_of_exceptions_is_saved_through_its_form(
    console: RunningConsole,
) -> None:
    """Three fields an exception: the form of a long list is still read (and its CSRF
    token found) whole."""
    admin = log_in(console)
    ids = [f"CVE-2024-{n:05d}" for n in range(300)]
    form = _rule_form(
        name="many",
        exceptionId=ids,
        exceptionReason=[f"reviewed in ticket SEC-{n}" for n in range(300)],
        exceptionExpires=["2030-01-01"] * 300,
    )
    saved = post_form(admin, "/policies/rules/vulnerabilities", form)
    assert saved.status_code == 303, saved.text[-500:]
    (rule,) = _rules(console)
    assert [e["id"] for e in rule["exceptions"]] == ids
    page = admin.get("/policies/rules/vulnerabilities/many").text
    assert page.count('name="exceptionId"') == 300 + 2  # and two empty rows for more
