"""Reporting to a real Console end to end: a Defender enrolled through the API, its
reporter sending over real HTTP; the Console stopped and started again, answers cut by a
real proxy after the Console committed, the Defender restarted with its spool on disk —
and every record stored exactly once (checked by sequence number and count in the store).
Also the runtime policy: read from the Console, cached, used while the Console is down."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from tests.console import conftest as console_fixtures
from tests.console.conftest import RunningConsole, issue_token

from stockade.console.config import ConsoleConfig
from stockade.console.roles import Role
from stockade.console.service import build_app
from stockade.console.store.engine import Store
from stockade.console.store.models import Defender, DefenderEventSeq, RuntimeEvent
from stockade.runtime.defender import DefenderPolicy
from stockade.runtime.incidents import Action
from stockade.runtime.reporting import ConsoleReporter, PolicySync, ReporterSettings

# The Console's fixtures: a real store on SQLite or PostgreSQL, a live server.
postgres = console_fixtures.postgres
database_url = console_fixtures.database_url
config = console_fixtures.config
store = console_fixtures.store
console = console_fixtures.console

HOST = "node-7"
OUTAGE_SECONDS = 60


# -- helpers -------------------------------------------------------------------------------


def enrol(url: str, admin_token: str, name: str = HOST) -> str:
    """Enrol a Defender through the API, as an administrator would; its token."""
    answer = httpx.post(
        f"{url}/api/v1/defenders",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def reporter(url: str, token: str, spool: Path, **overrides: Any) -> ConsoleReporter:
    settings = ReporterSettings(
        url=url,
        token=token,
        host=HOST,
        spool_dir=spool,
        version="test",
        min_backoff=0.05,
        max_backoff=overrides.pop("max_backoff", 1.0),
        timeout=5.0,
        **overrides,
    )
    return ConsoleReporter(settings)


def stored(store: Store, host: str = HOST) -> tuple[list[int], int, list[int], int]:
    """What the store holds from ``host``: the sequence numbers recorded for its Defender,
    the count of its events, the ``n`` of their payloads, and its ``lastSeq``."""
    with store.read() as session:
        defender = session.scalars(select(Defender).where(Defender.name == host)).one()
        seqs = sorted(
            session.scalars(
                select(DefenderEventSeq.seq).where(DefenderEventSeq.defender_id == defender.id)
            )
        )
        count = session.scalar(
            select(func.count()).select_from(RuntimeEvent).where(RuntimeEvent.host == host)
        )
        payloads = sorted(
            int(p["n"])
            for p in session.scalars(select(RuntimeEvent.payload).where(RuntimeEvent.host == host))
        )
        return seqs, int(count or 0), payloads, defender.last_seq


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class ConsoleServer:
    """The Console's app on a fixed port of 127.0.0.1, in a thread: stopped and started
    again on the same port, as a restarted Console would be."""

    def __init__(self, store: Store, config: ConsoleConfig, port: int) -> None:
        self.port = port
        # TCP said outright, or asyncio leaves Nagle on (each answer ~40 ms late).
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.server = uvicorn.Server(
            uvicorn.Config(build_app(store, config), log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True
        )

    def __enter__(self) -> ConsoleServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "the Console to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.listener.close()


class CuttingProxy:
    """A real HTTP/1.1 proxy on 127.0.0.1 in front of the Console. It forwards each
    request whole and reads the Console's whole answer — so the Console has committed —
    and, for the next ``cut`` event pushes, closes the Defender's connection instead of
    passing the answer on: the batch is stored, the acknowledgement is lost."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.cut = 0
        """Event pushes still to cut."""
        self.answers_cut = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._relay(client)
        except OSError:
            pass  # the Console is down, or a side hung up: the Defender sees it closed
        finally:
            client.close()

    def _relay(self, client: socket.socket) -> None:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            from_client, from_upstream = _Reader(client), _Reader(upstream)
            while True:
                request = from_client.message()
                if request is None:
                    return
                upstream.sendall(request)
                answer = from_upstream.message()
                if answer is None:
                    return
                with self._lock:
                    cut = self.cut > 0 and request.startswith(b"POST /api/v1/events ")
                    if cut:
                        self.cut -= 1
                        self.answers_cut += 1
                    else:
                        self.forwarded += 1
                if cut:
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(answer)


