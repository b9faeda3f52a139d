"""Audit events and what they may contain."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from stockade.waf.decision import Action, Decision, Detection
from stockade.waf.proxy.audit import AuditLog, audit_event
from stockade.waf.proxy.config import ProxyConfigError, load_config, parse_size
from stockade.waf.proxy.redact import IncidentIds, Redactor, sensitive_location, truncate
from stockade.waf.request import HttpRequest


@pytest.mark.parametrize(
    ("location", "sensitive"),
    [
        ("REQUEST_HEADERS:Authorization", True),
        ("REQUEST_HEADERS:cookie", True),
        ("REQUEST_HEADERS:User-Agent", False),
        ("REQUEST_COOKIES:anything", True),
        ("REQUEST_COOKIES_NAMES:anything", False),
        ("ARGS:password", True),
        ("ARGS_POST:user[passwd]", True),
        ("ARGS:api_key", True),
        ("ARGS:access_token", True),
        ("ARGS:q", False),
        ("ARGS_NAMES:password", False),
        ("REQUEST_LINE", False),
    ],
)
def test_sensitive_locations(location: str, sensitive: bool) -> None:
    assert sensitive_location(location) is sensitive


def test_secret_values_are_blanked_wherever_they_appear() -> None:
    request = HttpRequest(
        "POST",
        "/login?next=/home",
        headers=(
            ("Authorization", "Basic dXNlcjpodW50ZXIy"),
            ("Cookie", "session=abc123def; theme=dark"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ),
        body=b"user=bob&password=hunter2&remember=1",
    )
    redactor = Redactor(request)
    text = "REQUEST_LINE with hunter2 and dXNlcjpodW50ZXIy and abc123def"
    assert redactor.matched("REQUEST_LINE", text) == (
        "REQUEST_LINE with [redacted] and [redacted] and [redacted]"
    )
    assert redactor.matched("ARGS:user", "bob") == "bob"
    assert redactor.matched("ARGS:password", "hunter2") == "[redacted]"
    assert len(redactor.matched("ARGS:q", "x" * 500)) == 101
    assert truncate("abc", 2) == "ab…"


def test_events_carry_the_fields_and_cut_long_values() -> None:
    request = HttpRequest(
        "GET",
        "/a/b?token=zzz",
        headers=(("Host", "h.example"),),
        remote_addr="192.0.2.4",
        remote_port=5555,
    )
    decision = Decision(
        Action.DENY,
        status=403,
        detections=(Detection("crs", "942100", "SQLi", "ARGS:token", "zzz' or 1=1"),),
        incident_id="inc-1",
        anomaly_score=5,
    )
    event = audit_event(
        now=0.0,
        phase="request",
        request=request,
        decision=decision,
        action="deny",
        status=403,
        incident_id="inc-1",
    )
    assert event["time"] == "1970-01-01T00:00:00.000000Z"
    assert event["client_ip"] == "192.0.2.4"
    assert event["client_port"] == 5555
    assert event["path"] == "/a/b"
    assert event["host"] == "h.example"
    assert event["rule_ids"] == ["942100"]
    assert event["detections"][0]["matched"] == "[redacted]"


def test_lines_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("fork")
    log = AuditLog(path, lock=context.Lock())
    event = {"detections": ["x" * 20_000]}

    def write_many() -> None:
        for _ in range(50):
            log.write(event)
        os._exit(0)

    children = [context.Process(target=write_many) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line) == event for line in lines)
    log.close()


def test_incident_ids_are_unique_and_change_prefix_in_a_child() -> None:
    ids = IncidentIds()
    first = {ids.next() for _ in range(1000)}
    assert len(first) == 1000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ids.next().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child[:10] != next(iter(first))[:10]


def test_sizes_and_config_defaults() -> None:
    assert parse_size("1MiB") == 1024 * 1024
    assert parse_size("512k") == 512 * 1024
    assert parse_size(" 2 GB ") == 2 * 1024**3
    assert parse_size(100) == 100
    with pytest.raises(ProxyConfigError):
        parse_size("-1")
    config = load_config({"upstream": "https://app.internal:8443"})
    assert config.upstream.authority == "app.internal:8443"
    assert config.body_limit_action == "reject"
    assert config.fail_open is False
    assert config.inspect_limit == 1024 * 1024
