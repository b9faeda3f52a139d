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


Context = Annotated[ConsoleContext, Depends(context_of)]
Caller = Annotated[Principal, Depends(principal_of)]
Remote = Annotated[str | None, Depends(remote_of)]
