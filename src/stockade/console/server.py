"""Serving the Console with uvicorn, over TLS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from stockade.console.config import ConsoleConfig
from stockade.console.service import build_app, open_store, require_admin
from stockade.console.tls import ensure_self_signed

__all__ = ["ServeOptions", "serve"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    """Plain HTTP, for a Console behind a TLS-terminating proxy only (warned about)."""


def serve(config: ConsoleConfig, options: ServeOptions) -> None:
    """Migrate, check there is an administrator, and serve until interrupted."""
    store = open_store(config)
    try:
        require_admin(store)
        app = build_app(store, config)
        ssl: dict[str, str] = {}
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
        uvicorn_config = uvicorn.Config(
            app,
            host=options.host,
            port=options.port,
            proxy_headers=False,
            server_header=False,
            date_header=True,
            log_level="info",
            **ssl,  # type: ignore[arg-type]
        )
        uvicorn.Server(uvicorn_config).run()
    finally:
        store.close()
