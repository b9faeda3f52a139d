"""Paging and downloads shared by every list: ``limit``/``offset`` and ``?format=csv``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from stockade.console.store.queries import Page

__all__ = ["CSV_RESPONSE", "ListParams", "list_params", "respond"]

MAX_LIMIT = 1000

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


class ListParams(BaseModel):
    limit: int
    offset: int
    format: Literal["json", "csv"]


async def list_params(  # a coroutine: no thread pool hop (see deps.py)
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv downloads the page as CSV")
    ] = "json",
) -> ListParams:
    return ListParams(limit=limit, offset=offset, format=format)


Paging = Annotated[ListParams, Depends(list_params)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _flatten(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in ("summary", "detail", "payload"):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def to_csv(items: Iterable[dict[str, Any]]) -> str:
    rows = [_flatten(i) for i in items]
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def respond(page: Page, params: ListParams, name: str) -> dict[str, Any] | Response:
    if params.format == "csv":
        return Response(
            to_csv(page.items),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}.csv"',
                "X-Total-Count": str(page.total),
            },
        )
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}
