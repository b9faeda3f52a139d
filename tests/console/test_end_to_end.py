"""The Console's parts together, through their real emitters: a published scan that a
policy blocks, and a Defender's incident, reach a webhook through the alert outbox."""

from __future__ import annotations

from stockade.console.alerts.testing import HttpReceiver, wait_until
from stockade.console.roles import Role
from stockade.console.testing import synthetic_scan_document

from .conftest import RunningConsole


def test_policy_block_and_runtime_incident_reach_a_webhook(console: RunningConsole) -> None:
    assert console.context is not None
    for start in console.context.on_start:  # the app's workers (the fixture runs no lifespan)
        start()
    try:
        admin = console.client(Role.ADMINISTRATOR)
        with HttpReceiver() as receiver:
            channel = admin.post(
                "/api/v1/alerts/channels",
                json={"kind": "webhook", "name": "siem", "config": {"url": receiver.url()}},
            )
            assert channel.status_code == 201, channel.text
            rule = admin.post(
                "/api/v1/alerts/rules",
                json={
                    "name": "blocks-and-incidents",
                    "kinds": ["policy.*.block", "runtime.incident"],
                    "minSeverity": "high",
                    "channels": [channel.json()["id"]],
                    "aggregateSeconds": 0,
                },
            )
            assert rule.status_code == 201, rule.text
            policy = admin.post(
                "/api/v1/policies/rules/vulnerabilities",
                json={"name": "no-criticals", "blockThreshold": "critical"},
            )
            assert policy.status_code == 201, policy.text

            document = synthetic_scan_document(7, name="shop/web:1.2")
            published = console.client(Role.CI).post("/api/v1/scans", json=document)
            assert published.status_code == 201, published.text
            verdict = admin.get(f"/api/v1/scans/{published.json()['scanId']}/verdict").json()
            assert verdict["outcome"] == "block"

            enrolled = admin.post("/api/v1/defenders", json={"name": "node-1"}).json()
            defender = console.client()
            defender.headers["Authorization"] = f"Bearer {enrolled['token']}"
            pushed = defender.post(
                "/api/v1/events",
                json={
                    "host": "node-1",
                    "events": [
                        {
                            "kind": "incident",
                            "seq": 1,
                            "payload": {
                                "priority": "critical",
                                "rule": "builtin:reverse-shell",
                                "title": "Reverse shell in container web-1",
                                "container": "web-1",
                            },
                        }
                    ],
                },
            )
            assert pushed.status_code == 202, pushed.text

            assert wait_until(lambda: len(receiver.successes()) >= 2, timeout=30)
            kinds = sorted(kind for r in receiver.successes() for kind in r.json()["kinds"])
            assert kinds == ["policy.vulnerabilities.block", "runtime.incident"]

            # the receiver answers before the worker records the delivery: wait for it
            def statuses() -> set[str]:
                items = admin.get("/api/v1/alerts/deliveries").json()["items"]
                return {d["status"] for d in items}

            assert wait_until(lambda: statuses() == {"delivered"}, timeout=30), statuses()
    finally:
        for close in reversed(console.context.on_close):
            close()
