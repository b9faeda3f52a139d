"""``stockade console serve`` as a real process over HTTPS with its generated certificate,
with several worker processes, and two Console app instances sharing one PostgreSQL
database."""

from __future__ import annotations

import os
import pickle
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import allow_connection_pickling
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.support.sockets import accepted_nodelay

from stockade.console.config import ConsoleConfig
from stockade.console.roles import Role
from stockade.console.server import listening_socket
from stockade.console.service import build_app, open_store
from stockade.console.testing import synthetic_scan_document

from .conftest import (
    ADMIN_PASSWORD,
    ThreadedServer,
    drop_pg_database,
    issue_token,
    make_pg_database,
)

pytestmark = pytest.mark.slow

STOCKADE = Path(sys.executable).with_name("stockade")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _trust(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STOCKADE_ADMIN_PASSWORD"}
    env.update(extra)
    return env


def test_serve_refuses_to_start_without_an_administrator(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(STOCKADE),
            "console",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--listen",
            f"127.0.0.1:{_free_port()}",
        ],
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no administrator" in done.stderr
    assert "STOCKADE_ADMIN_PASSWORD" in done.stderr


def test_serve_answers_over_https_with_its_generated_certificate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    server = subprocess.Popen(
        [
            str(STOCKADE),
            "console",
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-password-file",
            str(password_file),
        ],
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ca = data / "tls" / "console.crt"
        base = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if (
                    ca.exists()
                    and httpx.get(f"{base}/healthz", verify=_trust(ca)).status_code == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Console did not start:\n{server.stdout.read() if server.stdout else ''}"
                )
            time.sleep(0.2)
        assert (data / "tls" / "console.key").stat().st_mode & 0o077 == 0
        token = subprocess.run(
            [
                str(STOCKADE),
                "console",
                "token",
                "create",
                "--data-dir",
                str(data),
                "--role",
                "auditor",
                "--name",
                "probe",
            ],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        with httpx.Client(base_url=base, verify=_trust(ca)) as client:
            assert client.get("/api/v1/images").status_code == 401
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json() == {
                "kind": "token",
                "name": "probe",
                "role": "auditor",
                "permissions": ["read", "read-audit", "read-policy"],
            }
            login = client.post(
                "/api/v1/session", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert "secure" in login.headers["set-cookie"].lower()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert token not in output  # tokens never reach the log
    assert ADMIN_PASSWORD not in output


def test_two_consoles_share_one_postgresql(postgres: str, tmp_path: Path) -> None:
    name, url = make_pg_database(postgres)
    stores = []
    try:
        config = ConsoleConfig(database_url=url, data_dir=tmp_path, secure_cookies=False)
        stores = [open_store(config), open_store(config)]
        with (
            ThreadedServer(build_app(stores[0], config)) as a,
            ThreadedServer(build_app(stores[1], config)) as b,
        ):
            token = issue_token(stores[1], Role.OPERATOR)  # made through B's store
            headers = {"Authorization": f"Bearer {token}"}
            with (
                httpx.Client(base_url=a.url, headers=headers) as on_a,
                httpx.Client(base_url=b.url, headers=headers) as on_b,
            ):
                assert (
                    on_a.post("/api/v1/scans", json=synthetic_scan_document(1)).status_code == 201
                )
                assert on_b.get("/api/v1/images").json()["total"] == 1
                assert (
                    on_b.post("/api/v1/scans", json=synthetic_scan_document(2)).status_code == 201
                )
                assert on_a.get("/api/v1/images").json()["total"] == 2
                # the same image from both at once: one image, its latest scan agreed on
                assert (
                    on_a.post("/api/v1/scans", json=synthetic_scan_document(1)).status_code == 201
                )
                assert (
                    on_b.post("/api/v1/scans", json=synthetic_scan_document(1)).status_code == 201
                )
                images = on_a.get("/api/v1/images").json()
                assert images["total"] == 2
                digest = synthetic_scan_document(1)["artifact"]["digest"]
                history = on_b.get("/api/v1/scans", params={"image": digest}).json()["items"]
                image = on_a.get(f"/api/v1/images/{digest}").json()
                assert image["latestScanId"] == max(s["id"] for s in history)
    finally:
        for store in stores:
            store.close()
        drop_pg_database(postgres, name)


def test_serve_with_workers_shares_the_port_the_store_and_the_metrics(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    server = subprocess.Popen(
        [
            str(STOCKADE),
            "console",
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
            "--unsafe-plain-http",
            "--workers",
            "2",
        ],
        env=_env(STOCKADE_ADMIN_PASSWORD=ADMIN_PASSWORD),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    counts = data / "run" / f"metrics-{port}"
    try:
        deadline = time.monotonic() + 60
        while len(list(counts.glob("*.json"))) < 2:  # each worker writes once a second
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the workers did not start:\n{server.communicate()[0]}")
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").status_code == 200
        config = ConsoleConfig(database_url=f"sqlite:///{data / 'console.sqlite'}", data_dir=data)
        store = open_store(config, upgrade=False)
        try:
            ci, auditor = issue_token(store, Role.CI), issue_token(store, Role.AUDITOR)
        finally:
            store.close()
        published = 12

        def publish(seed: int) -> int:
            # A connection each: the kernel spreads them over the workers.
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ci}"}) as c:
                return c.post("/api/v1/scans", json=synthetic_scan_document(seed)).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(publish, range(published))) == [201] * published
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {auditor}"}) as c:
            assert c.get("/api/v1/images").json()["total"] == published
            deadline = time.monotonic() + 10
            while True:  # whichever worker answers adds up both workers' counts
                metrics = c.get("/metrics").text
                if f"stockade_console_published_total {published}\n" in metrics:
                    break
                assert time.monotonic() < deadline, metrics
                time.sleep(0.3)
            line = next(x for x in metrics.splitlines() if x.startswith(_POSTS_201))
            assert int(line.rsplit(" ", 1)[1]) == published
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert not counts.exists()  # the server's counts go with it


_POSTS_201 = 'stockade_console_http_responses_total{method="POST",status="201"}'


def test_the_workers_socket_gives_connections_tcp_nodelay() -> None:
    # As a worker gets it (multiprocessing rebuilds it from family, type and protocol):
    # asyncio sets TCP_NODELAY on accepted connections only when the protocol says TCP.
    # Without it each answer waited for the client's delayed ACK (~40 ms a request).
    config = uvicorn.Config(app=None, host="127.0.0.1", port=0)
    listener = listening_socket(config)
    allow_connection_pickling()
    rebuilt = pickle.loads(ForkingPickler.dumps(listener))  # noqa: S301  # as spawn passes it
    listener.close()
    assert accepted_nodelay(rebuilt) != 0
