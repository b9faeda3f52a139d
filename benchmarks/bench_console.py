"""Console ingest rate and list-page latency, on SQLite and on PostgreSQL.

Starts `stockade console serve --unsafe-plain-http` as its own process over a fresh store
(TLS left out: this measures the Console, not the cipher), then:

1. ingest: CLIENTS threads publish synthetic `stockade scan -f json` documents (~300
   packages and ~100 findings each, made before the clock starts) with a ci token, for
   DURATION seconds; the figure is documents stored per second.
2. list pages: seeds 10,000 images with 50 findings each (500,000 findings) straight
   through the store (bulk inserts, for speed), then times REPEAT requests of each list
   page an operator opens, as an auditor, one at a time; p50 and p95 in milliseconds,
   HTTP and JSON included.

    .venv/bin/python benchmarks/bench_console.py                       # both stores
    .venv/bin/python benchmarks/bench_console.py --store sqlite --clients 1,4
    .venv/bin/python benchmarks/bench_console.py --pg postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import insert, update

from stockade.console.config import ConsoleConfig
from stockade.console.identity.accounts import create_token
from stockade.console.roles import Role
from stockade.console.service import create_first_admin, open_store
from stockade.console.store.engine import Store
from stockade.console.store.models import FindingRow, Image, Scan
from stockade.console.testing import synthetic_scan_document

STOCKADE = Path(sys.executable).with_name("stockade")
IMAGES = 10_000
FINDINGS_PER_IMAGE = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, pg_admin: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'console.sqlite'}"
        return
    name = f"stk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def console(url: str, workdir: Path) -> Iterator[str]:
    port = _free_port()
    db = url.replace("postgresql+psycopg://", "postgresql://")
    args = [
        str(STOCKADE),
        "console",
        "serve",
        "--unsafe-plain-http",
        "--data-dir",
        str(workdir),
        "--listen",
        f"127.0.0.1:{port}",
    ]
    if not url.startswith("sqlite"):
        args += ["--db", db]
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((workdir / "serve.log").read_text())
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def token(store: Store, role: Role) -> str:
    with store.write() as session:
        return create_token(
            session,
            name=f"bench-{role}",
            role=role,
            actor="bench",
            now=dt.datetime.now(dt.UTC),
        ).token


def ingest(base: str, ci: str, clients: int, duration: float) -> float:
    documents = [json.dumps(synthetic_scan_document(seed)).encode() for seed in range(200)]
    stored = [0] * clients
    stop = time.monotonic() + duration

    def work(n: int) -> None:
        headers = {"Authorization": f"Bearer {ci}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            i = n
            while time.monotonic() < stop:
                answer = client.post("/api/v1/scans", content=documents[i % len(documents)])
                if answer.status_code != 201:
                    raise SystemExit(f"publish failed: {answer.status_code} {answer.text}")
                stored[n] += 1
                i += clients

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(stored) / (time.monotonic() - started)


def seed(store: Store) -> None:
    """10,000 images, each with one scan of 50 findings (500,000), in bulk."""
    now = dt.datetime.now(dt.UTC)
    severities = (5, 4, 4, 3, 3, 3, 2, 2, 0)
    batch = 500
    for start in range(0, IMAGES, batch):
        with store.write() as session:
            images = [
                {
                    "digest": f"sha256:{i:064x}",
                    "name": f"registry.example/team{i % 50}/app{i}:1",
                    "os": "debian 12",
                    "first_seen": now,
                    "last_scanned": now,
                }
                for i in range(start, start + batch)
            ]
            session.execute(insert(Image), images)
            ids: dict[str, int] = dict(
                session.execute(  # type: ignore[arg-type]
                    Image.__table__.select()
                    .with_only_columns(Image.digest, Image.id)
                    .where(Image.digest.in_([i["digest"] for i in images]))
                ).all()
            )
            scans = [
                {
                    "kind": "vulnerabilities",
                    "artifact_key": f"image:{img['digest']}",
                    "artifact_name": img["name"],
                    "artifact_type": "docker-archive",
                    "artifact_digest": img["digest"],
                    "image_id": ids[img["digest"]],
                    "os": "debian 12",
                    "scanned_at": now,
                    "published_by": "bench",
                    "summary": {},
                    "document": {},
                }
                for img in images
            ]
            scan_ids = session.execute(insert(Scan).returning(Scan.id, Scan.image_id), scans).all()
            findings = []
            for scan_id, image_id in scan_ids:
                counts = [0] * 6
                for k in range(FINDINGS_PER_IMAGE):
                    n = (image_id * 7919 + k * 104729) % 20_000
                    sev = severities[n % len(severities)]
                    counts[sev] += 1
                    findings.append(
                        {
                            "scan_id": scan_id,
                            "vuln_id": f"CVE-2024-{10000 + n}",
                            "cve": f"CVE-2024-{10000 + n}",
                            "aliases": [],
                            "severity": sev,
                            "cvss_score": 7.5,
                            "package_name": f"lib{n % 3000}",
                            "package_type": "deb",
                            "purl": None,
                            "installed_version": "1.0",
                            "fixed_versions": ["1.1"],
                            "fix_state": "fixed" if n % 2 else "not-fixed",
                            "title": "bench",
                            "url": None,
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    )
                session.execute(
                    update(Image)
                    .where(Image.id == image_id)
                    .values(
                        latest_scan_id=scan_id,
                        critical=counts[5],
                        high=counts[4],
                        medium=counts[3],
                        low=counts[2],
                        unknown=counts[0],
                        risk=counts[5] * 10**12 + counts[4] * 10**8 + counts[3] * 10**4 + counts[2],
                    )
                )
            session.execute(insert(FindingRow), findings)
    with store.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")  # fresh statistics, as autovacuum would give
        connection.commit()


PAGES = {
    "images (by risk)": "/api/v1/images?limit=50",
    "images page 100 (by name)": "/api/v1/images?limit=50&offset=5000&sort=name",
    "images search": "/api/v1/images?q=team7/app17",
    "images with critical": "/api/v1/images?severity=critical&limit=50",
    "image detail": "/api/v1/images/sha256:" + f"{4242:064x}",
    "image findings": "/api/v1/images/sha256:" + f"{4242:064x}" + "/findings?limit=50",
    "vulnerabilities (by impact)": "/api/v1/vulnerabilities?limit=50",
    "vulnerability impact": "/api/v1/vulnerabilities/CVE-2024-10042?limit=50",
    "top risks": "/api/v1/risks",
    "search": "/api/v1/search?q=app123",
}


def latencies(base: str, auditor: str, repeat: int) -> dict[str, tuple[float, float]]:
    results = {}
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {auditor}"}, timeout=60
    ) as client:
        for label, path in PAGES.items():
            client.get(path).raise_for_status()  # warm
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            results[label] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="an existing database to create the benchmark's database from",
    )
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    print(f"cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
    for kind in kinds:
        for clients in [int(c) for c in args.clients.split(",")]:
            with tempfile.TemporaryDirectory() as tmp, database(kind, args.pg, Path(tmp)) as url:
                config = ConsoleConfig(database_url=url, data_dir=Path(tmp))
                store = open_store(config)
                create_first_admin(store, "benchmark administrator password")
                ci = token(store, Role.CI)
                with console(url, Path(tmp)) as base:
                    rate = ingest(base, ci, clients, args.duration)
                store.close()
            print(
                f"{kind:10} ingest, {clients} client(s): {rate:7.1f} scans/s "
                f"(300 packages, 100 findings each)"
            )
        with tempfile.TemporaryDirectory() as tmp, database(kind, args.pg, Path(tmp)) as url:
            config = ConsoleConfig(database_url=url, data_dir=Path(tmp))
            store = open_store(config)
            create_first_admin(store, "benchmark administrator password")
            auditor = token(store, Role.AUDITOR)
            started = time.monotonic()
            seed(store)
            print(
                f"{kind:10} seeded {IMAGES} images, {IMAGES * FINDINGS_PER_IMAGE} findings "
                f"in {time.monotonic() - started:.0f} s"
            )
            store.close()
            with console(url, Path(tmp)) as base:
                for label, (p50, p95) in latencies(base, auditor, args.repeat).items():
                    print(f"{kind:10} {label:30} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
