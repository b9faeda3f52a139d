"""Errors as RFC 9457 problem details (``application/problem+json``).

Validation errors list where and what, never the offending input (it may be a secret
typed into the wrong field). Unexpected errors say nothing about their cause.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockade.console.errors import AuthenticationRequired, ConsoleError, TooManyRequests

__all__ = ["PROBLEM_SCHEMA", "install_problem_handlers", "problem_response"]

MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("stockade.console")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "hint": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status"],
}


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    hint: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if hint:
        body["hint"] = hint
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def unauthenticated(detail: str) -> JSONResponse:
    return problem_response(
        401,
        AuthenticationRequired.title,
        detail,
        hint="send 'Authorization: Bearer TOKEN' or log in for a session",
        headers={"WWW-Authenticate": 'Bearer realm="stockade"'},
    )


def _console_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ConsoleError):
        return _unexpected(_request, exc)
    if isinstance(exc, AuthenticationRequired):
        return unauthenticated(exc.message)
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem_response(exc.http_status, exc.title, exc.message, hint=exc.hint, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        return _unexpected(_request, exc)
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": e.get("type"),
        }
        for e in exc.errors()[:50]
    ]
    return problem_response(
        422,
        "Invalid request",
        "the request does not match the API schema",
        extra={"errors": errors},
    )


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        return _unexpected(_request, exc)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    title = titles.get(exc.status_code, "Request failed")
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, title, detail, headers=headers)


def _database_refused(_request: Request, exc: Exception) -> JSONResponse:
    # A value our validation let through and the database will not keep (PostgreSQL
    # refuses NUL characters in text): the request's fault, and nothing was stored.
    _log.info("the database refused a value: %s", type(exc).__name__)
    return problem_response(
        422, "Invalid request", "the database cannot store a value of the request"
    )


def _database_down(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("database error", exc_info=exc)
    return problem_response(503, "Store unavailable", "the database did not answer")


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("internal error", exc_info=exc)
    return problem_response(500, "Internal error", "the Console failed; see its log")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ConsoleError, _console_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.DataError, _database_refused)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
