"""Defender enrolment, host binding, exactly-once events, incidents, log-in throttling —
over real HTTP on both stores."""

from __future__ import annotations

from typing import Any

import httpx

from stockade.console.events import ConsoleEvent
from stockade.console.roles import Role

from .conftest import ADMIN_PASSWORD, RunningConsole


def _enrol(console: RunningConsole, name: str) -> dict[str, Any]:
    answer = console.client(Role.ADMINISTRATOR).post("/api/v1/defenders", json={"name": name})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _defender(console: RunningConsole, token: str) -> httpx.Client:
    client = httpx.Client(
        base_url=console.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    console.clients.append(client)
    return client


def _batch(host: str, seqs: range, kind: str = "process") -> dict[str, Any]:
    return {
        "host": host,
        "version": "0.1.0",
        "events": [
            {"kind": kind, "seq": n, "occurredAt": "2026-11-29T08:00:00Z", "payload": {"n": n}}
            for n in seqs
        ],
    }


def _stored(console: RunningConsole, host: str) -> list[int]:
    page = console.client(Role.AUDITOR).get("/api/v1/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    return sorted(e["payload"]["n"] for e in page.json()["items"] if e["host"] == host)


def test_enrolled_defender_pushes_for_its_host_only(console: RunningConsole) -> None:
    enrolled = _enrol(console, "node-1")
    assert enrolled["token"].startswith("stk_")
    agent = _defender(console, enrolled["token"])
    assert agent.post("/api/v1/events", json=_batch("node-1", range(1, 4))).status_code == 202
    wrong = agent.post("/api/v1/events", json=_batch("node-2", range(1, 2)))
    assert wrong.status_code == 403
    assert "node-1" in wrong.json()["detail"]
    # the defender role reads nothing else
    assert agent.get("/api/v1/images").status_code == 403
    listed = console.client(Role.AUDITOR).get("/api/v1/defenders").json()["items"]
    assert [(d["name"], d["lastSeq"], d["version"], d["connected"]) for d in listed] == [
        ("node-1", 3, "0.1.0", True)
    ]
    assert "token" not in listed[0]
    # a second enrolment for the same host is refused while the first stands
    again = console.client(Role.ADMINISTRATOR).post("/api/v1/defenders", json={"name": "node-1"})
    assert again.status_code == 409


def test_resent_events_are_stored_once(console: RunningConsole) -> None:
    agent = _defender(console, _enrol(console, "node-1")["token"])
    first = agent.post("/api/v1/events", json=_batch("node-1", range(1, 6)))
    assert first.json() == {"accepted": 5, "duplicates": 0, "lastSeq": 5}
    # the answer was lost: the Defender resends 1-5 together with 6-8
    resent = agent.post("/api/v1/events", json=_batch("node-1", range(1, 9)))
    assert resent.json() == {"accepted": 3, "duplicates": 5, "lastSeq": 8}
    # a number repeated inside one batch counts once
    doubled = _batch("node-1", range(9, 10))
    doubled["events"] *= 2
    assert agent.post("/api/v1/events", json=doubled).json()["accepted"] == 1
    assert _stored(console, "node-1") == list(range(1, 10))
    assert agent.get("/api/v1/defenders/self").json()["lastSeq"] == 9


def test_revoked_and_rotated_tokens_stop_working(console: RunningConsole) -> None:
    enrolled = _enrol(console, "node-1")
    admin = console.client(Role.ADMINISTRATOR)
    rotated = admin.post(f"/api/v1/defenders/{enrolled['id']}/token")
    assert rotated.status_code == 201
    old, new = _defender(console, enrolled["token"]), _defender(console, rotated.json()["token"])
    assert old.post("/api/v1/events", json=_batch("node-1", range(1, 2))).status_code == 401
    assert new.post("/api/v1/events", json=_batch("node-1", range(1, 2))).status_code == 202
    assert admin.delete(f"/api/v1/defenders/{enrolled['id']}").status_code == 204
    assert new.post("/api/v1/events", json=_batch("node-1", range(2, 3))).status_code == 401
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["items"]]
    assert actions.count("defender.enrol") == 2
    assert "defender.revoke" in actions


def test_incidents_become_console_events(console: RunningConsole) -> None:
    seen: list[ConsoleEvent] = []
    assert console.context is not None
    console.context.event_listeners.append(seen.append)
    agent = _defender(console, _enrol(console, "node-1")["token"])
    batch = _batch("node-1", range(1, 3))
    batch["events"][1] = {
        "kind": "incident",
        "seq": 2,
        "payload": {
            "priority": "Critical",
            "rule": "Reverse shell",
            "title": "a shell with a socket on stdin in web-1",
            "container": "web-1",
            "image": "shop/web:1.2",
        },
    }
    assert agent.post("/api/v1/events", json=batch).status_code == 202
    assert [(e.kind, e.severity, e.subject, e.labels["rule"]) for e in seen] == [
        ("runtime.incident", "critical", "web-1", "Reverse shell")
    ]
    assert seen[0].title == "a shell with a socket on stdin in web-1"
    # a resent incident is not told twice
    assert agent.post("/api/v1/events", json=batch).json()["duplicates"] == 2
    assert len(seen) == 1


def test_repeated_failed_logins_are_throttled(console: RunningConsole) -> None:
    client = console.client()
    for _ in range(5):
        bad = client.post("/api/v1/session", json={"username": "admin", "password": "wrong"})
        assert bad.status_code == 401
    locked = client.post("/api/v1/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert locked.headers["content-type"].startswith("application/problem+json")
    # another user name from the same address is not locked by the first one's failures
    other = client.post("/api/v1/session", json={"username": "someone", "password": "wrong"})
    assert other.status_code == 401
