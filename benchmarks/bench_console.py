"""Console ingest rate and list-page latency, on SQLite and on PostgreSQL.

Starts `stockade console serve --unsafe-plain-http` as its own process over a fresh store
(TLS left out: this measures the Console, not the cipher), then:

1. ingest: CLIENTS threads publish synthetic `stockade scan -f json` documents (~300
   packages and ~100 findings each, made before the clock starts) with a ci token, for
   DURATION seconds; the figures are documents stored per second, and the CPU time the
   Console process used per document (steadier than the rate on a shared machine).
2. list pages: seeds 10,000 images with 50 findings (500,000 findings) and 300 packages
   each, a 40-result compliance check per image and 1,000 hosts straight through the
   store (bulk inserts, for speed; the summaries rebuilt after), then times REPEAT
   requests of each list page, with its filters, sorts and CSV download, as an auditor,
   one at a time; p50 and p95 in milliseconds, HTTP and JSON included.

    .venv/bin/python benchmarks/bench_console.py                       # both stores
    .venv/bin/python benchmarks/bench_console.py --store sqlite --clients 1,4
    .venv/bin/python benchmarks/bench_console.py --part ingest --workers 1,2 --clients 4
    .venv/bin/python benchmarks/bench_console.py --part lists --repeat 20
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
from typing import Any

import httpx
import psycopg
from sqlalchemy import insert, update

from stockade.console.config import ConsoleConfig
from stockade.console.identity.accounts import create_token
from stockade.console.roles import Role
from stockade.console.service import create_first_admin, open_store
from stockade.console.store import summaries
from stockade.console.store.engine import Store
from stockade.console.store.ingest import bulk_insert
from stockade.console.store.models import Host, Image, Scan
from stockade.console.testing import synthetic_scan_document

STOCKADE = Path(sys.executable).with_name("stockade")
IMAGES = 10_000
FINDINGS_PER_IMAGE = 50
PACKAGES_PER_IMAGE = 300
CHECKS = 40
HOSTS = 1_000
FINDING_COLUMNS = (
    "scan_id",
    "vuln_id",
    "cve",
    "aliases",
    "severity",
    "cvss_score",
    "package_name",
    "package_type",
    "purl",
    "installed_version",
    "fixed_versions",
    "fix_state",
    "title",
    "url",
    "suppressed",
    "suppression_reason",
)
PACKAGE_COLUMNS = ("scan_id", "name", "version", "type", "purl", "licenses")
RESULT_COLUMNS = (
    "scan_id",
    "check_id",
    "title",
    "severity",
    "status",
    "resource",
    "file",
    "line",
    "message",
    "suppressed",
)


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
def console(url: str, workdir: Path, workers: int = 1) -> Iterator[tuple[str, list[int]]]:
    """The Console's base URL and its process ids (the server's, then its workers')."""
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
        "--workers",
        str(workers),
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
        yield base, [server.pid, *_children(server.pid)]
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


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used (Linux ``/proc``)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def ingest(base: str, ci: str, clients: int, duration: float) -> tuple[float, int]:
    """Scans stored per second, and how many."""
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
    return sum(stored) / (time.monotonic() - started), sum(stored)


def seed(store: Store) -> None:
    """10,000 images, each with one scan of 50 findings (500,000) and 300 packages (from
    60,000 names and versions), and a compliance check of 40 results; 1,000 hosts. In
    bulk, then the summaries are rebuilt from the rows (as migration 0002 does)."""
    now = dt.datetime.now(dt.UTC)
    severities = (5, 4, 4, 3, 3, 3, 2, 2, 0)
    batch = 500
    with store.write() as session:
        session.execute(
            insert(Host),
            [
                {
                    "name": f"node-{h:04d}.example",
                    "os": "debian 12",
                    "first_seen": now,
                    "last_scanned": now,
                    "high": h % 7,
                    "medium": h % 11,
                    "risk": (h % 7) * 10**8 + (h % 11) * 10**4,
                }
                for h in range(HOSTS)
            ],
        )
    for start in range(0, IMAGES, batch):
        with store.write() as session:
            connection = session.connection()
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
                    "kind": kind,
                    "artifact_key": f"image:{img['digest']}",
                    "artifact_name": img["name"],
                    "artifact_type": "docker-archive" if kind == "vulnerabilities" else "check",
                    "artifact_digest": img["digest"],
                    "image_id": ids[img["digest"]],
                    "os": "debian 12",
                    "scanned_at": now,
                    "published_by": "bench",
                    "summary": {},
                    "document": {},
                }
                for img in images
                for kind in ("vulnerabilities", "compliance")
            ]
            scan_ids = session.execute(
                insert(Scan).returning(Scan.id, Scan.image_id, Scan.kind), scans
            ).all()
            findings: list[tuple[Any, ...]] = []
            packages: list[tuple[Any, ...]] = []
            results: list[tuple[Any, ...]] = []
            for scan_id, image_id, kind in scan_ids:
                if kind == "compliance":
                    for c in range(CHECKS):
                        failed = (image_id * 31 + c * 17) % 10 < 3
                        results.append(
                            (
                                scan_id,
                                f"STK-K8S-{c:03d}",
                                f"Check {c}",
                                severities[c % len(severities)],
                                "failed" if failed else "passed",
                                f"Deployment/default/app{image_id}",
                                f"deploy/app{image_id}.yaml",
                                10 + c,
                                f"check {c} result",
                                False,
                            )
                        )
                    continue
                counts = [0] * 6
                for k in range(FINDINGS_PER_IMAGE):
                    n = (image_id * 7919 + k * 104729) % 20_000
                    sev = severities[n % len(severities)]
                    counts[sev] += 1
                    findings.append(
                        (
                            scan_id,
                            f"CVE-2024-{10000 + n}",
                            f"CVE-2024-{10000 + n}",
                            "[]",
                            sev,
                            7.5,
                            f"lib{n % 3000}",
                            "deb",
                            None,
                            "1.0",
                            '["1.1"]',
                            "fixed" if n % 2 else "not-fixed",
                            "bench",
                            None,
                            False,
                            None,
                        )
                    )
                for k in range(PACKAGES_PER_IMAGE):
                    name = (image_id * 104729 + k * 7919) % 20_000
                    version = f"1.{(image_id + name) % 3}"
                    packages.append(
                        (
                            scan_id,
                            f"pkg{name}",
                            version,
                            "deb",
                            f"pkg:deb/pkg{name}@{version}",
                            "[]",
                        )
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
                        fixable=sum(1 for f in findings[-FINDINGS_PER_IMAGE:] if f[11] == "fixed"),
                        risk=counts[5] * 10**12 + counts[4] * 10**8 + counts[3] * 10**4 + counts[2],
                    )
                )
            bulk_insert(connection, "findings", FINDING_COLUMNS, findings)
            bulk_insert(connection, "packages", PACKAGE_COLUMNS, packages)
            bulk_insert(connection, "compliance_results", RESULT_COLUMNS, results)
    with store.write() as session:
        summaries.rebuild(session.connection())
    with store.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")  # fresh statistics, as autovacuum would give
        connection.commit()


