"""Each channel kind against a real receiver on 127.0.0.1: a recording HTTP server,
syslog listeners over UDP, TCP and TLS, and aiosmtpd's SMTP server (plain, STARTTLS,
implicit TLS, with and without a login)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from stockade.console.alerts.channels import (
    EmailConfig,
    SlackConfig,
    SyslogConfig,
    WebhookConfig,
)
from stockade.console.alerts.interface import DeliveryError, Digest
from stockade.console.alerts.messages import SYSLOG_FACILITIES
from stockade.console.alerts.notifiers import notifier_for
from stockade.console.alerts.notifiers.syslog import UDP_MAX_BYTES
from stockade.console.alerts.testing import (
    RFC5424,
    CertifiedKey,
    HttpReceiver,
    SyslogReceiver,
    issue_certificate,
    server_context,
    wait_until,
)
from stockade.console.alerts.worker import send_now
from stockade.console.events import ConsoleEvent

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
HMAC_SECRET = "s3cret-shared-with-the-receiver"  # noqa: S105  # test fixture


def clock() -> dt.datetime:
    return NOW


def _event(i: int = 0, **kwargs: Any) -> ConsoleEvent:
    values: dict[str, Any] = {
        "kind": "policy.vulnerabilities.block",
        "severity": "high",
        "title": f"Image blocked by policy prod-{i}",
        "subject": f"registry.example/team/app:{i}",
        "at": NOW,
        "detail": {"scanId": i},
        "labels": {"namespace": "prod"},
    }
    values.update(kwargs)
    return ConsoleEvent(**values)


def _digest(count: int = 1, **kwargs: Any) -> Digest:
    events = tuple(_event(i) for i in range(min(count, 5)))
    values: dict[str, Any] = {
        "rule": "prod-blocks",
        "count": count,
        "severity": "high",
        "first_at": NOW,
        "last_at": NOW + dt.timedelta(seconds=30),
        "events": events,
        "kind_counts": {"policy.vulnerabilities.block": count},
        "delivery_id": 42,
    }
    values.update(kwargs)
    return Digest(**values)


@pytest.fixture(scope="module")
def ca() -> CertifiedKey:
    return issue_certificate("Stockade test CA", ca=True)


@pytest.fixture(scope="module")
def server_cert(ca: CertifiedKey) -> CertifiedKey:
    return issue_certificate("127.0.0.1", issuer=ca)


# --- webhooks ---


def test_webhook_posts_json_signed_with_hmac_sha256() -> None:
    with HttpReceiver() as receiver:
        config = WebhookConfig(url=receiver.url("/in?team=sec"), secret=HMAC_SECRET)
        notifier_for(config, timeout=5, clock=clock).send(_digest(3))
    [request] = receiver.requests
    assert request.path == "/in?team=sec"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-stockade-delivery"] == "42"
    timestamp = request.headers["x-stockade-timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    expected = hmac.new(
        HMAC_SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["x-stockade-signature"], f"sha256={expected}")
    body = request.json()
    assert body["count"] == 3
    assert body["rule"] == "prod-blocks"
    assert [e["title"] for e in body["events"]] == [
        f"Image blocked by policy prod-{i}" for i in range(3)
    ]
    assert body["events"][0]["labels"] == {"namespace": "prod"}


def test_a_webhook_without_a_secret_is_not_signed() -> None:
    with HttpReceiver() as receiver:
        notifier_for(WebhookConfig(url=receiver.url()), timeout=5, clock=clock).send(_digest())
    [request] = receiver.requests
    assert "x-stockade-signature" not in request.headers
    assert request.json()["title"] == "[HIGH] Image blocked by policy prod-0"


def test_slack_gets_text_and_blocks_with_its_characters_escaped() -> None:
    digest = _digest(1, events=(_event(title="<b>curl & friends</b>"),))
    with HttpReceiver() as receiver:
        notifier_for(
            SlackConfig(url=receiver.url("/services/T0/B0/x")), timeout=5, clock=clock
        ).send(digest)
    body = receiver.requests[0].json()
    assert "curl & friends" in body["text"]
    header, section, context = body["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert "&lt;b&gt;curl &amp; friends&lt;/b&gt;" in section["text"]["text"]
    assert "prod-blocks" in context["elements"][0]["text"]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (400, False)]
)
def test_http_answers_decide_whether_to_retry(status: int, retryable: bool) -> None:
    with HttpReceiver(fail_first=1, fail_status=status) as receiver:
        notifier = notifier_for(WebhookConfig(url=receiver.url()), timeout=5, clock=clock)
        with pytest.raises(DeliveryError) as caught:
            notifier.send(_digest())
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in caught.value.message


def test_retry_after_is_read() -> None:
    failing = HttpReceiver(fail_first=1, fail_status=429, fail_headers={"Retry-After": "7"})
    with failing as receiver, pytest.raises(DeliveryError) as caught:
        notifier_for(WebhookConfig(url=receiver.url()), timeout=5, clock=clock).send(_digest())
    assert caught.value.retry_after == 7


def test_a_redirect_is_not_followed() -> None:
    with (
        HttpReceiver(
            fail_first=1, fail_status=302, fail_headers={"Location": "http://127.0.0.1:9/x"}
        ) as receiver,
        pytest.raises(DeliveryError, match="redirects are not followed") as caught,
    ):
        notifier_for(WebhookConfig(url=receiver.url()), timeout=5, clock=clock).send(_digest())
    assert not caught.value.retryable
    assert len(receiver.requests) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_never_carry_the_channels_secrets() -> None:
    token = "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"  # noqa: S105  # a fake Slack token
    url = f"http://127.0.0.1:{_closed_port()}/services/{token}"
    with pytest.raises(DeliveryError) as caught:
        send_now("slack", {}, {"url": url}, _digest(), timeout=2, clock=clock)
    assert caught.value.retryable
    assert token not in caught.value.message
    assert "/services/" not in caught.value.message


def test_secrets_stay_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = "T111/B111/YYYYYYYYYYYYYYYYYYYYYYYY"  # noqa: S105  # a fake Slack token
    with HttpReceiver(fail_first=1) as receiver:
        url = receiver.url(f"/services/{token}")
        with pytest.raises(DeliveryError):
            send_now("slack", {}, {"url": url}, _digest(), timeout=5, clock=clock)
        send_now("slack", {}, {"url": url}, _digest(), timeout=5, clock=clock)
    assert len(receiver.requests) == 2
    assert "[alert channel URL]" in caplog.text  # httpx logged both requests, masked
    assert token not in caplog.text


# --- syslog ---


def _parse(message: bytes) -> dict[str, bytes]:
    match = RFC5424.match(message)
    assert match, message
    return match.groupdict()


def test_syslog_over_udp_is_one_rfc5424_datagram() -> None:
    with SyslogReceiver("udp") as receiver:
        config = SyslogConfig(address=receiver.address, facility="auth", hostname="console-1")
        notifier_for(config, timeout=5, clock=clock).send(_digest(7))
        assert wait_until(lambda: len(receiver.messages) == 1)
    parts = _parse(receiver.messages[0])
    assert int(parts["pri"]) == SYSLOG_FACILITIES["auth"] * 8 + 3  # high → err
    assert parts["timestamp"] == b"2026-03-01T09:30:00.000000Z"
    assert parts["hostname"] == b"console-1"
    assert parts["app"] == b"stockade"
    assert parts["msgid"] == b"policy.vulnerabilities.block"
    assert b'rule="prod-blocks"' in parts["sd"]
    assert b'count="7"' in parts["sd"]
    assert parts["msg"].startswith(b"\xef\xbb\xbf[HIGH] 7 alerts from rule prod-blocks")
    assert b"and 2 more" in parts["msg"]


def test_a_long_syslog_message_is_cut_to_the_udp_limit() -> None:
    events = tuple(_event(i, title="x" * 3000) for i in range(5))
    with SyslogReceiver("udp") as receiver:
        notifier_for(SyslogConfig(address=receiver.address), timeout=5, clock=clock).send(
            _digest(5, events=events)
        )
        assert wait_until(lambda: len(receiver.messages) == 1)
    assert len(receiver.messages[0]) == UDP_MAX_BYTES
    assert receiver.messages[0].endswith(b"...")


def test_syslog_over_tcp_uses_octet_counting_frames() -> None:
    with SyslogReceiver("tcp") as receiver:
        notifier = notifier_for(
            SyslogConfig(address=receiver.address, transport="tcp"), timeout=5, clock=clock
        )
        notifier.send(_digest(1))
        notifier.send(_digest(2, severity="critical"))
        assert wait_until(lambda: len(receiver.messages) == 2)
    assert receiver.errors == []
    severities = sorted(int(_parse(m)["pri"]) % 8 for m in receiver.messages)
    assert severities == [2, 3]  # crit, err


def test_syslog_over_tls_verifies_the_server(ca: CertifiedKey, server_cert: CertifiedKey) -> None:
    with SyslogReceiver("tls", tls=server_context(server_cert)) as receiver:
        trusted = SyslogConfig(
            address=receiver.address, transport="tls", caCertificate=ca.certificate
        )
        notifier_for(trusted, timeout=5, clock=clock).send(_digest(1))
        assert wait_until(lambda: len(receiver.messages) == 1)
        assert _parse(receiver.messages[0])["app"] == b"stockade"
        stranger = issue_certificate("Some other CA", ca=True)
        untrusted = SyslogConfig(
            address=receiver.address, transport="tls", caCertificate=stranger.certificate
        )
        with pytest.raises(DeliveryError, match="certificate not trusted"):
            notifier_for(untrusted, timeout=5, clock=clock).send(_digest(1))
    assert len(receiver.messages) == 1


def test_syslog_over_tls_with_a_client_certificate(
    ca: CertifiedKey, server_cert: CertifiedKey
) -> None:
    client = issue_certificate("console-1", issuer=ca, client=True)
    context = server_context(server_cert, client_ca=ca)
    with SyslogReceiver("tls", tls=context) as receiver:
        without = SyslogConfig(
            address=receiver.address, transport="tls", caCertificate=ca.certificate
        )
        notifier = notifier_for(without, timeout=5, clock=clock)
        with pytest.raises(DeliveryError, match="syslog over TLS"):
            notifier.send(_digest(1))
        config = SyslogConfig(
            address=receiver.address,
            transport="tls",
            caCertificate=ca.certificate,
            clientCertificate=client.certificate,
            clientKey=client.key,
        )
        notifier_for(config, timeout=5, clock=clock).send(_digest(1))
        assert wait_until(lambda: len(receiver.messages) == 1)
    subjects = [dict(x[0] for x in cert["subject"]) for cert in receiver.peer_certificates]
    assert {"commonName": "console-1"} in subjects


def test_syslog_to_nowhere_is_a_retryable_error() -> None:
    config = SyslogConfig(address=f"127.0.0.1:{_closed_port()}", transport="tcp")
    with pytest.raises(DeliveryError, match=r"syslog to tcp 127\.0\.0\.1") as caught:
        notifier_for(config, timeout=2, clock=clock).send(_digest())
    assert caught.value.retryable


# --- e-mail ---

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-password-1234"


@dataclass
class Mailbox:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and _text(auth_data.login) == SMTP_USER
        and _text(auth_data.password) == SMTP_PASSWORD
    )
    # handled=False: aiosmtpd answers 535 itself on a refusal.
    return AuthResult(success=ok, handled=False)


@dataclass
class Smtp:
    mailbox: Mailbox
    port: int


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, server_cert: CertifiedKey) -> Iterator[Smtp]:
    """aiosmtpd on 127.0.0.1: ``plain`` (no TLS, no login), ``starttls`` (STARTTLS
    required, login required) or ``tls`` (implicit TLS, login required)."""
    mode = request.param
    mailbox = Mailbox()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        kwargs = {
            "tls_context": server_context(server_cert),
            "require_starttls": True,
            "authenticator": _authenticator,
            "auth_required": True,
        }
    elif mode == "tls":
        kwargs = {
            "ssl_context": server_context(server_cert),
            "authenticator": _authenticator,
            "auth_required": True,
            # aiosmtpd counts only STARTTLS as TLS and would not offer AUTH over
            # implicit TLS; the connection is TLS from the first byte here.
            "auth_require_tls": False,
        }
    port = _closed_port()
    controller = aiosmtpd_controller.Controller(
        mailbox, hostname="127.0.0.1", port=port, server_hostname="mail.test", **kwargs
    )
    controller.start()
    try:
        yield Smtp(mailbox, port)
    finally:
        controller.stop()


def _email(port: int, ca: CertifiedKey, **kwargs: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "stockade@example.org",
        "recipients": ["secops@example.org", "oncall@example.org"],
        "heloName": "console.test",
    }
    values.update(kwargs)
    if values.get("security") != "none":
        values.setdefault("caCertificate", ca.certificate)
    return EmailConfig(**values)


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_email_over_plain_smtp(smtp_server: Smtp, ca: CertifiedKey) -> None:
    config = _email(smtp_server.port, ca, security="none")
    notifier_for(config, timeout=5, clock=clock).send(_digest(12))
    [(sender, recipients, content)] = smtp_server.mailbox.messages
    assert sender == "stockade@example.org"
    assert recipients == ["secops@example.org", "oncall@example.org"]
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Subject"] == "[Stockade] [HIGH] 12 alerts from rule prod-blocks"
    assert message["X-Stockade-Delivery"] == "42"
    body = message.get_body().get_content()  # type: ignore[union-attr]
    assert "Events: 12 (12 x policy.vulnerabilities.block)" in body
    assert "registry.example/team/app:4" in body
    assert "… and 7 more events not listed." in body


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_email_with_starttls_and_a_login(smtp_server: Smtp, ca: CertifiedKey) -> None:
    config = _email(smtp_server.port, ca, username=SMTP_USER, password=SMTP_PASSWORD)
    notifier_for(config, timeout=5, clock=clock).send(_digest(1))
    assert len(smtp_server.mailbox.messages) == 1
    wrong = _email(smtp_server.port, ca, username=SMTP_USER, password="not-the-password")  # noqa: S106
    with pytest.raises(DeliveryError, match="refused the login") as caught:
        send_now("email", *_split(wrong), _digest(1), timeout=5, clock=clock)
    assert not caught.value.retryable
    assert "not-the-password" not in caught.value.message
    assert len(smtp_server.mailbox.messages) == 1


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_email_refuses_a_server_it_cannot_verify(smtp_server: Smtp) -> None:
    stranger = issue_certificate("Some other CA", ca=True)
    config = _email(smtp_server.port, stranger, username=SMTP_USER, password=SMTP_PASSWORD)
    with pytest.raises(DeliveryError, match="certificate not trusted"):
        notifier_for(config, timeout=5, clock=clock).send(_digest(1))
    assert smtp_server.mailbox.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("smtp_server", ["tls"], indirect=True)
def test_email_over_implicit_tls(smtp_server: Smtp, ca: CertifiedKey) -> None:
    config = _email(
        smtp_server.port, ca, security="tls", username=SMTP_USER, password=SMTP_PASSWORD
    )
    notifier_for(config, timeout=5, clock=clock).send(_digest(2))
    [(_, _, content)] = smtp_server.mailbox.messages
    assert b"2 alerts from rule prod-blocks" in content


def _split(config: EmailConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    from stockade.console.alerts.channels import split_config

    return split_config(config)
