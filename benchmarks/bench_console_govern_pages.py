"""How fast the policies, alerts, registries and Defenders pages answer with a lot stored.

Seeds a fresh store: 20 collections and 40 rules (through the API), 20,000 published
results each with a verdict of 20 reasons, 10 alert channels with 20,000 deliveries, 50
registries with 20 runs each, and 500 Defenders (bulk inserts); serves it with uvicorn on
127.0.0.1 in a thread, logs in through the form, and times REPEAT requests of each page,
one at a time: p50 and p95 in milliseconds, HTTP and HTML rendering included.

    .venv/bin/python benchmarks/bench_console_govern_pages.py                 # SQLite
    .venv/bin/python benchmarks/bench_console_govern_pages.py --pg postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from stockade.console.config import ConsoleConfig
from stockade.console.identity.accounts import create_token
from stockade.console.roles import Role
from stockade.console.service import build_app, create_first_admin, open_store
from stockade.console.store.engine import Store
from stockade.console.store.models import (
    AlertDelivery,
    Defender,
    PolicyVerdict,
    Registry,
    RegistryScanRun,
    Scan,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_console import database  # noqa: E402  # this directory's scripts
from bench_console_pages import PASSWORD, log_in, time_pages  # noqa: E402
from tests.console.conftest import ThreadedServer  # noqa: E402

RESULTS = 20_000
DELIVERIES = 20_000
PAGES = {
    "policies": "/policies",
    "policies, blocks only": "/policies?outcome=block",
    "policies, page 400": "/policies?page=400",
    "a rule": "/policies/rules/vulnerabilities/rule-7",
    "alerts": "/alerts",
    "alerts, failed only": "/alerts?status=failed",
    "alerts, page 400": "/alerts?page=400",
    "registries": "/registries",
    "a registry": "/registries/7",
    "defenders": "/defenders",
}


def _chunks(rows: list[dict[str, Any]], size: int = 2000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def seed_api(url: str, token: str) -> list[int]:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        for n in range(20):
            api.post(
                "/api/v1/policies/collections",
                json={"name": f"team-{n}", "images": [f"registry.example/team{n}/*"]},
            ).raise_for_status()
        for kind in ("vulnerabilities", "compliance"):
            for n in range(20):
                body: dict[str, Any] = {
                    "name": f"rule-{n}",
                    "collections": [f"team-{n}"],
                    "alertThreshold": "medium",
                    "blockThreshold": "critical",
                    "exceptions": [{"id": f"CVE-2024-{n:05d}", "reason": "reviewed"}],
                }
                api.post(f"/api/v1/policies/rules/{kind}", json=body).raise_for_status()
        channels = []
        for n in range(10):
            answer = api.post(
                "/api/v1/alerts/channels",
                json={
                    "kind": "webhook",
                    "name": f"hook-{n}",
                    "config": {"url": f"https://hooks.example/{n}"},
                },
            )
            answer.raise_for_status()
            channels.append(int(answer.json()["id"]))
        api.post(
            "/api/v1/alerts/rules",
            json={"name": "blocks", "kinds": ["policy.*.block"], "channels": channels},
        ).raise_for_status()
    return channels


def seed_rows(store: Store, channels: list[int]) -> None:
    now = dt.datetime.now(dt.UTC)
    reasons = [
        {
            "threshold": "alert",
            "id": f"CVE-2024-{n:05d}",
            "severity": "medium",
            "target": f"pkg{n}@1.0",
            "note": "",
        }
        for n in range(20)
    ]
    with store.engine.begin() as connection:
        scans: list[dict[str, Any]] = [
            {
                "id": n + 1,
                "kind": "vulnerabilities",
                "artifact_key": f"artifact:app-{n}",
                "artifact_name": f"registry.example/team{n % 20}/app-{n}:1.0",
                "artifact_type": "directory",
                "artifact_digest": None,
                "scanned_at": now - dt.timedelta(seconds=n),
                "published_by": "token:bench",
                "summary": {},
                "document": {},
            }
            for n in range(RESULTS)
        ]
        for chunk in _chunks(scans):
            connection.execute(insert(Scan), chunk)
        verdicts = [
            {
                "scan_id": n + 1,
                "kind": "vulnerabilities",
                "outcome": ("pass", "alert", "block")[n % 3],
                "rule_name": f"rule-{n % 20}",
                "collection": f"team-{n % 20}",
                "severity": 3,
                "evaluated_at": now - dt.timedelta(seconds=n),
                "detail": {
                    "counts": {"considered": 40, "alert": 20, "block": 0, "excepted": 1},
                    "reasons": reasons,
                    "notes": [],
                },
            }
            for n in range(RESULTS)
        ]
        for chunk in _chunks(verdicts):
            connection.execute(insert(PolicyVerdict), chunk)
        deliveries = [
            {
                "rule_id": None,
                "rule_name": "blocks",
                "channel_id": channels[n % len(channels)],
                "status": ("delivered", "failed", "pending")[n % 3],
                "event_count": 3,
                "events": [{"kind": "policy.vulnerabilities.block", "title": f"blocked {n}"}],
                "kind_counts": {"policy.vulnerabilities.block": 3},
                "severity": "high",
                "first_event_at": now,
                "last_event_at": now,
                "created_at": now - dt.timedelta(seconds=n),
                "due_at": now,
                "attempts": 2,
                "last_error": "HTTP 500 from the receiver" if n % 3 == 1 else None,
            }
            for n in range(DELIVERIES)
        ]
        for chunk in _chunks(deliveries):
            connection.execute(insert(AlertDelivery), chunk)
        registries = [
            {
                "id": n + 1,
                "name": f"registry-{n}",
                "url": f"https://registry{n}.example",
                "repositories": [],
                "include": ["team/*"],
                "exclude": [],
                "tag_limit": 5,
                "interval_minutes": 1440,
                "enabled": True,
                "next_scan_at": now,
                "created_at": now,
                "updated_at": now,
                "updated_by": "token:bench",
            }
            for n in range(50)
        ]
        connection.execute(insert(Registry), registries)
        runs = [
            {
                "registry_id": r + 1,
                "trigger": "schedule",
                "status": "completed",
                "requested_by": "schedule",
                "queued_at": now,
                "finished_at": now,
                "images_found": 40,
                "images_scanned": 5,
                "images_skipped": 35,
                "errors": [{"image": "team/app:1", "error": "manifest unknown"}],
            }
            for r in range(50)
            for _ in range(20)
        ]
        connection.execute(insert(RegistryScanRun), runs)
        connection.execute(
            insert(Defender),
            [
                {
                    "name": f"node-{n}.example",
                    "created_by": "token:bench",
                    "created_at": now,
                    "last_seen_at": now,
                    "last_seq": n,
                    "version": "1.0",
                }
                for n in range(500)
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", help="an existing PostgreSQL database to create one from")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
    kind = "postgresql" if args.pg else "sqlite"
    with tempfile.TemporaryDirectory() as tmp, database(kind, args.pg or "", Path(tmp)) as url:
        config = ConsoleConfig(database_url=url, data_dir=Path(tmp), secure_cookies=False)
        store = open_store(config)
        create_first_admin(store, PASSWORD)
        with store.write() as session:
            token = create_token(
                session,
                name="bench",
                role=Role.ADMINISTRATOR,
                actor="bench",
                now=dt.datetime.now(dt.UTC),
            ).token
        with (
            ThreadedServer(build_app(store, config)) as server,
            httpx.Client(base_url=server.url, timeout=120) as client,
        ):
            started = time.monotonic()
            seed_rows(store, seed_api(server.url, token))
            print(f"{kind}: seeded in {time.monotonic() - started:.0f} s")
            log_in(client)
            time_pages(client, kind, PAGES, args.repeat, width=25)
        store.close()


if __name__ == "__main__":
    main()