class _Reader:
    """Whole HTTP/1.1 messages (head and a Content-Length body) from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError:
            return False
        self.buffer += data
        return bool(data)

    def message(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                return None
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            if not self._fill():
                return None
            rest = self.buffer.partition(b"\r\n\r\n")[2]
        self.buffer = rest[length:]
        return head + b"\r\n\r\n" + rest[:length]


class Producer:
    """Reports a record every ``interval`` seconds to whichever reporter is current (the
    Defender restarts under it), numbering payloads 1, 2, 3…"""

    def __init__(self, current: ConsoleReporter, interval: float) -> None:
        self.current = current
        self.interval = interval
        self.count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report_one()

    def report_one(self) -> None:
        with self._lock:
            self.count += 1
            self.current.report("incident", {"n": self.count, "title": f"incident {self.count}"})

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Hold reporting while the Defender restarts."""
        with self._lock:
            yield

    def __enter__(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- exactly once ------------------------------------------------------------------------


def test_a_lost_answer_does_not_store_a_batch_twice(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    port = int(console.url.rsplit(":", 1)[1])
    with CuttingProxy(port) as proxy:
        proxy.cut = 2
        sender = reporter(proxy.url, token, tmp_path / "spool")
        for _ in range(10):
            sender.report("incident", {"n": sender.next_seq})
        sender.start()
        try:
            wait_until(lambda: proxy.answers_cut >= 1, 20, "the first answer to be cut")
            for _ in range(15):
                sender.report("incident", {"n": sender.next_seq})
            assert sender.wait_sent(30), sender.last_error
        finally:
            sender.stop()
    assert proxy.answers_cut == 2
    # the Console had stored what it answered for: the resent records were duplicates
    assert sender.duplicates >= 10
    assert sender.sent + sender.duplicates >= 25
    seqs, count, payloads, last = stored(console.store)
    assert seqs == payloads == list(range(1, 26))
    assert count == 25
    assert last == 25
    assert sender.acked == 25
    assert sender.pending() == 0


def test_the_spool_survives_a_defender_restart_while_the_console_is_down(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    down = f"http://127.0.0.1:{free_port()}"
    first = reporter(down, token, tmp_path / "spool")
    first.start()
    for _ in range(12):
        first.report("incident", {"n": first.next_seq})
    wait_until(lambda: first.last_error is not None, 10, "the reporter to notice")
    assert not first.connected
    first.stop(flush_timeout=0.2)
    assert first.pending() == 12
    # the Defender starts again; by now the Console is back
    second = reporter(console.url, token, tmp_path / "spool")
    assert second.pending() == 12
    assert second.next_seq == 13
    for _ in range(5):
        second.report("incident", {"n": second.next_seq})
    second.start()
    try:
        assert second.wait_sent(30), second.last_error
    finally:
        second.stop()
    seqs, count, payloads, last = stored(console.store)
    assert seqs == payloads == list(range(1, 18))
    assert count == 17
    assert last == 17
    # and a third start has nothing left to send
    third = reporter(console.url, token, tmp_path / "spool")
    assert third.pending() == 0
    assert third.next_seq == 18
    third.stop()
    assert (tmp_path / "spool" / "spool.jsonl").read_bytes() == b""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_spool_drops_the_oldest_and_they_stay_dropped(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    down = f"http://127.0.0.1:{free_port()}"
    first = reporter(down, token, tmp_path / "spool", max_bytes=2000)
    for n in range(1, 51):
        first.report("incident", {"n": n, "padding": "x" * 60})
    kept = first.pending()
    assert 0 < kept < 50
    assert first.dropped == 50 - kept
    first.stop(flush_timeout=0)
    second = reporter(console.url, token, tmp_path / "spool", max_bytes=2000)
    assert second.pending() == kept
    assert second.dropped == 50 - kept
    second.start()
    try:
        assert second.wait_sent(30), second.last_error
    finally:
        second.stop()
    seqs, count, payloads, last = stored(console.store)
    assert seqs == payloads == list(range(51 - kept, 51))
    assert count == kept
    assert last == 50


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_wiped_data_dir_continues_after_the_consoles_last_number(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    old = reporter(console.url, token, tmp_path / "old")
    for n in range(1, 6):
        old.report("incident", {"n": n})
    old.start()
    assert old.wait_sent(30), old.last_error
    old.stop()
    # the host is reinstalled: same token, empty data dir, numbering starts at 1 again
    fresh = reporter(console.url, token, tmp_path / "new")
    for n in range(6, 9):
        assert fresh.report("incident", {"n": n}) == n - 5
    fresh.start()
    try:
        assert fresh.wait_sent(30), fresh.last_error
    finally:
        fresh.stop()
    assert fresh.duplicates == 0
    seqs, count, payloads, last = stored(console.store)
    assert seqs == payloads == list(range(1, 9))
    assert count == 8
    assert last == 8
    assert fresh.next_seq == 9


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_minute_without_the_console_loses_nothing_and_duplicates_nothing(
    store: Store, config: ConsoleConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Console stops for a real minute while the Defender keeps reporting; the
    Defender restarts in the middle of it; an answer is lost after the Console is back."""
    caplog.set_level(logging.ERROR, logger="stockade.defender")
    port = free_port()
    admin = issue_token(store, Role.ADMINISTRATOR, "reporting-admin")
    with ConsoleServer(store, config, port) as server:
        token = enrol(f"http://127.0.0.1:{port}", admin)
        with CuttingProxy(port) as proxy:
            first = reporter(proxy.url, token, tmp_path / "spool", max_backoff=2.0)
            first.start()
            with Producer(first, interval=0.05) as producer:
                wait_until(lambda: first.acked >= 40, 20, "records to flow")
                assert first.connected
                server.__exit__()
                stopped = time.monotonic()
                wait_until(lambda: not first.connected, 20, "the reporter to see the outage")
                during = producer.count
                time.sleep(OUTAGE_SECONDS / 2)
                # the Defender restarts halfway through the outage
                with producer.swapped():
                    first.stop(flush_timeout=0)
                    waiting = first.pending()
                    second = reporter(proxy.url, token, tmp_path / "spool", max_backoff=2.0)
                    assert second.pending() == waiting > 0
                    second.start()
                    producer.current = second
                time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
                outage = time.monotonic() - stopped
                assert producer.count - during >= 5 * OUTAGE_SECONDS  # kept reporting
                assert second.acked < producer.count  # nothing got through meanwhile
                proxy.cut = 1
                with ConsoleServer(store, config, port):
                    wait_until(lambda: proxy.answers_cut == 1, 30, "an answer to be cut")
                    wait_until(lambda: second.acked > during, 30, "the backlog to drain")
                    time.sleep(1.0)  # live reporting again, then the Defender stops
                    producer.stop()
                    try:
                        assert second.wait_sent(60), second.last_error
                    finally:
                        second.stop()
    total = producer.count
    seqs, count, payloads, last = stored(store)
    assert outage >= OUTAGE_SECONDS
    assert total >= 5 * OUTAGE_SECONDS
    assert seqs == payloads == list(range(1, total + 1))
    assert count == total
    assert last == total
    assert second.duplicates > 0  # the cut answer's batch was resent and recognised
    assert first.dropped == second.dropped == 0


# -- the runtime policy ------------------------------------------------------------------


def _settings(url: str, token: str, tmp_path: Path) -> ReporterSettings:
    return ReporterSettings(
        url=url, token=token, host=HOST, spool_dir=tmp_path / "spool", timeout=5.0
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_policy_is_read_cached_and_used_while_the_console_is_down(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    admin = console.client(Role.ADMINISTRATOR)
    answer = admin.put(
        "/api/v1/defenders/policy",
        json={
            "default": "alert",
            "actions": {"builtin:reverse-shell": "stop", "builtin:*": "prevent"},
            "exceptions": [{"rule": "builtin:package-manager", "image": "debian/*"}],
        },
    )
    assert answer.status_code == 200, answer.text
    cache = tmp_path / "console-policy.yaml"
    applied: list[DefenderPolicy] = []
    sync = PolicySync(_settings(console.url, token, tmp_path), applied.append, cache=cache)
    policy = sync.load()
    sync.stop()
    assert sync.source == "console"
    assert applied == [policy]
    assert policy.action_for("builtin:reverse-shell") is Action.STOP
    assert policy.action_for("builtin:crypto-miner") is Action.PREVENT
    assert policy.exceptions[0].image == "debian/*"
    assert cache.is_file()

    # the Console is down when the Defender starts: the cached copy protects
    down = f"http://127.0.0.1:{free_port()}"
    applied.clear()
    offline = PolicySync(_settings(down, token, tmp_path), applied.append, cache=cache)
    cached = offline.load()
    offline.stop()
    assert offline.source == "cache"
    assert offline.failures == 1
    assert applied == [cached]
    assert cached.action_for("builtin:reverse-shell") is Action.STOP
    assert [(x.rule, x.image) for x in cached.exceptions] == [
        ("builtin:package-manager", "debian/*")
    ]

    # a damaged cache is not used: the default (alert) applies
    cache.write_text("default: [not, an, action]\n")
    applied.clear()
    damaged = PolicySync(_settings(down, token, tmp_path), applied.append, cache=cache)
    assert damaged.load().action_for("builtin:crypto-miner") is Action.ALERT
    damaged.stop()
    assert damaged.source == "default"
    assert len(applied) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_changed_policy_is_applied_at_the_next_read(
    console: RunningConsole, tmp_path: Path
) -> None:
    token = enrol(console.url, console.tokens[Role.ADMINISTRATOR])
    applied: list[DefenderPolicy] = []
    cache = tmp_path / "console-policy.yaml"
    sync = PolicySync(
        _settings(console.url, token, tmp_path), applied.append, cache=cache, interval=0.2
    )
    assert sync.load().default is Action.ALERT
    sync.start()
    try:
        time.sleep(0.6)
        assert len(applied) == 1  # an unchanged policy is not applied again
        admin = console.client(Role.ADMINISTRATOR)
        put = admin.put("/api/v1/defenders/policy", json={"default": "prevent"})
        assert put.status_code == 200, put.text
        wait_until(lambda: len(applied) == 2, 10, "the new policy")
    finally:
        sync.stop()
    assert applied[-1].default is Action.PREVENT
    assert sync.fetched >= 3
    assert DefenderPolicy.from_yaml(cache.read_text()).default is Action.PREVENT
