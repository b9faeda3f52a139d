"""The alerts page over real HTTP: channels of each kind made through its forms (secrets
write-only), the test button against a real receiver, rules, deliveries that failed
against a closed port and are retried, bad input, roles, CSRF and escaping."""

from __future__ import annotations

import datetime as dt
import re
import socket
from typing import Any

import httpx
import pytest

from stockade.console.alerts.outbox import RetryPolicy
from stockade.console.alerts.sealing import box_for
from stockade.console.alerts.testing import HttpReceiver, wait_until
from stockade.console.alerts.worker import AlertSettings, DeliveryWorker
from stockade.console.events import ConsoleEvent
from stockade.console.roles import Role

from ..conftest import RunningConsole
from .conftest import (
    HOSTILE,
    USER_PASSWORD,
    add_user,
    assert_page_headers,
    audit_actions,
    log_in,
    post_form,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HOOK_TOKEN = "T0AAAAAA/B0BBBBBB/abcdefghijklmnopqrstuvwx"  # noqa: S105  # a fake token
HMAC_SECRET = "the-shared-hmac-secret-value"  # noqa: S105  # test fixture
SMTP_PASSWORD = "the-smtp-password-value"  # noqa: S105  # test fixture
FAST = AlertSettings(
    poll_seconds=0.02,
    send_timeout_seconds=2,
    retry=RetryPolicy(base_seconds=0.05, factor=2, cap_seconds=0.2, max_attempts=2, jitter=0),
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(console: RunningConsole, role: Role = Role.ADMINISTRATOR) -> httpx.Client:
    return console.client(role)


def _channels(console: RunningConsole) -> list[dict[str, Any]]:
    return list(_api(console, Role.AUDITOR).get("/api/v1/alerts/channels").json()["items"])


def _webhook_form(url: str, **changes: Any) -> dict[str, Any]:
    return {"kind": "webhook", "name": "hook", "enabled": "1", "url": url, "secret": "", **changes}


def test_channels_are_made_through_forms_and_secrets_stay_write_only(
    console: RunningConsole,
) -> None:
    admin = log_in(console)
    with HttpReceiver() as receiver:
        url = receiver.url(f"/services/{HOOK_TOKEN}")
        form = admin.get("/alerts/channels/new", params={"kind": "webhook"})
        assert form.status_code == 200
        assert_page_headers(form)
        made = post_form(admin, "/alerts/channels", _webhook_form(url, secret=HMAC_SECRET))
        assert made.status_code == 303, made.text
        assert made.headers["location"] == "/alerts?done=channel-created"
        (channel,) = _channels(console)
        assert channel["config"]["secret"] == {"set": True}
        overview = admin.get("/alerts")
        assert f"set (http://127.0.0.1:{receiver.port})" in overview.text
        page = admin.get(f"/alerts/channels/{channel['id']}")
        assert "Remove the stored signing secret" in page.text
        # Saving the form with the secrets left empty keeps them.
        kept = post_form(
            admin,
            f"/alerts/channels/{channel['id']}",
            {"name": "renamed", "enabled": "1", "url": "", "secret": ""},
        )
        assert kept.status_code == 303, kept.text
        (channel,) = _channels(console)
        assert channel["name"] == "renamed"
        assert channel["config"]["url"]["set"]
        assert channel["config"]["secret"]["set"]
        tested = post_form(admin, f"/alerts/channels/{channel['id']}/test")
        assert "A test message was delivered to the channel “renamed”." in tested.text
        (request,) = receiver.requests
        assert request.path == f"/services/{HOOK_TOKEN}"
        assert "x-stockade-signature" in request.headers
        removed = post_form(
            admin,
            f"/alerts/channels/{channel['id']}",
            {"name": "renamed", "enabled": "1", "remove-secret": "1"},
        )
        assert removed.status_code == 303
        assert _channels(console)[0]["config"]["secret"] == {"set": False}
        pages = [made, overview, page, kept, tested, removed, admin.get("/alerts")]
        pages.append(admin.get(f"/alerts/channels/{channel['id']}"))
    for answer in pages:
        assert HOOK_TOKEN not in answer.text
        assert HMAC_SECRET not in answer.text
    assert [(a, actor) for a, actor, _ in audit_actions(console, "alert.channel")] == [
        ("alert.channel.create", "user:admin"),
        ("alert.channel.change", "user:admin"),
        ("alert.channel.test", "user:admin"),
        ("alert.channel.change", "user:admin"),
    ]


def test_syslog_and_email_channels_take_every_setting(console: RunningConsole) -> None:
    admin = log_in(console)
    syslog = post_form(
        admin,
        "/alerts/channels",
        {
            "kind": "syslog",
            "name": "siem",
            "enabled": "1",
            "address": "logs.example:6514",
            "transport": "tcp",
            "facility": "local3",
            "appName": "stockade-prod",
        },
    )
    assert syslog.status_code == 303, syslog.text
    email = post_form(
        admin,
        "/alerts/channels",
        {
            "kind": "email",
            "name": "mail",
            "host": "smtp.example.org",
            "port": "2525",
            "security": "tls",
            "username": "alerts",
            "password": SMTP_PASSWORD,
            "sender": "stockade@example.org",
            "recipients": "secops@example.org\n\n oncall@example.org \n",
        },
    )
    assert email.status_code == 303, email.text
    stored = {c["name"]: c for c in _channels(console)}
    assert stored["siem"]["config"] == {
        **stored["siem"]["config"],
        "address": "logs.example:6514",
        "transport": "tcp",
        "facility": "local3",
        "appName": "stockade-prod",
        "clientKey": {"set": False},
    }
    mail = stored["mail"]
    assert mail["enabled"] is False  # the box was not ticked
    assert (mail["config"]["port"], mail["config"]["security"]) == (2525, "tls")
    assert mail["config"]["recipients"] == ["secops@example.org", "oncall@example.org"]
    assert mail["config"]["password"] == {"set": True}
    page = admin.get(f"/alerts/channels/{mail['id']}")
    assert "oncall@example.org</textarea>" in page.text
    assert SMTP_PASSWORD not in page.text
    assert SMTP_PASSWORD not in admin.get("/alerts").text


BAD_CHANNELS: list[tuple[dict[str, Any], int, str]] = [
    ({"url": ""}, 400, "URL is required."),
    ({"url": "ftp://user:hunter2-secret@example.org/x"}, 400, "URL: only http and https URLs"),
    ({"url": "javascript:alert(1)"}, 400, "URL: only http and https URLs are accepted."),
    ({"secret": "short"}, 400, "Signing secret needs at least 16 characters."),
    ({"name": ""}, 400, "The name is required."),
    ({"name": "taken"}, 409, "An alert channel named &#39;taken&#39; exists already."),
    (
        {"kind": "syslog", "address": "logs.example"},
        400,
        "Address: expected HOST:PORT.",
    ),
    (
        {"kind": "syslog", "address": "logs.example:514", "serverName": "logs.example"},
        400,
        "CaCertificate, serverName and client certificates need transport tls.",
    ),
    (
        {
            "kind": "email",
            "host": "smtp.example.org",
            "security": "none",
            "username": "u",
            "password": "hunter2-secret",
            "sender": "a@example.org",
            "recipients": "b@example.org",
        },
        400,
        "A login is only sent over TLS: use security starttls or tls.",
    ),
    (
        {"kind": "email", "host": "smtp.example.org", "sender": "a@example.org", "recipients": ""},
        400,
        "To is required.",
    ),
    (
        {
            "kind": "email",
            "host": "smtp.example.org",
            "sender": "a@example.org",
            "recipients": "b@example.org\nnot-an-address",
        },
        400,
        "To (entry 2): not an e-mail address (local@domain).",
    ),
    (
        {"kind": "email", "host": "h", "port": "abc", "sender": "a@b.c", "recipients": "d@e.f"},
        400,
        "Port must be a whole number.",
    ),
    (
        {
            "kind": "email",
            "host": "h",
            "username": "alerts",
            "sender": "a@b.c",
            "recipients": "d@e.f",
        },
        422,
        "An e-mail channel with a username needs config.password.",
    ),
]


@pytest.mark.parametrize(("change", "status", "message"), BAD_CHANNELS)
def test_bad_channel_input_shows_the_form_again_and_stores_nothing(
    console: RunningConsole, change: dict[str, Any], status: int, message: str
) -> None:
    admin = log_in(console)
    assert post_form(admin, "/alerts/channels", _webhook_form("https://a.example/", name="taken"))
    before = _channels(console)
    form = {**_webhook_form("https://hooks.example/x", name="fresh"), **change}
    if form["kind"] != "webhook":
        del form["url"], form["secret"]
    answer = post_form(admin, "/alerts/channels", form)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert_page_headers(answer)
    assert "hunter2-secret" not in answer.text
    if form["name"]:
        assert f'value="{form["name"]}"' in answer.text  # what was typed is kept
    assert _channels(console) == before
    assert [a for a, _, _ in audit_actions(console, "alert.")] == ["alert.channel.create"]


def test_the_test_button_says_why_a_message_did_not_go(console: RunningConsole) -> None:
    admin = log_in(console)
    url = f"http://127.0.0.1:{_closed_port()}/services/{HOOK_TOKEN}"
    post_form(admin, "/alerts/channels", {"kind": "slack", "name": "slack", "url": url})
    (channel,) = _channels(console)
    answer = post_form(admin, f"/alerts/channels/{channel['id']}/test")
    assert answer.status_code == 502
    assert "The test message was not delivered: Cannot reach the receiver" in answer.text
    assert "Check the channel&#39;s settings and the receiver." in answer.text
    assert HOOK_TOKEN not in answer.text
    assert audit_actions(console, "alert.channel.test")[0][0] == "alert.channel.test"
    assert post_form(admin, "/alerts/channels/999999/test").status_code == 404


def test_rules_route_events_to_channels_chosen_in_the_form(console: RunningConsole) -> None:
    admin = log_in(console)
    api = _api(console)
    hook = api.post(
        "/api/v1/alerts/channels",
        json={"kind": "webhook", "name": "hook", "config": {"url": "https://hooks.example/x"}},
    ).json()
    form = {
        "name": "prod-blocks",
        "enabled": "1",
        "kinds": "policy.*.block,  runtime.incident",
        "minSeverity": "high",
        "labels": "namespace=prod-*\nimage = !registry.example/sandbox/*\n",
        "channels": [str(hook["id"])],
        "aggregateSeconds": "120",
    }
    page = admin.get("/alerts/rules/new")
    assert f'name="channels" value="{hook["id"]}"' in page.text
    made = post_form(admin, "/alerts/rules", form)
    assert made.status_code == 303, made.text
    (rule,) = api.get("/api/v1/alerts/rules").json()["items"]
    assert rule["kinds"] == ["policy.*.block", "runtime.incident"]
    assert rule["labels"] == {"namespace": "prod-*", "image": "!registry.example/sandbox/*"}
    assert (rule["minSeverity"], rule["channels"], rule["aggregateSeconds"]) == (
        "high",
        [hook["id"]],
        120,
    )
    bad: list[tuple[dict[str, Any], int, str]] = [
        ({"labels": "namespace"}, 400, "Labels (line 1): write each as NAME=GLOB"),
        ({"kinds": "policy.$"}, 400, "Event kinds may hold letters, digits"),
        ({"kinds": ""}, 400, "Event kinds is required."),
        ({"channels": []}, 400, "Channels is required."),
        ({"aggregateSeconds": "-1"}, 400, "Gather for (seconds) must be at least 0."),
        ({"minSeverity": "dire"}, 400, "Minimum severity must be one of"),
        ({"name": "other", "channels": ["999"]}, 422, "No alert channel with id 999."),
        ({}, 409, "An alert rule named &#39;prod-blocks&#39; exists already."),
    ]
    for change, status, message in bad:
        answer = post_form(admin, "/alerts/rules", {**form, **change})
        assert answer.status_code == status, (change, answer.text)
        assert message in answer.text, change
        assert f'value="{change.get("name", "prod-blocks")}"' in answer.text
    assert len(api.get("/api/v1/alerts/rules").json()["items"]) == 1
    changed = post_form(admin, f"/alerts/rules/{rule['id']}", {**form, "enabled": "", "labels": ""})
    assert changed.status_code == 303
    stored = api.get(f"/api/v1/alerts/rules/{rule['id']}").json()
    assert (stored["enabled"], stored["labels"]) == (False, {})
    # A channel a rule uses cannot go; the overview says which rule.
    refused = post_form(admin, f"/alerts/channels/{hook['id']}/delete")
    assert refused.status_code == 409
    assert "The channel is used by the rules &#39;prod-blocks&#39;." in refused.text
    assert post_form(admin, f"/alerts/rules/{rule['id']}/delete").status_code == 303
    assert post_form(admin, f"/alerts/channels/{hook['id']}/delete").status_code == 303
    assert _channels(console) == []
    assert [a for a, _, _ in audit_actions(console, "alert.rule")] == [
        "alert.rule.create",
        "alert.rule.change",
        "alert.rule.delete",
    ]


def test_failed_deliveries_are_listed_and_operators_retry_them(console: RunningConsole) -> None:
    api = _api(console)
    url = f"http://127.0.0.1:{_closed_port()}/services/{HOOK_TOKEN}"
    channel = api.post(
        "/api/v1/alerts/channels", json={"kind": "webhook", "name": "down", "config": {"url": url}}
    ).json()
    api.post(
        "/api/v1/alerts/rules",
        json={"name": "all", "kinds": ["*"], "channels": [channel["id"]], "aggregateSeconds": 0},
    ).raise_for_status()
    assert console.context is not None
    console.context.emit(
        ConsoleEvent(
            kind="runtime.incident",
            severity="high",
            title=HOSTILE,
            subject="node-1",
            at=dt.datetime.now(dt.UTC),
        )
    )
    worker = DeliveryWorker(console.store, FAST, box=box_for(console.context.config.data_dir))

    def failed() -> list[dict[str, Any]]:
        worker.run_once()
        page = api.get("/api/v1/alerts/deliveries", params={"status": "failed"}).json()
        return list(page["items"])

    assert wait_until(lambda: bool(failed()), timeout=15)
    (delivery,) = failed()
    add_user(console, "audrey", Role.AUDITOR)
    add_user(console, "olga", Role.OPERATOR)
    reader = log_in(console, "audrey", USER_PASSWORD)
    page = reader.get("/alerts", params={"status": "failed"})
    assert_page_headers(page)
    row = next(r for r in page.text.split("<tr>") if f'<td class="num">{delivery["id"]}</td>' in r)
    assert 'class="status status-failed">failed' in row
    assert '<td class="num">2</td>' in row  # attempts
    assert "cannot reach the receiver" in row
    assert "&lt;script&gt;" in row  # the event's title, as text
    assert HOSTILE not in page.text
    assert HOOK_TOKEN not in page.text
    assert "Retry" not in row
    assert (
        "delivered"
        not in reader.get("/alerts", params={"status": "delivered"})
        .text.split("<tbody>")[-1]
        .split("</tbody>")[0]
    )
    retry = f"/alerts/deliveries/{delivery['id']}/retry"
    assert post_form(reader, retry).status_code == 403
    operator = log_in(console, "olga", USER_PASSWORD)
    assert "Retry" in operator.get("/alerts").text
    retried = post_form(operator, retry)
    assert retried.status_code == 303
    assert (
        "The delivery will be sent again shortly." in operator.get(retried.headers["location"]).text
    )
    state = api.get(f"/api/v1/alerts/deliveries/{delivery['id']}").json()
    assert (state["status"], state["attempts"]) == ("pending", 0)
    again = post_form(operator, retry)
    assert again.status_code == 409
    assert re.search(r'role="alert">[^<]+', again.text)
    assert audit_actions(console, "alert.delivery")[0][:2] == ("alert.delivery.retry", "user:olga")
    assert post_form(operator, "/alerts/deliveries/999999/retry").status_code == 404


def test_roles_csrf_and_escaping_on_the_alerts_pages(console: RunningConsole) -> None:
    api = _api(console)
    channel = api.post(
        "/api/v1/alerts/channels",
        json={"kind": "webhook", "name": HOSTILE, "config": {"url": "https://hooks.example/x"}},
    ).json()
    add_user(console, "audrey", Role.AUDITOR)
    add_user(console, "olga", Role.OPERATOR)
    add_user(console, "pipeline", Role.CI)
    reader = log_in(console, "audrey", USER_PASSWORD)
    for path in ("/alerts", f"/alerts/channels/{channel['id']}"):
        answer = reader.get(path)
        assert answer.status_code == 200, path
        assert_page_headers(answer)
        assert HOSTILE not in answer.text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in answer.text
    assert "New channel" not in reader.get("/alerts").text
    assert "<fieldset disabled>" in reader.get(f"/alerts/channels/{channel['id']}").text
    for path in ("/alerts/channels/new", "/alerts/rules/new"):
        assert reader.get(path).status_code == 403
    operator = log_in(console, "olga", USER_PASSWORD)
    for who in (reader, operator):
        for path, form in (
            ("/alerts/channels", _webhook_form("https://b.example/", name="mine")),
            (f"/alerts/channels/{channel['id']}/delete", {}),
            (f"/alerts/channels/{channel['id']}/test", {}),
            ("/alerts/rules", {"name": "r", "kinds": "*", "channels": [str(channel["id"])]}),
        ):
            assert post_form(who, path, form).status_code == 403, path
    assert log_in(console, "pipeline", USER_PASSWORD).get("/alerts").status_code == 403
    admin = log_in(console)
    forged = admin.post("/alerts/channels", data=_webhook_form("https://c.example/", name="x"))
    assert forged.status_code == 403
    assert [c["name"] for c in _channels(console)] == [HOSTILE]
    assert admin.get("/alerts/channels/999999").status_code == 404
    assert admin.get("/alerts/rules/999999").status_code == 404
