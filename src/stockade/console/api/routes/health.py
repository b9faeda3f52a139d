"""Liveness and readiness: the only routes open without credentials."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from stockade.console.api.access import PUBLIC, requires
from stockade.console.api.deps import Context
from stockade.console.api.schemas import Health, Readiness
from stockade.console.errors import StoreError
from stockade.console.store.migrate import is_at_head

_log = logging.getLogger("stockade.console")
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
@requires(PUBLIC)
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
@requires(PUBLIC)
def readyz(context: Context) -> JSONResponse:
    """The database answers and its schema is at the head revision."""
    database = at_head = False
    try:
        with context.store.read() as session:
            session.execute(text("SELECT 1"))
        database = True
        at_head = is_at_head(context.store)
    except (StoreError, Exception):  # any failure means "not ready", never a 500
        _log.warning("not ready: the database does not answer", exc_info=True)
    ready = database and at_head
    return JSONResponse(
        {
            "status": "ready" if ready else "not-ready",
            "database": database,
            "schemaAtHead": at_head,
        },
        status_code=200 if ready else 503,
    )
