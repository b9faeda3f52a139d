"""The web UI: server-rendered pages over the same store, roles and sessions as the API.

Pages are Jinja2 templates (auto-escaped) with a small stylesheet and an optional
script; no build step. Every page is access-checked by the API's middleware like any
route (a browser without a session is sent to ``/login``), and left out of the OpenAPI
document. Lists call the paged, indexed queries of ``store/queries.py``; the pages that
change settings (policies, alerts, registries, Defenders) call the functions of the
feature's own API with the viewer as the caller, so checks and audit are the API's.
"""

from __future__ import annotations

from fastapi import APIRouter

from stockade.console.context import ConsoleContext
from stockade.console.web import (
    account,
    admin,
    alerting,
    defenders,
    explore,
    policies,
    registries,
)

__all__ = ["ROUTERS", "install"]

ROUTERS: tuple[APIRouter, ...] = (
    account.router,
    explore.router,
    policies.router,
    alerting.router,
    registries.router,
    defenders.router,
    admin.router,
)


def install(context: ConsoleContext) -> None:
    """Hook this feature into a Console process (the UI has no listeners or workers)."""
