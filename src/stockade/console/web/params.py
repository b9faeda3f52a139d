"""Reading a page's query string leniently: a value a page does not know is ignored
(the default applies), never answered with a validation error, since people edit URLs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from stockade.console.api.listing import ListParams
from stockade.console.store.queries import Page
from stockade.console.web.render import url
from stockade.core.errors import InternalError

__all__ = ["SEVERITIES", "Listing", "choice", "listing", "text", "yes_no"]

SEVERITIES: Final = ("critical", "high", "medium", "low", "negligible", "unknown")
PAGE_SIZES: Final = (25, 50, 100)
MAX_OFFSET: Final = 10_000_000
TEXT_MAX: Final = 256


def text(request: Request, name: str) -> str:
    """A search box's text: stripped, at most 256 characters, '' when absent."""
    return request.query_params.get(name, "").strip()[:TEXT_MAX]


def choice(request: Request, name: str, choices: Sequence[str], default: str = "") -> str:
    value = request.query_params.get(name, "")
    return value if value in choices else default


def yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _number(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


@dataclass(slots=True)
class Listing:
    """One page of a list: where it is, its filters, and the links to move about."""

    path: str
    filters: dict[str, str]
    """The filters in effect, as they appear in the query string (empty ones left out)."""
    page: int
    size: int
    total: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_row(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_row(self) -> int:
        return min(self.offset + self.size, self.total)

    def link(self, **changes: Any) -> str:
        """This list with some filters changed; back to page 1 unless ``page`` is given."""
        params: dict[str, Any] = {**self.filters, "size": self.size, "page": 1, **changes}
        if params["size"] == PAGE_SIZES[0]:
            del params["size"]
        if params["page"] == 1:
            del params["page"]
        return url(self.path, **params)

    def csv(self, api_path: str, **api_params: Any) -> str:
        """The API's CSV download of the same list: up to 1,000 rows from this page on."""
        return url(api_path, **api_params, format="csv", limit=1000, offset=self.offset)

    def fill(self, page: Page) -> Listing:
        self.items, self.total = page.items, page.total
        return self

    @property
    def api_params(self) -> ListParams:
        """This page as an API list function's paging (JSON)."""
        return ListParams(limit=self.size, offset=self.offset, format="json")

    def fill_from_api(self, answer: dict[str, Any] | Response) -> Listing:
        """This page from what an API list function answered for :attr:`api_params`."""
        if not isinstance(answer, dict):
            raise InternalError("an API list answered CSV where JSON was asked for")
        self.items, self.total = list(answer["items"]), int(answer["total"])
        return self


def listing(request: Request, filters: dict[str, str], path: str | None = None) -> Listing:
    """The page asked for; ``path`` (quoted) is where its links point, this one's by default."""
    size = _number(request.query_params.get("size"), PAGE_SIZES[0])
    if size not in PAGE_SIZES:
        size = PAGE_SIZES[0]
    page = max(1, min(_number(request.query_params.get("page"), 1), MAX_OFFSET // size))
    kept = {k: v for k, v in filters.items() if v}
    return Listing(path or request.url.path, kept, page, size)
