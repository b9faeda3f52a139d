"""Console fixtures: a store on a real SQLite file or a real PostgreSQL database (made for
the test and dropped after), and a real Console on 127.0.0.1 over HTTP in a thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from stockade.console.config import ConsoleConfig
from stockade.console.context import ConsoleContext
from stockade.console.identity.accounts import create_token
from stockade.console.roles import Role
from stockade.console.service import build_app, create_first_admin, open_store
from stockade.console.store.engine import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_PASSWORD = "correct horse battery staple"  # noqa: S105  # test fixture


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres() -> str:
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres)")
    return PG_ADMIN


def make_pg_database(admin_url: str) -> tuple[str, str]:
    name = f"stk_console_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.sqlite'}"
        return
    admin = request.getfixturevalue("postgres")
    name, url = make_pg_database(admin)
    try:
        yield url
    finally:
        drop_pg_database(admin, name)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> ConsoleConfig:
    return ConsoleConfig(
        database_url=database_url, data_dir=tmp_path / "data", secure_cookies=False
    )


@pytest.fixture
def store(config: ConsoleConfig) -> Iterator[Store]:
    store = open_store(config)
    create_first_admin(store, ADMIN_PASSWORD)
    yield store
    store.close()


def issue_token(store: Store, role: Role, name: str | None = None) -> str:
    from stockade.console.clock import utc_now

    with store.write() as session:
        return create_token(
            session, name=name or f"test-{role.value}", role=role, actor="test", now=utc_now()
        ).token


class ThreadedServer:
    """uvicorn serving an app on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app: object) -> None:
        # TCP said outright, or asyncio leaves Nagle on (each answer ~40 ms late).
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@dataclass
class RunningConsole:
    url: str
    store: Store
    config: ConsoleConfig
    tokens: dict[Role, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)
    context: ConsoleContext | None = None
    """The serving app's context (listeners can be added to it)."""

    def client(self, role: Role | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client


@pytest.fixture
def console(store: Store, config: ConsoleConfig) -> Iterator[RunningConsole]:
    app = build_app(store, config)
    with ThreadedServer(app) as server:
        running = RunningConsole(server.url, store, config, context=app.state.console)
        running.tokens = {role: issue_token(store, role) for role in Role}
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()
