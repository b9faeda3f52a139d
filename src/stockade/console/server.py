"""Serving the Console with uvicorn, over TLS, in one process or in several workers."""

from __future__ import annotations

import logging
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from stockade.console.config import ConsoleConfig
from stockade.console.metrics import CounterSharing
from stockade.console.service import build_app, open_store, require_admin
from stockade.console.tls import ensure_self_signed

__all__ = ["ServeOptions", "WorkerApp", "listening_socket", "serve"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    """Plain HTTP, for a Console behind a TLS-terminating proxy only (warned about)."""
    workers: int = 1
    """Processes serving the one port: more use more cores. Each opens its own store and
    runs the background work (alert delivery, registry scans) that the store's leases and
    claims already share out between Consoles."""


@dataclass(frozen=True, slots=True)
class WorkerApp:
    """The app factory a worker process calls (it is started afresh, not forked, so it
    opens its own database connections)."""

    config: ConsoleConfig
    metrics_dir: Path

    def __call__(self) -> FastAPI:
        store = open_store(self.config, upgrade=False)
        app = build_app(store, self.config)
        context = app.state.console
        sharing = CounterSharing(context.counters, self.metrics_dir)
        context.on_start.append(sharing.start)
        context.on_close.append(sharing.stop)
        context.on_close.insert(0, store.close)  # run last: hooks run last first
        return app


def serve(config: ConsoleConfig, options: ServeOptions) -> None:
    """Migrate, check there is an administrator, and serve until interrupted."""
    store = open_store(config)
    try:
        require_admin(store)
        ssl: dict[str, Any] = {}
        if not options.insecure_http:
            if options.tls_cert and options.tls_key:
                cert, key = options.tls_cert, options.tls_key
            else:
                files = ensure_self_signed(config.data_dir / "tls", options.host)
                cert, key = files.certificate, files.key
            ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        else:
            logging.getLogger("stockade.console").warning(
                "serving plain HTTP: only behind a proxy that terminates TLS"
            )
        settings: dict[str, Any] = {
            "host": options.host,
            "port": options.port,
            "proxy_headers": False,
            "server_header": False,
            "date_header": True,
            "log_level": "info",
            **ssl,
        }
        if options.workers <= 1:
            uvicorn.Server(uvicorn.Config(build_app(store, config), **settings)).run()
            return
    finally:
        store.close()
    _serve_workers(config, options, settings)


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the workers share, bound by uvicorn and said to be TCP: the workers
    rebuild it from its fields, and asyncio sets TCP_NODELAY on connections only from a
    socket whose protocol says TCP (uvicorn's says 0: every answer then waited ~40 ms for
    the client's delayed ACK)."""
    bound = config.bind_socket()
    listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    listener.set_inheritable(True)
    return listener


def _serve_workers(config: ConsoleConfig, options: ServeOptions, settings: dict[str, Any]) -> None:
    # The server's own directory of worker counts: emptied at start, gone at the end.
    metrics_dir = config.data_dir / "run" / f"metrics-{options.port}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    uvicorn_config = uvicorn.Config(
        WorkerApp(config, metrics_dir), factory=True, workers=options.workers, **settings
    )
    try:
        Multiprocess(uvicorn_config, sockets=[listening_socket(uvicorn_config)]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
