"""Policies: collections, ordered rules, verdicts on published results and the events they
raise, on a real Console over HTTP and real SQLite and PostgreSQL stores."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.documents import ScanDocument
from stockade.console.events import ConsoleEvent, ResultPublished
from stockade.console.policies.model import (
    Collection,
    ComplianceItem,
    Outcome,
    PolicyException,
    Rule,
    Subject,
    VulnerabilityItem,
    evaluate_compliance,
    evaluate_vulnerabilities,
    first_matching_rule,
    rule_from_json,
    rule_to_json,
)
from stockade.console.policies.storage import evaluate_scan
from stockade.console.roles import Role
from stockade.console.service import build_app
from stockade.console.store import migrate
from stockade.console.store.engine import Store
from stockade.console.store.ingest import store_scan
from stockade.console.store.models import Base, PolicyCollection, PolicyVerdict, Scan
from stockade.console.store.retention import RetentionPolicy, prune
from stockade.core.advisory import Severity

from .conftest import ThreadedServer, issue_token

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
POLICY_TABLES = {
    "policy_collections",
    "policy_rules",
    "policy_contexts",
    "policy_fix_seen",
    "policy_verdicts",
}


# --- documents ---


def finding(
    vuln_id: str,
    severity: str,
    *,
    package: str = "openssl",
    version: str = "3.0.11-1",
    fixed: tuple[str, ...] = ("3.0.13-1",),
    suppressed: bool = False,
) -> dict[str, Any]:
    return {
        "id": vuln_id,
        "aliases": [f"DSA-{vuln_id[-4:]}-1"],
        "cve": vuln_id if vuln_id.startswith("CVE-") else None,
        "package": {
            "name": package,
            "version": version,
            "type": "deb",
            "namespace": "debian",
            "purl": f"pkg:deb/debian/{package}@{version}",
        },
        "installedVersion": version,
        "fixedVersions": list(fixed),
        "fixState": "fixed" if fixed else "not-fixed",
        "severity": severity,
        "suppressed": suppressed,
        "suppression": {"kind": "ignored", "reason": "accepted"} if suppressed else None,
    }


def scan_doc(tag: str | None, findings: list[dict[str, Any]], *, seed: str = "") -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(f"{tag}{seed}".encode()).hexdigest()
    return {
        "schemaVersion": 1,
        "artifact": {
            "name": "app.tar",
            "type": "docker-archive",
            "digest": digest,
            "repoTags": [tag] if tag else [],
        },
        "os": {"family": "debian", "version": "12"},
        "findings": findings,
        "packages": [
            {"name": "openssl", "version": "3.0.11-1", "type": "deb", "purl": None, "licenses": []}
        ],
    }


def check_doc(results: list[tuple[str, str, str]], secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "target": "Dockerfile",
        "results": [
            {
                "check": {"id": check_id, "title": f"check {check_id}", "severity": severity},
                "status": status,
                "resource": "Dockerfile",
                "file": "Dockerfile",
                "line": 1,
            }
            for check_id, severity, status in results
        ],
        "secrets": [
            {"ruleId": rule, "description": "a key", "file": "app/.env", "line": 2}
            for rule in secrets
        ],
    }


# --- the pure core ---


def test_a_collection_matches_on_every_dimension_it_lists() -> None:
    team = Collection(
        "team",
        images=("registry.example/team/*",),
        namespaces=("prod-*",),
        labels=("tier=front*", "owner=payments"),
    )
    subject = Subject(
        references=("registry.example/team/app:1.0",),
        namespace="prod-eu",
        labels=(("tier", "frontend"),),
    )
    assert team.matches(subject)
    assert not team.matches(Subject(references=subject.references, labels=subject.labels))
    assert not team.matches(
        Subject(references=subject.references, namespace="prod-eu", labels=(("tier", "db"),))
    )
    assert not team.matches(
        Subject(references=("registry.example/other/app:1",), namespace="prod-eu")
    )
    # Short references are also tried in the full form the runtime resolves.
    hub = Collection("hub", images=("docker.io/library/nginx:*",))
    assert hub.matches(Subject(references=("nginx:1.25",)))
    assert not hub.matches(Subject(references=("quay.io/nginx:1.25",)))
    nodes = Collection("nodes", hosts=("NODE-*",))
    assert nodes.matches(Subject(host="node-7"))
    assert not nodes.matches(Subject(references=("node-7",)))  # an image is not a host


def test_the_first_enabled_rule_whose_collection_matches_applies() -> None:
    collections = {"prod": Collection("prod", namespaces=("prod",))}
    strict = Rule("vulnerabilities", "strict", collections=("prod",), position=1)
    baseline = Rule("vulnerabilities", "baseline", position=2)
    rules = [baseline, strict]  # stored order does not matter, position does
    assert first_matching_rule(rules, collections, Subject(namespace="prod")) == (strict, "prod")
    assert first_matching_rule(rules, collections, Subject(namespace="dev")) == (baseline, "all")
    disabled = Rule("vulnerabilities", "strict", collections=("prod",), position=1, disabled=True)
    found = first_matching_rule([disabled, baseline], collections, Subject(namespace="prod"))
    assert found == (baseline, "all")
    dangling = Rule("vulnerabilities", "gone", collections=("deleted",), position=1)
    assert first_matching_rule([dangling], collections, Subject()) is None


def _item(vuln_id: str, severity: Severity, **kwargs: Any) -> VulnerabilityItem:
    values: dict[str, Any] = {
        "package": "openssl",
        "package_type": "deb",
        "version": "3.0.11-1",
        "fixable": True,
        "suppressed": False,
    }
    values.update(kwargs)
    return VulnerabilityItem(id=vuln_id, severity=severity, **values)


def test_thresholds_only_fixed_suppressions_and_exceptions() -> None:
    rule = Rule(
        "vulnerabilities",
        "team",
        alert=Severity.MEDIUM,
        block=Severity.CRITICAL,
        only_fixed=True,
        exceptions=(
            PolicyException("CVE-2024-0002", "not reachable", dt.date(2027, 1, 1)),
            PolicyException("dsa-0003-1", "lapsed", dt.date(2026, 3, 1)),
        ),
    )
    items = [
        _item("CVE-2024-0001", Severity.CRITICAL),
        _item("CVE-2024-0002", Severity.CRITICAL),
        _item("CVE-2024-0003", Severity.HIGH, aliases=("DSA-0003-1",)),
        _item("CVE-2024-0004", Severity.CRITICAL, fixable=False),
        _item("CVE-2024-0005", Severity.CRITICAL, suppressed=True),
        _item("CVE-2024-0006", Severity.LOW),
    ]
    verdict = evaluate_vulnerabilities(rule, "all", items, now=T0, fix_seen={})
    assert verdict.outcome is Outcome.BLOCK
    assert verdict.severity is Severity.CRITICAL
    assert [(r.id, r.threshold) for r in verdict.reasons] == [
        ("CVE-2024-0001", "block"),
        ("CVE-2024-0003", "alert"),
    ]
    assert verdict.counts == {
        "block": 1,
        "alert": 1,
        "excepted": 1,
        "unfixed": 1,
        "suppressed": 1,
        "considered": 3,
    }
    assert verdict.notes == ("the exception for dsa-0003-1 expired on 2026-03-01",)
    counted = evaluate_vulnerabilities(
        Rule("vulnerabilities", "all-in", block=Severity.CRITICAL, count_suppressed=True),
        "all",
        items,
        now=T0,
        fix_seen={},
    )
    assert counted.counts["block"] == 4


def test_a_grace_period_counts_from_the_first_fix_seen() -> None:
    rule = Rule("vulnerabilities", "grace", block=Severity.HIGH, grace_days=7)
    item = _item("CVE-2024-0009", Severity.HIGH)
    recent = evaluate_vulnerabilities(
        rule, "all", [item], now=T0, fix_seen={item.fix_key: T0 - dt.timedelta(days=3)}
    )
    assert recent.outcome is Outcome.ALERT
    assert recent.reasons[0].note == "in the grace period until 2026-03-06"
    assert recent.counts["inGrace"] == 1
    old = evaluate_vulnerabilities(
        rule, "all", [item], now=T0, fix_seen={item.fix_key: T0 - dt.timedelta(days=7)}
    )
    assert old.outcome is Outcome.BLOCK
    unseen = evaluate_vulnerabilities(rule, "all", [item], now=T0, fix_seen={})
    assert unseen.outcome is Outcome.ALERT  # a fix first seen now starts its grace now
    unfixed = evaluate_vulnerabilities(
        rule, "all", [_item("CVE-2024-0010", Severity.CRITICAL, fixable=False)], now=T0, fix_seen={}
    )
    assert unfixed.outcome is Outcome.ALERT
    assert unfixed.reasons[0].note.startswith("no fix yet")


def test_compliance_rules_filter_checks_and_except_some() -> None:
    rule = Rule(
        "compliance",
        "docker",
        alert=Severity.LOW,
        block=Severity.HIGH,
        checks=("CKV_DOCKER_*", "secret:*"),
        exceptions=(PolicyException("CKV_DOCKER_3", "the base image runs as a user"),),
    )
    items = [
        ComplianceItem("CKV_DOCKER_2", Severity.LOW, "Dockerfile", False),
        ComplianceItem("CKV_DOCKER_3", Severity.HIGH, "Dockerfile", False),
        ComplianceItem("STK-DF-001", Severity.CRITICAL, "Dockerfile", False),
        ComplianceItem("CKV_DOCKER_7", Severity.CRITICAL, "Dockerfile", True),
    ]
    verdict = evaluate_compliance(rule, "all", items, now=T0)
    assert verdict.outcome is Outcome.ALERT
    assert [r.id for r in verdict.reasons] == ["CKV_DOCKER_2"]
    leaked = evaluate_compliance(
        rule, "all", [*items, ComplianceItem("secret:aws-key", Severity.HIGH, "a", False)], now=T0
    )
    assert leaked.outcome is Outcome.BLOCK
    assert leaked.severity is Severity.HIGH


def test_a_rule_survives_its_json_form() -> None:
    rule = Rule(
        "vulnerabilities",
        "r1",
        collections=("prod", "all"),
        alert=Severity.LOW,
        block=Severity.HIGH,
        only_fixed=True,
        grace_days=14,
        exceptions=(PolicyException("CVE-1", "why", dt.date(2026, 5, 1)),),
        position=3,
    )
    assert rule_from_json(rule_to_json(rule)) == rule
    with pytest.raises(ValueError, match="severity"):
        rule_from_json({**rule_to_json(rule), "blockThreshold": "severe"})


# --- the store ---


def test_migration_0003_goes_down_and_up_again(database_url: str) -> None:
    store = Store(database_url)
    try:
        migrate.upgrade(store, "0003")
        with store.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= POLICY_TABLES
        config = migrate._config()
        with store.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
            connection.commit()
        with store.engine.connect() as connection:
            assert not POLICY_TABLES & set(inspect(connection).get_table_names())
        migrate.upgrade(store)
        with store.engine.connect() as connection:
            # Only this migration's tables: other features' migrations are theirs to test.
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_object": lambda _o, name, kind, *_: (
                        kind != "table" or name in POLICY_TABLES
                    )
                },
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def _stored_scan(store: Store, document: dict[str, Any], when: dt.datetime) -> int:
    with store.write() as session:
        return store_scan(
            session, ScanDocument.model_validate(document), publisher="test", now=when
        ).id


def test_a_verdict_is_stored_replaced_and_pruned_with_its_scan(store: Store) -> None:
    document = scan_doc("registry.example/team/app:1.0", [finding("CVE-2024-0001", "high")])
    first = _stored_scan(store, document, T0)
    with store.write() as session:
        evaluation = evaluate_scan(session, first, T0)
        evaluate_scan(session, first, T0 + dt.timedelta(minutes=1))  # replaces, not adds
    assert evaluation.verdict.outcome is Outcome.PASS
    assert evaluation.subject.references == ("registry.example/team/app:1.0",)
    second = _stored_scan(store, document, T0 + dt.timedelta(hours=1))
    with store.write() as session:
        evaluate_scan(session, second, T0 + dt.timedelta(hours=1))
    with store.read() as session:
        assert session.scalars(select(PolicyVerdict.scan_id)).all() == [first, second]
    with store.write() as session:
        prune(session, RetentionPolicy(keep_scans=1), T0 + dt.timedelta(hours=2))
    with store.read() as session:
        assert session.scalars(select(Scan.id)).all() == [second]
        assert session.scalars(select(PolicyVerdict.scan_id)).all() == [second]


# --- the API on a live Console ---


@dataclass
class MovableClock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Live:
    url: str
    store: Store
    clock: MovableClock
    tokens: dict[Role, str]
    events: list[ConsoleEvent] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)
    context: ConsoleContext | None = None

    def client(self, role: Role) -> httpx.Client:
        client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30
        )
        self.clients.append(client)
        return client

    def publish(self, document: dict[str, Any], path: str = "/api/v1/scans", **params: str) -> int:
        answer = self.client(Role.CI).post(path, json=document, params=params)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["scanId"])

    def verdict(self, scan_id: int) -> dict[str, Any]:
        answer = self.client(Role.AUDITOR).get(f"/api/v1/scans/{scan_id}/verdict")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def live(store: Store, config: ConsoleConfig) -> Iterator[Live]:
    clock = MovableClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    app = build_app(store, config, clock=clock)
    running = Live("", store, clock, {role: issue_token(store, role) for role in Role})
    running.context = app.state.console
    app.state.console.event_listeners.append(running.events.append)
    with ThreadedServer(app) as server:
        running.url = server.url
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


def _create(live: Live, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = live.client(Role.OPERATOR).post(path, json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _team_policy(live: Live) -> None:
    _create(live, "/api/v1/policies/collections", {"name": "payments", "namespaces": ["payments"]})
    _create(
        live,
        "/api/v1/policies/collections",
        {"name": "team-images", "images": ["registry.example/team/*"]},
    )
    rules = "/api/v1/policies/rules/vulnerabilities"
    _create(
        live,
        rules,
        {
            "name": "payments-strict",
            "collections": ["payments"],
            "blockThreshold": "high",
            "alertThreshold": "low",
        },
    )
    _create(
        live,
        rules,
        {
            "name": "team",
            "collections": ["team-images"],
            "blockThreshold": "critical",
            "alertThreshold": "medium",
            "exceptions": [{"id": "CVE-2024-0002", "reason": "only in a test binary"}],
        },
    )
    _create(live, rules, {"name": "baseline", "alertThreshold": "critical"})


def test_published_results_get_the_verdict_of_their_first_matching_rule(live: Live) -> None:
    _team_policy(live)
    team_app = scan_doc(
        "registry.example/team/app:1.0",
        [
            finding("CVE-2024-0001", "critical"),
            finding("CVE-2024-0002", "critical", package="libc6"),
            finding("CVE-2024-0003", "high", package="curl"),
            finding("CVE-2024-0004", "low", package="zlib1g"),
        ],
    )
    blocked = live.publish(team_app)
    verdict = live.verdict(blocked)
    assert (verdict["outcome"], verdict["rule"], verdict["collection"]) == (
        "block",
        "team",
        "team-images",
    )
    assert verdict["severity"] == "critical"
    assert [(r["id"], r["threshold"], r["target"]) for r in verdict["reasons"]] == [
        ("CVE-2024-0001", "block", "openssl@3.0.11-1"),
        ("CVE-2024-0003", "alert", "curl@3.0.11-1"),
    ]
    assert verdict["counts"]["excepted"] == 1
    assert len(live.events) == 1
    event = live.events[0]
    assert (event.kind, event.severity, event.subject) == (
        "policy.vulnerabilities.block",
        "critical",
        "registry.example/team/app:1.0",
    )
    assert event.labels["image"] == "registry.example/team/app:1.0"
    assert event.labels["policy"] == "team"
    assert event.detail["scanId"] == blocked
    assert event.detail["counts"]["block"] == 1
    assert event.detail["reasons"][0]["id"] == "CVE-2024-0001"

    # The same kind of image, said to run in the payments namespace, meets the first rule.
    api = scan_doc("registry.example/team/api:2.0", [finding("CVE-2024-0003", "high")])
    context = live.client(Role.CI).put(
        "/api/v1/policies/context",
        json={
            "image": api["artifact"]["digest"],
            "namespace": "payments",
            "labels": {"team": "pay"},
        },
    )
    assert context.status_code == 200, context.text
    payments = live.verdict(live.publish(api))
    assert (payments["outcome"], payments["rule"]) == ("block", "payments-strict")
    assert payments["subject"]["namespace"] == "payments"
    assert live.events[-1].labels["namespace"] == "payments"
    assert live.events[-1].labels["label.team"] == "pay"
    assert live.events[-1].severity == "high"

    # Anything else meets the baseline, which only alerts on criticals: a pass, no event.
    other = live.verdict(live.publish(scan_doc("quay.io/x/y:1", [finding("CVE-1", "high")])))
    assert (other["outcome"], other["rule"], other["collection"]) == ("pass", "baseline", "all")
    assert len(live.events) == 2

    # No compliance rule: a check result passes and says why.
    checked = live.verdict(
        live.publish(check_doc([("CKV_DOCKER_2", "critical", "failed")]), "/api/v1/checks")
    )
    assert (checked["kind"], checked["outcome"], checked["rule"]) == ("compliance", "pass", None)
    assert checked["notes"] == ["no compliance rule applies to this artifact"]
    blocks = live.client(Role.AUDITOR).get("/api/v1/policies/verdicts", params={"outcome": "block"})
    assert [v["scanId"] for v in blocks.json()["items"]] == [
        live.events[1].detail["scanId"],
        blocked,
    ]


def test_the_verdict_commits_with_the_result_and_a_failing_listener_loses_only_its_own_writes(
    live: Live, store: Store
) -> None:
    _create(
        live,
        "/api/v1/policies/rules/vulnerabilities",
        {"name": "strict", "blockThreshold": "high"},
    )
    calls: list[int] = []

    def failing(session: Session, event: ResultPublished) -> list[ConsoleEvent]:
        # Writes in the publish transaction, then fails: its savepoint is rolled back.
        session.add(
            PolicyCollection(
                name="written-by-a-failing-listener",
                images=["*"],
                hosts=[],
                namespaces=[],
                labels=[],
                created_at=event.published_at,
                updated_at=event.published_at,
                updated_by="test",
            )
        )
        session.flush()
        calls.append(event.scan_id)
        raise RuntimeError("a listener's bug")

    assert live.context is not None
    live.context.listeners.insert(0, failing)
    scan_id = live.publish(scan_doc("registry.example/a:1", [finding("CVE-2024-7", "high")]))

    assert calls == [scan_id]
    with store.read() as session:
        assert session.get(Scan, scan_id) is not None
        names = session.scalars(select(PolicyCollection.name)).all()
        assert "written-by-a-failing-listener" not in names
        stored = session.scalars(select(PolicyVerdict).where(PolicyVerdict.scan_id == scan_id))
        assert [v.outcome for v in stored] == ["block"]
    assert [e.kind for e in live.events] == ["policy.vulnerabilities.block"]
    metrics = live.client(Role.AUDITOR).get("/metrics").text
    assert "stockade_console_published_total 1" in metrics


def test_a_grace_period_starts_when_the_console_first_sees_a_fix(live: Live) -> None:
    _create(
        live,
        "/api/v1/policies/rules/vulnerabilities",
        {"name": "grace", "blockThreshold": "high", "graceDays": 7},
    )
    start = live.clock.now
    first = live.verdict(live.publish(scan_doc("a:1", [finding("CVE-2024-0009", "high")])))
    assert first["outcome"] == "alert"
    ends = (start + dt.timedelta(days=7)).date().isoformat()
    assert first["reasons"][0]["note"] == f"in the grace period until {ends}"
    assert live.events[-1].kind == "policy.vulnerabilities.alert"

    # Another image with the same vulnerable package three days later: the same clock.
    live.clock.now = start + dt.timedelta(days=3)
    later = live.verdict(live.publish(scan_doc("b:1", [finding("CVE-2024-0009", "high")])))
    assert later["reasons"][0]["note"] == f"in the grace period until {ends}"
    live.clock.now = start + dt.timedelta(days=7, minutes=1)
    past = live.verdict(live.publish(scan_doc("b:1", [finding("CVE-2024-0009", "high")])))
    assert past["outcome"] == "block"
    assert live.events[-1].kind == "policy.vulnerabilities.block"

    dates = live.client(Role.CI).post(
        "/api/v1/policies/fix-dates",
        json={
            "fixes": [
                {"id": "CVE-2024-0009", "type": "deb", "package": "openssl"},
                {"id": "CVE-2024-9999", "type": "deb", "package": "openssl"},
            ]
        },
    )
    assert dates.status_code == 200, dates.text
    [known] = dates.json()["fixes"]
    assert dt.datetime.fromisoformat(known["firstSeen"]) == start


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_compliance_verdicts_count_failed_checks_and_secrets(live: Live) -> None:
    _create(
        live,
        "/api/v1/policies/rules/compliance",
        {
            "name": "docker",
            "checks": ["CKV_DOCKER_*", "secret:*"],
            "alertThreshold": "low",
            "blockThreshold": "high",
            "exceptions": [{"id": "CKV_DOCKER_3", "reason": "the base image sets a user"}],
        },
    )
    results = [
        ("CKV_DOCKER_2", "low", "failed"),
        ("CKV_DOCKER_3", "high", "failed"),
        ("STK-DF-001", "critical", "failed"),
        ("CKV_DOCKER_9", "critical", "passed"),
    ]
    alert = live.verdict(live.publish(check_doc(results), "/api/v1/checks"))
    assert (alert["outcome"], [r["id"] for r in alert["reasons"]]) == ("alert", ["CKV_DOCKER_2"])
    assert live.events[-1].kind == "policy.compliance.alert"
    block = live.verdict(live.publish(check_doc(results, ("aws-access-key",)), "/api/v1/checks"))
    assert block["outcome"] == "block"
    assert block["reasons"][0]["id"] == "secret:aws-access-key"
    assert (live.events[-1].kind, live.events[-1].severity) == ("policy.compliance.block", "high")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rules_keep_their_order_and_every_change_is_audited(live: Live) -> None:
    operator = live.client(Role.OPERATOR)
    rules = "/api/v1/policies/rules/vulnerabilities"
    for name in ("one", "two", "three"):
        _create(live, rules, {"name": name, "alertThreshold": "high"})
    moved = operator.put(f"{rules}/three", json={"alertThreshold": "low", "position": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["alertThreshold"] == "low"

    def order() -> list[tuple[str, int]]:
        items = live.client(Role.AUDITOR).get(rules).json()["items"]
        return [(r["name"], r["position"]) for r in items]

    assert order() == [("three", 1), ("one", 2), ("two", 3)]
    _create(live, rules, {"name": "zero", "position": 1})
    assert order() == [("zero", 1), ("three", 2), ("one", 3), ("two", 4)]
    assert operator.delete(f"{rules}/one").status_code == 204
    assert order() == [("zero", 1), ("three", 2), ("two", 3)]
    audit = live.client(Role.ADMINISTRATOR).get("/api/v1/audit", params={"limit": 100}).json()
    actions = [(e["action"], e["target"]) for e in audit["items"] if e["action"].startswith("pol")]
    assert ("policy.rule.delete", "rule:vulnerabilities/one") in actions
    assert ("policy.rule.change", "rule:vulnerabilities/three") in actions
    assert sum(a == "policy.rule.create" for a, _ in actions) == 4
    # Reading needs read, changing needs operate; CI reads only the effective rule.
    assert live.client(Role.AUDITOR).post(rules, json={"name": "x"}).status_code == 403
    assert live.client(Role.CI).get(rules).status_code == 403
    assert live.client(Role.CI).get("/api/v1/policies/effective").status_code == 200
    assert live.client(Role.DEFENDER).get("/api/v1/policies/effective").status_code == 403


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_policies_that_cannot_work_are_refused_and_nothing_is_stored(live: Live) -> None:
    operator = live.client(Role.OPERATOR)
    rules = "/api/v1/policies/rules/vulnerabilities"
    _create(live, "/api/v1/policies/collections", {"name": "prod", "hosts": ["prod-*"]})
    _create(live, rules, {"name": "uses-prod", "collections": ["prod"]})
    refusals = [
        (rules, {"name": "a", "collections": ["nowhere"]}, 422, "no collection named 'nowhere'"),
        (rules, {"name": "a", "alertThreshold": "high", "blockThreshold": "low"}, 422, "below"),
        (rules, {"name": "a", "checks": ["CKV_*"]}, 422, "compliance rules only"),
        ("/api/v1/policies/rules/compliance", {"name": "a", "graceDays": 3}, 422, "vulnerab"),
        (rules, {"name": "uses-prod"}, 409, "exists"),
        (rules, {"name": "has/slash"}, 422, "schema"),
        ("/api/v1/policies/collections", {"name": "all"}, 409, "built in"),
        ("/api/v1/policies/collections", {"name": "b", "labels": ["team"]}, 422, "schema"),
    ]
    for path, body, status, words in refusals:
        answer = operator.post(path, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.json()["detail"], answer.json()
    in_use = operator.delete("/api/v1/policies/collections/prod")
    assert in_use.status_code == 409
    assert "vulnerabilities/uses-prod" in in_use.json()["detail"]
    assert [r["name"] for r in operator.get(rules).json()["items"]] == ["uses-prod"]
    names = [c["name"] for c in operator.get("/api/v1/policies/collections").json()["items"]]
    assert names == ["all", "prod"]
    missing = live.client(Role.AUDITOR).get("/api/v1/scans/999/verdict")
    assert missing.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_effective_rule_for_an_artifact(live: Live) -> None:
    _team_policy(live)
    ci = live.client(Role.CI)

    def effective(**params: Any) -> tuple[str | None, str | None]:
        answer = ci.get("/api/v1/policies/effective", params=params)
        assert answer.status_code == 200, answer.text
        applied = answer.json()["vulnerabilities"]
        return (applied["rule"] or {}).get("name"), applied["collection"]

    assert effective(image="registry.example/team/app:1.0") == ("team", "team-images")
    assert effective(image="registry.example/team/app:1.0", namespace="payments") == (
        "payments-strict",
        "payments",
    )
    assert effective(image="quay.io/x:1") == ("baseline", "all")
    answer = ci.get("/api/v1/policies/effective", params={"label": "no-equals-sign"})
    assert answer.status_code == 422
