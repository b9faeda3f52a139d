"""Running the proxy: one process, or a supervisor and N forked workers on one port.

The decider is built once, before forking, so the workers share the loaded rules
(copy-on-write) and start at once. Each worker has its own event loop and its own
listening socket bound with SO_REUSEPORT: the kernel spreads connections between them,
which is how the proxy uses more than one core (the rule engine is CPU bound and holds
the GIL). Bans travel between workers over :class:`~.bans.BanBus`; audit lines share one
``O_APPEND`` descriptor and a lock. The supervisor restarts a worker that dies, and stops
everything on SIGTERM or SIGINT (SIGHUP reopens the audit log, for log rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Final

from stockade.waf.decision import Decider
from stockade.waf.proxy.audit import AuditLog
from stockade.waf.proxy.bans import BanBus, BanList
from stockade.waf.proxy.config import ProxyConfig, ProxyConfigError
from stockade.waf.proxy.pages import BlockPage
from stockade.waf.proxy.server import ProxyServer, listening_socket, tls_context

__all__ = ["serve"]

log = logging.getLogger("stockade.waf.proxy")

MAX_RESTARTS: Final = 5
RESTART_WINDOW: Final = 30.0
READY_TIMEOUT: Final = 60.0


def _check_tls(config: ProxyConfig) -> None:
    if config.tls_cert is None or config.tls_key is None:
        return
    try:
        tls_context(str(config.tls_cert), str(config.tls_key))
    except (OSError, ValueError) as exc:
        raise ProxyConfigError(
            f"cannot load the TLS certificate {config.tls_cert} and key {config.tls_key}: {exc}"
        ) from exc


def serve(
    config: ProxyConfig,
    decider: Decider,
    *,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT. ``on_ready(host, port)`` runs once every worker
    listens (port 0 in the config picks a free port)."""
    _check_tls(config)  # fail on a bad certificate before anything listens
    block_page = BlockPage.from_file(config.block_page) if config.block_page else BlockPage()
    # The rules loaded so far live as long as the process: out of the collector's sight,
    # a full collection no longer walks them (8-12 ms with CRS loaded, paid by whichever
    # request is in flight; 0 frozen), and forked workers keep sharing their pages.
    gc.collect()
    gc.freeze()
    if config.workers == 1:
        audit = AuditLog(config.audit_log)
        try:
            asyncio.run(
                _run_worker(
                    config,
                    decider=decider,
                    audit=audit,
                    block_page=block_page,
                    bus=None,
                    index=0,
                    sock=None,
                    on_ready=on_ready,
                )
            )
        finally:
            audit.close()
        return
    _supervise(config, decider, block_page, on_ready)


async def _run_worker(
    config: ProxyConfig,
    *,
    decider: Decider,
    audit: AuditLog,
    block_page: BlockPage,
    bus: BanBus | None,
    index: int,
    sock: socket.socket | None,
    on_ready: Callable[[str, int], None] | None,
) -> None:
    loop = asyncio.get_running_loop()
    bans = BanList()
    if bus is not None:
        bus.attach(index, bans, loop)
    server = ProxyServer(config, decider, audit=audit, bans=bans, block_page=block_page)
    await server.start(sock)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, audit.reopen)
    if on_ready is not None:
        on_ready(config.listen_host, server.port)
    await stop.wait()
    await server.close()


def _supervise(
    config: ProxyConfig,
    decider: Decider,
    block_page: BlockPage,
    on_ready: Callable[[str, int], None] | None,
) -> None:
    # Hold the port (bound, not listening: no connection is queued here) so that port 0
    # resolves once and every worker binds the same one.
    holder = socket.socket(
        socket.AF_INET6 if ":" in config.listen_host else socket.AF_INET, socket.SOCK_STREAM
    )
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((config.listen_host, config.listen_port))
    port = int(holder.getsockname()[1])
    config = config.replace(listen_port=port)
    lock = multiprocessing.get_context("fork").Lock()
    audit = AuditLog(config.audit_log, lock=lock)
    bus = BanBus(config.workers)
    ready_read, ready_write = os.pipe()
    ready_fd = [ready_write]
    stopping = False
    children: dict[int, int] = {}

    def start(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(ready_read)
                sock = listening_socket(config.listen_host, port, reuse_port=True)

                def ready(_host: str, _port: int) -> None:
                    if ready_fd[0] >= 0:
                        os.write(ready_fd[0], b"r")
                        os.close(ready_fd[0])

                asyncio.run(
                    _run_worker(
                        config,
                        decider=decider,
                        audit=audit,
                        block_page=block_page,
                        bus=bus,
                        index=index,
                        sock=sock,
                        on_ready=ready,
                    )
                )
            except BaseException:  # a worker reports what killed it and exits, always
                log.exception("proxy worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if signum != signal.SIGHUP else signal.SIGHUP)

    def on_hup(_signum: int, _frame: object) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        for index in range(config.workers):
            start(index)
        os.close(ready_write)
        ready_fd[0] = -1
        _await_ready(ready_read, config.workers)
        if on_ready is not None:
            on_ready(config.listen_host, port)
        restarts: list[float] = []
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            index = children.pop(pid, -1)
            if stopping or index < 0:
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            log.error("proxy worker %d exited (status %d); restarting it", index, status)
            if len(restarts) > MAX_RESTARTS:
                on_signal(signal.SIGTERM, None)
                raise ProxyConfigError(
                    f"proxy workers died {len(restarts)} times in {RESTART_WINDOW:.0f}s; stopped",
                    hint="run with --workers 1 to see the error",
                )
            start(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os.close(ready_read)
        bus.close()
        audit.close()
        holder.close()


def _await_ready(fd: int, count: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    seen = 0
    while seen < count:
        if time.monotonic() > deadline:
            raise ProxyConfigError("proxy workers did not start in time")
        data = os.read(fd, count - seen)
        if not data:
            raise ProxyConfigError(
                "a proxy worker failed to start", hint="run with --workers 1 to see the error"
            )
        seen += len(data)
