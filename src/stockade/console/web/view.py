"""What every page handler starts from: who is looking, their CSRF token, the Console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import HTMLResponse

from stockade.console.api.access import principal_of
from stockade.console.api.deps import context_of, remote_of
from stockade.console.context import ConsoleContext
from stockade.console.identity.accounts import Principal
from stockade.console.web.render import csrf_token_of, render

__all__ = ["View", "Viewer"]


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    csrf: str
    context: ConsoleContext
    remote: str | None

    def page(
        self, template: str, *, active: str, title: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        return render(
            template,
            principal=self.principal,
            csrf=self.csrf,
            active=active,
            title=title,
            status=status,
            **values,
        )

    def not_found(self, active: str, message: str) -> HTMLResponse:
        return self.page(
            "error.html",
            active=active,
            title="Not found",
            status=404,
            message=message,
            hint="It may have been pruned by retention, or the link is mistyped.",
        )


def viewer_of(request: Request) -> Viewer:
    principal = principal_of(request)
    return Viewer(
        principal=principal,
        csrf=csrf_token_of(request, principal),
        context=context_of(request),
        remote=remote_of(request),
    )


View = Annotated[Viewer, Depends(viewer_of)]
