"""Running the real proxy for tests (in a thread, or as the ``stockade waf`` process) and a
raw-socket client that sends bytes exactly as written."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockade.waf.decision import Action, Decider, Decision
from stockade.waf.proxy.audit import AuditLog
from stockade.waf.proxy.config import ProxyConfig, Upstream
from stockade.waf.proxy.server import ProxyServer
from stockade.waf.request import HttpRequest, HttpResponse


class AllowAll:
    """A Decider that lets everything through: for tests of byte moving alone."""

    def decide_request(self, request: HttpRequest, *, now: float) -> Decision:
        return Decision(Action.ALLOW)

    def decide_response(
        self, request: HttpRequest, response: HttpResponse, *, now: float
    ) -> Decision:
        return Decision(Action.ALLOW)


@dataclass
class RunningProxy:
    port: int
    server: ProxyServer
    loop: asyncio.AbstractEventLoop
    audit_path: Path | None

    def events(self) -> list[dict[str, Any]]:
        if self.audit_path is None or not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line]


def config_for(backend_port: int, **changes: Any) -> ProxyConfig:
    base = ProxyConfig(
        upstream=Upstream("http", "127.0.0.1", backend_port), listen_port=0, audit_log=None
    )
    return base.replace(**changes)


@contextlib.contextmanager
def running_proxy(
    config: ProxyConfig, decider: Decider, *, audit_path: Path | None = None
) -> Iterator[RunningProxy]:
    """The proxy server on its own event loop in a thread, listening on a free port."""
    loop = asyncio.new_event_loop()
    audit = AuditLog(audit_path)
    server = ProxyServer(config, decider, audit=audit)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="waf-test-proxy", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        raise failure[0]
    try:
        yield RunningProxy(server.port, server, loop, audit_path)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        audit.close()


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, *, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _KeptOpen:
    """A socket's one buffered reader, which HTTPResponse may not close: pipelined
    answers read ahead into its buffer belong to the next response."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb")

    def makefile(self, mode: str) -> _KeptOpen:
        return self

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


_READERS: weakref.WeakKeyDictionary[socket.socket, _KeptOpen] = weakref.WeakKeyDictionary()


def read_reply(sock: socket.socket, *, method: str = "GET") -> Reply:
    """The next response on ``sock`` (which stays usable for the one after)."""
    reader = _READERS.get(sock)
    if reader is None:
        reader = _READERS[sock] = _KeptOpen(sock)
    response = http.client.HTTPResponse(reader, method=method)  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    return Reply(response.status, list(response.getheaders()), body)


def request(port: int, raw: bytes, *, method: str = "GET", timeout: float = 10.0) -> Reply:
    """Send ``raw`` on a new connection and read one response."""
    with connect(port, timeout=timeout) as sock:
        sock.sendall(raw)
        return read_reply(sock, method=method)


def read_until_closed(sock: socket.socket, *, limit: int = 1 << 20) -> bytes:
    data = bytearray()
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def get(path: str, *headers: str, host: str = "localhost") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None = None, *, timeout: float = 60.0
) -> None:
    """Until 127.0.0.1:``port`` accepts connections (or ``process`` has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


STOCKADE = [sys.executable, "-c", "from stockade.cli.main import run; run()"]


@contextlib.contextmanager
def proxy_process(
    args: Sequence[str], *, port: int, ready_timeout: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """``stockade waf ARGS`` as a process; yields once ``port`` accepts connections."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*STOCKADE, "waf", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"stockade waf exited with {process.returncode}: {stderr}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stderr:
            process.stderr.close()


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM again from the current RSS (``5`` to clear_refs, Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
