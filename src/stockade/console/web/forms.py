"""Reading the UI's forms and saying what is wrong with them.

A page hands what a form sent to the same pydantic body and the same function as the
API; a refusal (a :class:`~pydantic.ValidationError` or a
:class:`~stockade.console.errors.ConsoleError`) becomes one sentence for a person, shown
above the form with the values they typed (secrets excepted), and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from stockade.console.errors import ConsoleError
from stockade.console.web.gate import FORM_FIELDS
from stockade.console.web.render import SECURITY_HEADERS

__all__ = [
    "Fields",
    "FormFields",
    "describe",
    "notice_of",
    "problem_of",
    "redirect",
]

TEXT_LIMIT: Final = 70_000
"""More than any field may hold (the API's own limits apply after); a cap on copies."""


@dataclass(frozen=True, slots=True)
class FormFields:
    """The fields of a URL-encoded form (file parts of a multipart body are ignored)."""

    data: FormData

    @classmethod
    def empty(cls) -> FormFields:
        return cls(FormData())

    def all(self, name: str) -> list[str]:
        return [v[:TEXT_LIMIT] for v in self.data.getlist(name) if isinstance(v, str)]

    def raw(self, name: str) -> str:
        """The field as sent (for secrets: spaces may be part of a password)."""
        values = self.all(name)
        return values[0] if values else ""

    def text(self, name: str) -> str:
        return self.raw(name).strip()

    def checked(self, name: str) -> bool:
        """A ticked checkbox (browsers leave unticked ones out; an empty value is off)."""
        return any(self.all(name))

    def lines(self, name: str) -> list[str]:
        """A text area of one entry per line, blank lines left out."""
        return [line.strip() for line in self.raw(name).splitlines() if line.strip()]

    def words(self, name: str) -> list[str]:
        """Entries separated by commas, spaces or lines."""
        return self.raw(name).replace(",", " ").split()


async def read_form(request: Request) -> FormFields:
    return FormFields(await request.form(max_files=0, max_fields=FORM_FIELDS))


Fields = Annotated[FormFields, Depends(read_form)]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def describe(exc: ConsoleError) -> str:
    """A Console error as it is shown above a form: what failed, and what to try."""
    return " ".join(_sentence(part) for part in (exc.message, exc.hint or "") if part)


def _where(loc: Iterable[Any], tags: Iterable[str]) -> tuple[str, list[int]]:
    parts = list(loc)
    skipped = set(tags)
    while parts and isinstance(parts[0], str) and parts[0] in skipped:
        parts.pop(0)
    names = [str(p) for p in parts if isinstance(p, str)]
    rows = [p + 1 for p in parts if isinstance(p, int)]
    return ".".join(names), rows


def _lookup(names: Mapping[str, str], path: str) -> str | None:
    """The entry for ``path``, else for the nearest field it is inside of (a dict's key
    is a part of the path: ``labels.KEY.[key]`` is the field ``labels``)."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        found = names.get(".".join(parts[:end]))
        if found is not None:
            return found
    return names.get(parts[-1])


def problem_of(
    exc: ValidationError,
    labels: Mapping[str, str],
    *,
    patterns: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
) -> str:
    """The first thing wrong, in a sentence that names the field as the form labels it.

    ``labels`` maps a field's dotted path (``config.url``; list positions left out) to
    its label; ``patterns`` says what a field whose pattern did not match may hold;
    ``tags`` are discriminator values to leave out of a path. The input is never quoted
    (it may be a secret); only whether it was empty counts.
    """
    error = exc.errors(include_url=False)[0]
    empty = error.get("input") in ("", [], None)
    path, rows = _where(error.get("loc", ()), tags)
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    message = str(error.get("msg", ""))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    found = _lookup(labels, path)
    if found is None and kind in ("value_error", "assertion_error"):
        return _sentence(message)  # about the settings together (a model's validator)
    label = found or path or "The form"
    if rows and path:
        label += f" (entry {rows[0]})"
    if kind == "missing" or (
        empty and kind in ("string_pattern_mismatch", "string_too_short", "too_short")
    ):
        return f"{label} is required."
    if kind == "string_too_short":
        limit = context.get("min_length", 1)
        return (
            f"{label} is required." if limit == 1 else f"{label} needs at least {limit} characters."
        )
    if kind == "string_too_long":
        return f"{label} is too long (at most {context.get('max_length')} characters)."
    if kind == "string_pattern_mismatch":
        return _lookup(patterns or {}, path) or f"{label} has characters that are not allowed."
    if kind == "too_short":
        return f"{label} needs at least {context.get('min_length', 1)}."
    if kind == "too_long":
        return f"{label} has too many entries (at most {context.get('max_length')})."
    if kind in ("int_parsing", "int_from_float"):
        return f"{label} must be a whole number."
    if kind == "greater_than_equal":
        return f"{label} must be at least {context.get('ge')}."
    if kind == "less_than_equal":
        return f"{label} must be at most {context.get('le')}."
    if kind.startswith("date"):
        return f"{label} must be a date written YYYY-MM-DD."
    if kind in ("literal_error", "enum"):
        return f"{label} must be one of: {context.get('expected', 'the choices offered')}."
    if kind == "extra_forbidden":
        return f"{label} is not a field of this form."
    return f"{label}: {message.rstrip('.')}."


def redirect(path: str) -> Response:
    """After a change: to a page (``303``, so a reload does not post the form again)."""
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def notice_of(request: Request, notices: Mapping[str, str]) -> str:
    """The message a redirect after a change asked for (``?done=…``), if it is known."""
    return notices.get(request.query_params.get("done", ""), "")
