"""The ASGI application: routes, access control, limits, problem JSON, OpenAPI.

Middleware, outermost first: response counting, the body limit, access control; then
FastAPI's routing. The OpenAPI document is at ``/api/v1/openapi.json`` (signed-in
callers only, like everything but health) and declares, per operation, the credentials
it takes and its 401/403 answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from stockade import __version__
from stockade.console import alerts, policies, registries, web
from stockade.console.api.access import (
    AUTHENTICATED,
    PUBLIC,
    SESSION_COOKIE,
    AccessControl,
    RouteAccess,
    access_table,
)
from stockade.console.api.limits import BodyLimit
from stockade.console.api.problems import PROBLEM_SCHEMA, install_problem_handlers
from stockade.console.api.routes import admin, defenders, explore, health, publish, session
from stockade.console.context import ConsoleContext
from stockade.console.metrics import RequestMetrics

__all__ = ["OPENAPI_PATH", "create_app"]

OPENAPI_PATH = "/api/v1/openapi.json"


FEATURES = (policies, alerts, registries, web)
"""Feature packages: each has ``ROUTERS`` and ``install(context)``."""


def create_app(context: ConsoleContext) -> FastAPI:
    """The app over ``context``; starting it runs ``context.on_start`` hooks (workers),
    stopping it runs ``context.on_close``."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for start in context.on_start:
            start()
        try:
            yield
        finally:
            for close in reversed(context.on_close):
                close()

    app = FastAPI(
        title="Stockade Console",
        version=__version__,
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.console = context
    routers: tuple[APIRouter, ...] = (
        health.router,
        session.router,
        publish.router,
        explore.router,
        explore.metrics_router,
        admin.router,
        defenders.router,
    )
    for feature in FEATURES:
        routers += feature.ROUTERS
        feature.install(context)
    for router in routers:
        app.include_router(router)
    table = access_table(routers, {OPENAPI_PATH: AUTHENTICATED})
    install_problem_handlers(app)
    app.add_middleware(AccessControl, table=table, context=context)
    app.add_middleware(BodyLimit, max_bytes=context.config.max_body_bytes)
    app.add_middleware(RequestMetrics, counters=context.counters)
    app.openapi = lambda: _openapi(app, table)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, table: list[RouteAccess]) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    }
    problem = {
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    }
    accesses = {(e.path, m.lower()): e.access for e in table for m in e.methods}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            access = accesses.get((path, method), AUTHENTICATED)
            operation["x-stockade-access"] = str(access)
            responses = operation.setdefault("responses", {})
            for status, description in _PROBLEMS.items():
                responses.setdefault(status, {"description": description})
                responses[status].update(problem)
            if access != PUBLIC:
                operation["security"] = [{"bearer": []}, {"session": []}]
                responses["401"] = {"description": "No valid credentials", **problem}
                responses["403"] = {"description": "The role may not do this", **problem}
                if method not in ("get", "head"):
                    operation.setdefault("parameters", []).append(
                        {
                            "name": "X-CSRF-Token",
                            "in": "header",
                            "required": False,
                            "description": "required with a session cookie",
                            "schema": {"type": "string"},
                        }
                    )
            if "422" in responses:
                responses["422"] = {"description": "Invalid request", **problem}
    app.openapi_schema = schema
    return schema


_PROBLEMS = {
    "400": "Bad request",
    "404": "Not found",
    "413": "Request body too large",
    "500": "Internal error",
    "503": "Store unavailable",
}
