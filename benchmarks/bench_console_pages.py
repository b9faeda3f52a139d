"""How fast the web UI's pages answer over 10,000 images and 500,000 findings.

Seeds a fresh store the way ``benchmarks/bench_console.py`` does (its ``seed``: bulk
inserts, then the summary tables rebuilt), serves it with uvicorn on 127.0.0.1 in a
thread, logs in through the form, and times REPEAT requests of each page, one at a time:
p50 and p95 in milliseconds, HTTP and HTML rendering included.

    .venv/bin/python benchmarks/bench_console_pages.py                 # SQLite
    .venv/bin/python benchmarks/bench_console_pages.py --pg postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from stockade.console.config import ConsoleConfig
from stockade.console.service import build_app, create_first_admin, open_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_console import database, seed  # noqa: E402  # this directory's script
from tests.console.conftest import ThreadedServer  # noqa: E402

PASSWORD = "benchmark administrator password"  # noqa: S105  # a throw-away store

PAGES = {
    "dashboard": "/",
    "images (by risk)": "/images",
    "images page 200 (by name)": "/images?sort=name&page=200",
    "images search": "/images?q=team7/app17",
    "images with critical": "/images?severity=critical",
    "image findings": "/images/sha256:" + f"{4242:064x}",
    "image findings, high+": "/images/sha256:" + f"{4242:064x}" + "?severity=high",
    "vulnerabilities (by impact)": "/vulnerabilities",
    "vulnerabilities, critical": "/vulnerabilities?severity=critical&sort=severity",
    "vulnerability impact": "/vulnerabilities/CVE-2024-10042",
    "vulnerability impact page 5": "/vulnerabilities/CVE-2024-10042?page=5",
    "compliance": "/compliance",
    "hosts": "/hosts",
    "incidents": "/incidents",
}


def log_in(client: httpx.Client) -> None:
    """Sign in as the benchmark's administrator through the form, as a browser does."""
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit("the log-in page has no form token")
    answer = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "login_token": token[1]}
    )
    if answer.status_code != 303:
        raise SystemExit(f"log-in failed: {answer.status_code}")


def time_pages(
    client: httpx.Client, kind: str, pages: dict[str, str], repeat: int, *, width: int
) -> None:
    """Each page once to warm it (it must answer 200), then ``repeat`` times: p50, p95."""
    for label, path in pages.items():
        first = client.get(path)
        assert first.status_code == 200, (path, first.status_code)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            client.get(path).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(
            f"{kind:10} {label:{width}} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"
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
        started = time.monotonic()
        seed(store)  # the summaries rebuilt from the rows, as migration 0002 does
        print(
            f"{kind}: seeded 10,000 images, 500,000 findings in {time.monotonic() - started:.0f} s"
        )
        with (
            ThreadedServer(build_app(store, config)) as server,
            httpx.Client(base_url=server.url, timeout=120) as client,
        ):
            log_in(client)
            time_pages(client, kind, PAGES, args.repeat, width=30)
        store.close()


if __name__ == "__main__":
    main()
