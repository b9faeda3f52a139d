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
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from stockade.console.config import ConsoleConfig
from stockade.console.service import build_app, create_first_admin, open_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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


def _bench_console() -> object:
    spec = importlib.util.spec_from_file_location(
        "bench_console", ROOT / "benchmarks/bench_console.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def database(pg_admin: str | None, workdir: Path) -> Iterator[str]:
    if pg_admin is None:
        yield f"sqlite:///{workdir / 'console.sqlite'}"
        return
    name = f"stk_webbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def log_in(client: httpx.Client) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "login_token": token[1]}
    )
    assert answer.status_code == 303, answer.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", help="an existing PostgreSQL database to create one from")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bench = _bench_console()
    print(f"cpus: {os.cpu_count()}; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp, database(args.pg, Path(tmp)) as url:
        config = ConsoleConfig(database_url=url, data_dir=Path(tmp), secure_cookies=False)
        store = open_store(config)
        create_first_admin(store, PASSWORD)
        started = time.monotonic()
        bench.seed(store)  # type: ignore[attr-defined]
        try:
            from stockade.console.store import summaries
        except ImportError:  # a Console without summary tables
            pass
        else:
            with store.engine.begin() as connection:
                summaries.rebuild(connection)
        kind = "postgresql" if args.pg else "sqlite"
        print(
            f"{kind}: seeded 10,000 images, 500,000 findings in {time.monotonic() - started:.0f} s"
        )
        with (
            ThreadedServer(build_app(store, config)) as server,
            httpx.Client(base_url=server.url, timeout=120) as client,
        ):
            log_in(client)
            for label, path in PAGES.items():
                first = client.get(path)
                assert first.status_code == 200, (path, first.status_code)
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    client.get(path).raise_for_status()
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                print(
                    f"{kind:10} {label:30} p50 {statistics.median(times):7.1f} ms"
                    f"   p95 {p95:7.1f} ms"
                )
        store.close()


if __name__ == "__main__":
    main()