IMAGE = "sha256:" + f"{4242:064x}"
PAGES = {
    "images (by risk)": "/api/v1/images?limit=50",
    "images page 100 (by name)": "/api/v1/images?limit=50&offset=5000&sort=name",
    "images by last scanned": "/api/v1/images?limit=50&sort=lastScanned",
    "images by critical": "/api/v1/images?limit=50&sort=critical",
    "images search": "/api/v1/images?q=team7/app17",
    "images with critical": "/api/v1/images?severity=critical&limit=50",
    "images fixable, high+": "/api/v1/images?severity=high&fixable=true&limit=50",
    "images CSV": "/api/v1/images?limit=50&format=csv",
    "image detail": f"/api/v1/images/{IMAGE}",
    "image findings": f"/api/v1/images/{IMAGE}/findings?limit=50",
    "image findings high+ fixable": f"/api/v1/images/{IMAGE}/findings?severity=high&fixable=true",
    "image findings CSV": f"/api/v1/images/{IMAGE}/findings?format=csv",
    "hosts": "/api/v1/hosts?limit=50",
    "hosts search": "/api/v1/hosts?q=node-04",
    "scans": "/api/v1/scans?limit=50",
    "scans of an image": f"/api/v1/scans?image={IMAGE}",
    "scans, compliance page 100": "/api/v1/scans?kind=compliance&limit=50&offset=5000",
    "vulnerabilities (by impact)": "/api/v1/vulnerabilities?limit=50",
    "vulnerabilities by severity": "/api/v1/vulnerabilities?limit=50&sort=severity",
    "vulnerabilities, critical": "/api/v1/vulnerabilities?limit=50&severity=critical",
    "vulnerabilities, medium+ page 50": (
        "/api/v1/vulnerabilities?limit=50&severity=medium&offset=2500"
    ),
    "vulnerabilities search": "/api/v1/vulnerabilities?q=cve-2024-123",
    "vulnerabilities CSV": "/api/v1/vulnerabilities?limit=50&format=csv",
    "vulnerability impact": "/api/v1/vulnerabilities/CVE-2024-10042?limit=50",
    "top risks": "/api/v1/risks",
    "compliance by check": "/api/v1/compliance?limit=50",
    "compliance search": "/api/v1/compliance?q=check 1",
    "compliance check results": "/api/v1/compliance/STK-K8S-007?limit=50",
    "compliance check, failed": "/api/v1/compliance/STK-K8S-007?limit=50&status=failed",
    "compliance CSV": "/api/v1/compliance/STK-K8S-007?limit=50&format=csv",
    "search": "/api/v1/search?q=app123",
    "search a package": "/api/v1/search?q=pkg1234",
    "search, one letter": "/api/v1/search?q=e",
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
    parser.add_argument(
        "--workers", default="1", help="Console worker processes (comma-separated: each)"
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--part", choices=["ingest", "lists", "both"], default="both", help="what to measure"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    print(f"cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
    for kind in kinds:
        runs = [(int(w), int(c)) for w in args.workers.split(",") for c in args.clients.split(",")]
        for workers, clients in runs if args.part != "lists" else []:
            with tempfile.TemporaryDirectory() as tmp, database(kind, args.pg, Path(tmp)) as url:
                config = ConsoleConfig(database_url=url, data_dir=Path(tmp))
                store = open_store(config)
                create_first_admin(store, "benchmark administrator password")
                ci = token(store, Role.CI)
                with console(url, Path(tmp), workers) as (base, pids):
                    cpu = cpu_seconds(pids)
                    rate, count = ingest(base, ci, clients, args.duration)
                    cpu = (cpu_seconds(pids) - cpu) / count
                store.close()
            print(
                f"{kind:10} ingest, {workers} worker(s), {clients} client(s): {rate:7.1f} "
                f"scans/s (300 packages, 100 findings each); Console processes' CPU "
                f"{cpu * 1000:.1f} ms/scan"
            )
        if args.part == "ingest":
            continue
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
            with console(url, Path(tmp)) as (base, _):
                for label, (p50, p95) in latencies(base, auditor, args.repeat).items():
                    print(f"{kind:10} {label:30} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
