"""Dependencies endpoints share: the process context, the caller, the client address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stockade.console.api.access import principal_of
from stockade.console.context import ConsoleContext
from stockade.console.identity.accounts import Principal
from stockade.core.errors import InternalError

__all__ = ["Caller", "Context", "remote_of"]


def context_of(request: Request) -> ConsoleContext:
    context = request.app.state.console
    if not isinstance(context, ConsoleContext):
        raise InternalError("the app was built without a ConsoleContext")
    return context


def remote_of(request: Request) -> str | None:
    return request.client.host if request.client else None


# As coroutines, so FastAPI runs them on the event loop: a plain function dependency
# costs a hop to the thread pool and back on every request.
async def _context(request: Request) -> ConsoleContext:
    return context_of(request)


async def _caller(request: Request) -> Principal:
    return principal_of(request)


async def _remote(request: Request) -> str | None:
    return remote_of(request)


Context = Annotated[ConsoleContext, Depends(_context)]
Caller = Annotated[Principal, Depends(_caller)]
Remote = Annotated[str | None, Depends(_remote)]
