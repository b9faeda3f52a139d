"""Alerts: the pure core (rules, messages, backoff, settings validation) and the REST
API under /api/v1/alerts over real HTTP, with a real receiver behind each channel."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from stockade.console import alerts
from stockade.console.alerts.channels import (
    EmailConfig,
    SyslogConfig,
    WebhookConfig,
    parse_address,
    redact,
    secret_values,
)
from stockade.console.alerts.interface import Digest
from stockade.console.alerts.messages import (
    EVENT_DETAIL_MAX_BYTES,
    event_from_json,
    event_to_json,
    headline,
    slack_payload,
    summary_line,
)
from stockade.console.alerts.outbox import RetryPolicy
from stockade.console.alerts.rules import RuleSpec, matches, severity_rank
from stockade.console.alerts.sealing import box_for
from stockade.console.alerts.testing import HttpReceiver, wait_until
from stockade.console.alerts.worker import AlertSettings, DeliveryWorker
from stockade.console.api.app import create_app
from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.events import EVENT_SEVERITIES, ConsoleEvent
from stockade.console.roles import Permission, Role, allows
from stockade.console.store.engine import Store
from stockade.console.store.models import AlertChannel, AlertRule, AlertRuleChannel, AuditEntry

from .conftest import ThreadedServer, issue_token

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
HOOK_TOKEN = "T0AAAAAA/B0BBBBBB/abcdefghijklmnopqrstuvwx"  # noqa: S105  # a fake token
HMAC_SECRET = "the-shared-hmac-secret-value"  # noqa: S105  # test fixture
SMTP_PASSWORD = "the-smtp-password-value"  # noqa: S105  # test fixture


def _event(
    kind: str = "policy.vulnerabilities.block", severity: str = "high", **labels: str
) -> ConsoleEvent:
    return ConsoleEvent(
        kind=kind,
        severity=severity,
        title="Image blocked",
        subject="registry.example/app:1",
        at=NOW,
        labels=labels,
    )


# --- the pure core ---


@pytest.mark.parametrize(
    ("rule", "event", "expected"),
    [
        (RuleSpec(("policy.*.block",)), _event(), True),
        (RuleSpec(("policy.*.block",)), _event("policy.vulnerabilities.alert"), False),
        (RuleSpec(("policy.*",)), _event("policy.compliance.alert"), True),
        (RuleSpec(("runtime.incident", "registry.*")), _event("registry.scan.failed"), True),
        (RuleSpec(("*",), "high"), _event(severity="critical"), True),
        (RuleSpec(("*",), "high"), _event(severity="high"), True),
        (RuleSpec(("*",), "high"), _event(severity="medium"), False),
        (RuleSpec(("*",), "info"), _event(severity="info"), True),
        (RuleSpec(("*",), labels={"namespace": "prod"}), _event(namespace="prod"), True),
        (RuleSpec(("*",), labels={"namespace": "prod"}), _event(namespace="dev"), False),
        (RuleSpec(("*",), labels={"namespace": "prod"}), _event(), False),
        (
            RuleSpec(("*",), labels={"image": "registry.example/team-?/*"}),
            _event(image="registry.example/team-a/api:1"),
            True,
        ),
        (RuleSpec(("*",), labels={"namespace": "!kube-*"}), _event(namespace="kube-system"), False),
        (RuleSpec(("*",), labels={"namespace": "!kube-*"}), _event(namespace="prod"), True),
        (RuleSpec(("*",), labels={"namespace": "!kube-*"}), _event(), True),
        (
            RuleSpec(("*",), labels={"namespace": "prod", "host": "node-*"}),
            _event(namespace="prod", host="db-1"),
            False,
        ),
        (RuleSpec(("Policy.*",)), _event(), False),  # kinds are case-sensitive
    ],
)
def test_rules_match_kinds_severities_and_labels(
    rule: RuleSpec, event: ConsoleEvent, expected: bool
) -> None:
    assert matches(rule, event) is expected


def test_an_unknown_severity_ranks_below_info() -> None:
    assert [severity_rank(s) for s in EVENT_SEVERITIES] == [0, 1, 2, 3, 4]
    assert severity_rank("whatever") == 5
    assert not matches(RuleSpec(("*",), "info"), _event(severity="whatever"))


def test_the_api_offers_exactly_the_event_severities() -> None:
    from typing import get_args

    from stockade.console.alerts.api import SeverityWord

    assert get_args(SeverityWord) == EVENT_SEVERITIES


def _digest(count: int, events: tuple[ConsoleEvent, ...], **kwargs: Any) -> Digest:
    return Digest(
        rule="prod",
        count=count,
        severity="high",
        first_at=NOW,
        last_at=NOW,
        events=events,
        kind_counts={"policy.vulnerabilities.block": count},
        **kwargs,
    )


def test_headlines_and_summaries_stay_on_one_line() -> None:
    tricky = ConsoleEvent(
        kind="policy.vulnerabilities.block",
        severity="high",
        title="line one\nline two\r\x00",
        subject="app\n:1",
        at=NOW,
    )
    assert headline(_digest(1, (tricky,))) == "[HIGH] line one line two"
    assert "\n" not in summary_line(_digest(1, (tricky,)))
    many = summary_line(_digest(40, (tricky,) * 5))
    assert many.startswith("[HIGH] 40 alerts from rule prod (40 x policy.vulnerabilities.block)")
    assert many.endswith("and 35 more")


def test_slack_blocks_respect_slacks_limits() -> None:
    long = ConsoleEvent(kind="k", severity="high", title="t" * 5000, subject="s" * 5000, at=NOW)
    payload = slack_payload(_digest(5, (long,) * 5))
    header, section, _ = payload["blocks"]
    assert len(header["text"]["text"]) <= 150
    assert len(section["text"]["text"]) <= 3000
    assert len(payload["text"]) <= 3000


def test_events_round_trip_through_json_and_oversized_detail_is_left_out() -> None:
    event = ConsoleEvent(
        kind="runtime.incident",
        severity="critical",
        title="Shell in container",
        subject="node-1/web",
        at=NOW,
        detail={"pid": 42, "when": NOW},  # a datetime is not JSON: it becomes a string
        labels={"host": "node-1"},
    )
    back = event_from_json(event_to_json(event))
    assert back.at == NOW
    assert back.detail == {"pid": 42, "when": str(NOW)}
    assert back.labels == {"host": "node-1"}
    huge = ConsoleEvent(
        kind="k", severity="low", title="t", subject="s", at=NOW, detail={"x": "y" * 20_000}
    )
    detail = event_to_json(huge)["detail"]
    assert detail == {"omitted": f"detail of {20_000 + 9} bytes left out"}
    assert EVENT_DETAIL_MAX_BYTES < 20_000


def test_backoff_doubles_up_to_the_cap_and_respects_retry_after() -> None:
    policy = RetryPolicy(base_seconds=30, factor=2, cap_seconds=300, max_attempts=8, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]
    assert policy.delay(1, retry_after=90) == 90
    assert policy.delay(1, retry_after=9999) == 300
    jittery = RetryPolicy(base_seconds=100, jitter=0.1)
    delays = [jittery.delay(1) for _ in range(200)]
    assert all(90 <= d <= 100 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("syslog.example:514", ("syslog.example", 514)),
        ("10.0.0.5:6514", ("10.0.0.5", 6514)),
        ("[2001:db8::1]:514", ("2001:db8::1", 514)),
    ],
)
def test_syslog_addresses_parse(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    "address",
    ["syslog.example", "syslog.example:0", "host:65536", "host:http", ":514", "[::1]514", "a b:1"],
)
def test_bad_syslog_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # each case has its own message
        parse_address(address)


def test_settings_are_validated_where_they_enter() -> None:
    with pytest.raises(ValidationError, match="only http and https"):
        WebhookConfig(url="file:///etc/passwd")
    with pytest.raises(ValidationError):
        WebhookConfig(url="gopher://example.org/")
    with pytest.raises(ValidationError, match="at least 16"):
        WebhookConfig(url="https://example.org/", secret="short")  # noqa: S106
    with pytest.raises(ValidationError, match="only sent over TLS"):
        EmailConfig(
            host="mail.example",
            security="none",
            username="u",
            password="p",  # noqa: S106
            sender="a@example.org",
            recipients=["b@example.org"],
        )
    with pytest.raises(ValidationError, match="e-mail address"):
        EmailConfig(host="mail.example", sender="a@example.org", recipients=["b\r\nBcc: c@x"])
    with pytest.raises(ValidationError, match="need transport tls"):
        SyslogConfig(address="127.0.0.1:514", transport="udp", serverName="logs.example")
    with pytest.raises(ValidationError, match="PEM certificates"):
        SyslogConfig(address="127.0.0.1:514", transport="tls", caCertificate="not a PEM")


def test_redaction_takes_out_secrets_and_url_tokens() -> None:
    url = f"https://user:pw-1234@hooks.example/services/{HOOK_TOKEN}?key=abcdef"
    hidden = secret_values({"url": url, "secret": HMAC_SECRET})
    text = f"failed {url} and /services/{HOOK_TOKEN} with {HMAC_SECRET}; key=abcdef user:pw-1234"
    cleaned = redact(text, hidden)
    for secret in (HOOK_TOKEN, HMAC_SECRET, "key=abcdef", "pw-1234"):
        assert secret not in cleaned


# --- the API ---


@dataclass
class AlertConsole:
    url: str
    store: Store
    context: ConsoleContext
    tokens: dict[Role, str]
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: Role | None = Role.ADMINISTRATOR) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client


FAST = AlertSettings(
    poll_seconds=0.02,
    send_timeout_seconds=3,
    retry=RetryPolicy(base_seconds=0.05, factor=2, cap_seconds=1, max_attempts=2, jitter=0),
)


@pytest.fixture
def alert_console(store: Store, config: ConsoleConfig) -> Iterator[AlertConsole]:
    """A Console on 127.0.0.1 whose alerts were installed with fast settings (its worker
    is not started: tests run :class:`DeliveryWorker` themselves, or the lifespan)."""
    context = ConsoleContext(config=config, store=store)
    alerts.install(context, FAST)
    app = create_app(context)
    with ThreadedServer(app) as server:
        running = AlertConsole(server.url, store, context, {r: issue_token(store, r) for r in Role})
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return dict(body)


def _webhook(url: str, name: str = "hook", **config: Any) -> dict[str, Any]:
    return {"kind": "webhook", "name": name, "config": {"url": url, **config}}


def _rule(channels: list[int], name: str = "all", **extra: Any) -> dict[str, Any]:
    return {"name": name, "kinds": ["*"], "channels": channels, "aggregateSeconds": 0, **extra}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_channel_secrets_are_write_only(alert_console: AlertConsole) -> None:
    admin = alert_console.client()
    with HttpReceiver() as receiver:
        url = receiver.url(f"/services/{HOOK_TOKEN}")
        created = admin.post("/api/v1/alerts/channels", json=_webhook(url, secret=HMAC_SECRET))
        assert created.status_code == 201, created.text
        channel = created.json()
        assert channel["config"] == {
            "url": {"set": True, "origin": f"http://127.0.0.1:{receiver.port}"},
            "secret": {"set": True},
        }
        listed = admin.get("/api/v1/alerts/channels")
        one = admin.get(f"/api/v1/alerts/channels/{channel['id']}")
        # A change that leaves the secrets out keeps them.
        renamed = admin.put(
            f"/api/v1/alerts/channels/{channel['id']}",
            json={"kind": "webhook", "name": "renamed", "config": {}},
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["config"]["secret"] == {"set": True}
        tested = admin.post(f"/api/v1/alerts/channels/{channel['id']}/test")
        assert tested.json() == {"delivered": True, "channel": channel["id"]}
        [request] = receiver.requests
        assert request.path == f"/services/{HOOK_TOKEN}"
        timestamp = request.headers["x-stockade-timestamp"]
        signature = hmac.new(
            HMAC_SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        assert request.headers["x-stockade-signature"] == f"sha256={signature}"
        assert request.json()["test"] is True
        # null removes an optional secret.
        unsigned = admin.put(
            f"/api/v1/alerts/channels/{channel['id']}",
            json={"kind": "webhook", "name": "renamed", "config": {"secret": None}},
        )
        assert unsigned.json()["config"]["secret"] == {"set": False}
        audit = admin.get("/api/v1/audit", params={"limit": 100})
    for response in (created, listed, one, renamed, tested, unsigned, audit):
        assert HOOK_TOKEN not in response.text
        assert HMAC_SECRET not in response.text
    actions = [e["action"] for e in audit.json()["items"]]
    for action in ("alert.channel.create", "alert.channel.change", "alert.channel.test"):
        assert action in actions
    changes = [e for e in audit.json()["items"] if e["action"] == "alert.channel.change"]
    assert changes[0]["detail"] == {"changed": ["config.secret"]}
    assert changes[1]["detail"] == {"changed": ["name"]}
    with alert_console.store.read() as session:
        stored = "".join(str(e.detail) + e.target for e in session.scalars(select(AuditEntry)))
    assert HOOK_TOKEN not in stored
    assert HMAC_SECRET not in stored
    with alert_console.store.read() as session:
        at_rest = str(session.scalars(select(AlertChannel.secrets)).all())
    assert HOOK_TOKEN not in at_rest
    assert HMAC_SECRET not in at_rest


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_email_channels_password_is_never_answered(alert_console: AlertConsole) -> None:
    admin = alert_console.client()
    body = {
        "kind": "email",
        "name": "mail",
        "config": {
            "host": "127.0.0.1",
            "port": 2525,
            "username": "alerts",
            "password": SMTP_PASSWORD,
            "sender": "stockade@example.org",
            "recipients": ["secops@example.org"],
        },
    }
    created = admin.post("/api/v1/alerts/channels", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["config"]["password"] == {"set": True}
    assert created.json()["config"]["username"] == "alerts"
    missing = {**body, "name": "mail-2", "config": {**body["config"], "password": None}}
    problem = _problem(admin.post("/api/v1/alerts/channels", json=missing), 422)
    assert "config.password" in problem["detail"]
    for response in (created, admin.get("/api/v1/alerts/channels")):
        assert SMTP_PASSWORD not in response.text


BAD_CHANNELS: list[tuple[dict[str, Any], str]] = [
    (_webhook("ftp://user:hunter2-secret@example.org/x"), "url"),
    (_webhook("javascript:alert(1)"), "url"),
    ({"kind": "webhook", "name": "no-url", "config": {}}, "config.url"),
    ({"kind": "slack", "name": "s", "config": {"url": "http:// spaces in host/"}}, "url"),
    ({"kind": "syslog", "name": "s", "config": {"address": "logs.example"}}, "address"),
    ({"kind": "syslog", "name": "s", "config": {"address": "h:70000"}}, "address"),
    (
        {"kind": "syslog", "name": "s", "config": {"address": "h:1", "transport": "x"}},
        "transport",
    ),
    (
        {
            "kind": "email",
            "name": "m",
            "config": {
                "host": "mail.example",
                "security": "none",
                "username": "u",
                "password": "hunter2-secret",
                "sender": "a@example.org",
                "recipients": ["b@example.org"],
            },
        },
        "config",
    ),
    ({"kind": "pager", "name": "p", "config": {}}, "body"),
    (_webhook("https://example.org/", extra="field"), "extra"),
    ({**_webhook("https://example.org/"), "name": ""}, "name"),
]
"""Bodies the API must refuse, and where the problem says the fault is."""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_channel_settings_are_problems_and_store_nothing(alert_console: AlertConsole) -> None:
    admin = alert_console.client()
    for body, where in BAD_CHANNELS:
        problem = _problem(admin.post("/api/v1/alerts/channels", json=body), 422)
        located = " ".join(str(e.get("loc")) for e in problem.get("errors", []))
        assert where in located + problem.get("detail", ""), (body, problem)
        assert "hunter2-secret" not in str(problem)
    assert admin.get("/api/v1/alerts/channels").json() == {"items": []}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rules_refer_to_channels_that_exist(alert_console: AlertConsole) -> None:
    admin = alert_console.client()
    channel = admin.post("/api/v1/alerts/channels", json=_webhook("https://hooks.example/x")).json()
    problem = _problem(admin.post("/api/v1/alerts/rules", json=_rule([channel["id"], 999])), 422)
    assert "no alert channel with id 999" in problem["detail"]
    body = _rule(
        [channel["id"]],
        name="prod-blocks",
        kinds=["policy.*.block"],
        minSeverity="high",
        labels={"namespace": "prod", "image": "registry.example/*"},
        aggregateSeconds=120,
    )
    created = admin.post("/api/v1/alerts/rules", json=body)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert {k: rule[k] for k in body} == body
    _problem(admin.post("/api/v1/alerts/rules", json=body), 409)
    _problem(admin.post("/api/v1/alerts/rules", json={**body, "minSeverity": "severe"}), 422)
    _problem(admin.post("/api/v1/alerts/rules", json={**body, "kinds": []}), 422)
    _problem(admin.post("/api/v1/alerts/rules", json={**body, "kinds": ["a b"]}), 422)
    _problem(admin.post("/api/v1/alerts/rules", json={**body, "aggregateSeconds": -1}), 422)
    in_use = _problem(admin.delete(f"/api/v1/alerts/channels/{channel['id']}"), 409)
    assert "prod-blocks" in in_use["detail"]
    changed = admin.put(
        f"/api/v1/alerts/rules/{rule['id']}", json={**body, "enabled": False, "labels": {}}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["enabled"], changed.json()["labels"]) == (False, {})
    assert admin.get(f"/api/v1/alerts/rules/{rule['id']}").json()["enabled"] is False
    assert admin.delete(f"/api/v1/alerts/rules/{rule['id']}").status_code == 204
    _problem(admin.get(f"/api/v1/alerts/rules/{rule['id']}"), 404)
    assert admin.delete(f"/api/v1/alerts/channels/{channel['id']}").status_code == 204
    _problem(admin.delete(f"/api/v1/alerts/channels/{channel['id']}"), 404)
    _problem(admin.post("/api/v1/alerts/channels/12345/test"), 404)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_test_message_that_fails_is_a_502_without_secrets(alert_console: AlertConsole) -> None:
    admin = alert_console.client()
    url = f"http://127.0.0.1:{_closed_port()}/services/{HOOK_TOKEN}"
    channel = admin.post(
        "/api/v1/alerts/channels", json={"kind": "slack", "name": "slack", "config": {"url": url}}
    ).json()
    problem = _problem(admin.post(f"/api/v1/alerts/channels/{channel['id']}/test"), 502)
    assert problem["title"] == "Delivery failed"
    assert "cannot reach the receiver" in problem["detail"]
    assert HOOK_TOKEN not in str(problem)


def test_deliveries_are_listed_with_their_attempts_and_errors(
    alert_console: AlertConsole,
) -> None:
    """On SQLite and PostgreSQL: events emitted in the Console become deliveries; one
    that keeps failing is marked failed with its last error, and an operator retries it."""
    admin, auditor = alert_console.client(), alert_console.client(Role.AUDITOR)
    with HttpReceiver(fail_first=2) as receiver:
        channel = admin.post("/api/v1/alerts/channels", json=_webhook(receiver.url())).json()
        admin.post("/api/v1/alerts/rules", json=_rule([channel["id"]]))
        alert_console.context.emit(_event())
        box = box_for(alert_console.context.config.data_dir)
        worker = DeliveryWorker(alert_console.store, FAST, box=box)
        collecting = auditor.get("/api/v1/alerts/deliveries").json()
        assert [d["status"] for d in collecting["items"]] == ["collecting"]
        assert wait_until(lambda: worker.run_once() == 0 and _failed(auditor) == 1, timeout=10)
        failed = auditor.get("/api/v1/alerts/deliveries", params={"status": "failed"}).json()
        [item] = failed["items"]
        assert item["attempts"] == 2
        assert item["lastError"].startswith("HTTP 500")
        assert item["eventCount"] == 1
        assert item["events"][0]["title"] == "Image blocked"
        assert item["channelName"] == "hook"
        csv = auditor.get("/api/v1/alerts/deliveries", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert "HTTP 500" in csv.text
        _problem(auditor.post(f"/api/v1/alerts/deliveries/{item['id']}/retry"), 403)
        operator = alert_console.client(Role.OPERATOR)
        retried = operator.post(f"/api/v1/alerts/deliveries/{item['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
        _problem(operator.post(f"/api/v1/alerts/deliveries/{item['id']}/retry"), 409)
        assert worker.run_once() == 1
    done = auditor.get(f"/api/v1/alerts/deliveries/{item['id']}").json()
    assert (done["status"], done["attempts"], done["lastError"]) == ("delivered", 1, None)
    assert receiver.answered == [500, 500, 200]
    assert (
        auditor.get("/api/v1/alerts/deliveries", params={"status": "failed"}).json()["total"] == 0
    )


def _failed(client: httpx.Client) -> int:
    page = client.get("/api/v1/alerts/deliveries", params={"status": "failed"}).json()
    return int(page["total"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_role_reads_or_changes_alerts_as_its_permissions_say(
    alert_console: AlertConsole,
) -> None:
    schema = alert_console.client().get("/api/v1/openapi.json").json()
    operations = [
        (path, method, op["x-stockade-access"])
        for path, ops in schema["paths"].items()
        if path.startswith("/api/v1/alerts")
        for method, op in ops.items()
    ]
    assert len(operations) == 14
    expected = {
        ("get", "read"),
        ("post", "administer"),
        ("put", "administer"),
        ("delete", "administer"),
        ("post", "operate"),
    }
    assert {(m, a) for _, m, a in operations} == expected
    anonymous = alert_console.client(None)
    clients = {role: alert_console.client(role) for role in Role}
    for path, method, access in operations:
        url = path.replace("{channel_id}", "999").replace("{rule_id}", "999")
        url = url.replace("{delivery_id}", "999")
        assert anonymous.request(method, url, json={}).status_code == 401
        for role in Role:
            status = clients[role].request(method, url, json={}).status_code
            if allows(role, Permission(access)):
                assert status not in (401, 403), (role, method, path)
            else:
                assert status == 403, (role, method, path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_worker_starts_and_stops_with_the_app(store: Store, config: ConsoleConfig) -> None:
    context = ConsoleContext(config=config, store=store)
    alerts.install(context, FAST)
    app = create_app(context)
    with HttpReceiver() as receiver:
        with store.write() as session:
            channel = AlertChannel(
                name="hook",
                kind="webhook",
                enabled=True,
                config={},
                secrets={"url": box_for(config.data_dir).seal(receiver.url())},
                created_by="test",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(channel)
            session.flush()
            rule = AlertRule(
                name="all",
                enabled=True,
                kinds=["*"],
                min_severity="info",
                labels={},
                aggregate_seconds=0,
                created_by="test",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(rule)
            session.flush()
            session.add(AlertRuleChannel(rule_id=rule.id, channel_id=channel.id))

        async def serve() -> None:
            async with app.router.lifespan_context(app):  # what uvicorn runs at start/stop
                assert _alert_threads() == 1
                context.emit(_event("runtime.incident", "critical"))
                assert await asyncio.to_thread(wait_until, lambda: len(receiver.requests) == 1)

        asyncio.run(serve())
        assert _alert_threads() == 0
    assert receiver.requests[0].json()["events"][0]["kind"] == "runtime.incident"


def _alert_threads() -> int:
    return sum(t.name == "stockade-alerts" and t.is_alive() for t in threading.enumerate())


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_alerts_api_conforms_to_its_schema(alert_console: AlertConsole) -> None:
    """schemathesis over the alerts operations only: no 500s, answers as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import CHECKS

    token = alert_console.tokens[Role.ADMINISTRATOR]
    schema = schemathesis.openapi.from_url(
        f"{alert_console.url}/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    checks = [
        CHECKS.get_by_names([name])[0]
        for name in (
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
        )
    ]
    failures: list[str] = []
    calls: list[int] = []
    operations = [
        op.ok() for op in schema.get_all_operations() if op.ok().path.startswith("/api/v1/alerts")
    ]
    assert len(operations) == 14
    for op in operations:

        @settings(
            max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call_and_validate(checks=checks)
            calls.append(response.status_code)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)
    assert len(calls) >= 3 * len(operations)
    assert sum(200 <= c < 300 for c in calls) >= len(operations)
