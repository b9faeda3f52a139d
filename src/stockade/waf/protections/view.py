"""What the native protections read: one decoded view of a request, built once.

The view splits the target into path and query, decodes arguments from the query and
from URL-encoded, multipart, JSON and XML bodies (with the body processors of
:mod:`stockade.waf.request`), splits cookies, and lists every value a protection may
inspect as an :class:`Input` with a CRS-style location (``ARGS:id``,
``REQUEST_HEADERS:User-Agent``…), so exceptions in the policy name places the same way
for native protections and for CRS.

Values stay Latin-1 ``str`` (one character per byte), as everywhere in the WAF. Attack
payloads are often encoded more than once, so :meth:`Input.normalised` gives the value
decoded again (``%XX``, ``%uXXXX``, overlong UTF-8 and full-width dots and slashes) until
it stops changing, at most three times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from stockade.waf.request import (
    MAX_ARGS,
    HttpRequest,
    ParsedBody,
    parse_cookies,
    parse_json,
    parse_multipart,
    parse_query,
    parse_urlencoded,
    parse_xml,
)

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "Input",
    "RequestView",
    "deep_decode",
    "percent_decode",
]

DEFAULT_BODY_LIMIT: Final = 128 * 1024
"""Bytes of request body inspected unless the policy says otherwise."""

ARG: Final = "arg"
ARG_NAME: Final = "arg_name"
COOKIE: Final = "cookie"
COOKIE_NAME: Final = "cookie_name"
HEADER: Final = "header"
PATH: Final = "path"
XML: Final = "xml"
FILE_NAME: Final = "file_name"

_PERCENT: Final = re.compile(r"%(?:[uU]([0-9a-fA-F]{4})|([0-9a-fA-F]{2}))")
# Byte sequences that decode to '.', '/' or '\' in lenient decoders: overlong UTF-8
# (C0 AE, C0 AF, C1 9C, E0 80 AE, E0 80 AF) and the UTF-8 of the full-width forms.
_LOOKALIKES: Final = (
    ("\xe0\x80\xae", "."),
    ("\xe0\x80\xaf", "/"),
    ("\xc0\xae", "."),
    ("\xc0\xaf", "/"),
    ("\xc1\x9c", "\\"),
    ("\xc0\x2e", "."),
    ("\xc0\x2f", "/"),
    ("\xef\xbc\x8e", "."),
    ("\xef\xbc\x8f", "/"),
    ("\xef\xbc\xbc", "\\"),
)
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z").match
"""Parameter and cookie names that no protection can find anything in; only names that
are not plain become inputs of their own."""
_LOOKALIKE_START: Final = frozenset("\xc0\xc1\xe0\xef")


def _percent(match: re.Match[str]) -> str:
    unicode, byte = match.group(1), match.group(2)
    if byte is not None:
        return chr(int(byte, 16))
    code = int(unicode, 16)
    if code < 0x100:
        return chr(code)
    if 0xFF01 <= code <= 0xFF5E:
        # IIS maps full-width forms to ASCII ("best fit"): %uFF0E is '.'.
        return chr(code - 0xFEE0)
    return chr(code).encode("utf-8", "surrogatepass").decode("latin-1")


def percent_decode(text: str) -> str:
    """``%XX`` and ``%uXXXX`` escapes decoded (``+`` left alone); invalid escapes stay."""
    if "%" not in text:
        return text
    return _PERCENT.sub(_percent, text)


def fold_lookalikes(text: str) -> str:
    """Overlong UTF-8 and full-width forms of ``.``, ``/`` and ``\\`` as the ASCII byte."""
    if not _LOOKALIKE_START.intersection(text):
        return text
    for sequence, ascii_char in _LOOKALIKES:
        if sequence in text:
            text = text.replace(sequence, ascii_char)
    return text


def deep_decode(text: str, rounds: int = 3) -> str:
    """Percent-decoded until it stops changing (at most ``rounds`` times), lookalikes
    folded: what a lenient back end may end up seeing."""
    for _ in range(rounds):
        if "%" not in text:
            break
        decoded = percent_decode(text)
        if decoded == text:
            break
        text = decoded
    return fold_lookalikes(text)


class Input:
    """One inspectable value: where it is, its name, and its value as decoded once."""

    __slots__ = ("_normalised", "kind", "location", "name", "value")

    def __init__(self, kind: str, location: str, name: str, value: str) -> None:
        self.kind = kind
        self.location = location
        self.name = name
        self.value = value
        self._normalised: str | None = None

    def normalised(self) -> str:
        """The value decoded again as a lenient back end might (see :func:`deep_decode`)."""
        cached = self._normalised
        if cached is None:
            value = self.value
            cached = deep_decode(value) if ("%" in value or not value.isascii()) else value
            self._normalised = cached
        return cached

    def forms(self) -> tuple[str, ...]:
        """The value, and its normalised form when that differs."""
        normalised = self.normalised()
        if normalised is self.value or normalised == self.value:
            return (self.value,)
        return (self.value, normalised)

    def __repr__(self) -> str:
        return f"Input({self.location!r}, {self.value[:40]!r})"


def _json_media(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


def _xml_media(media: str) -> bool:
    return media in {"text/xml", "application/xml"} or (
        media.startswith("application/") and media.endswith("+xml")
    )


@dataclass(slots=True)
class RequestView:
    """A request taken apart once for every protection that inspects it."""

    request: HttpRequest
    method: str
    protocol: str
    raw_path: str
    """The path of the target as sent (absolute-form targets lose scheme and authority)."""
    query: str
    path: str
    """The path percent-decoded once."""
    headers: dict[str, list[str]]
    """Lower-cased header names to values, in arrival order."""
    query_args: list[tuple[str, str]]
    body_args: list[tuple[str, str]]
    cookies: list[tuple[str, str]]
    media_type: str
    """The request's Content-Type without parameters, lower-cased."""
    body: bytes
    """The inspected part of the body (at most the body limit)."""
    body_truncated: bool
    body_processor: str
    body_error: str
    multipart_flags: dict[str, int]
    inputs: list[Input] = field(default_factory=list)
    """Arguments and their names, cookies and their names, the path, XML text and
    multipart file names: what the injection protections inspect."""
    header_inputs: list[Input] = field(default_factory=list)
    """Every header but Cookie (its parts are in :attr:`inputs`)."""
    suspects: list[Input] = field(default_factory=list)
    """The :attr:`inputs` that are not plain ASCII letters and digits (nor empty): no
    protection can find anything in those, so protections iterate over this list."""

    @classmethod
    def of(cls, request: HttpRequest, *, body_limit: int = DEFAULT_BODY_LIMIT) -> RequestView:
        """Take ``request`` apart; never raises on hostile input."""
        target = request.uri
        if "://" in target.split("?", 1)[0]:
            after = target.split("://", 1)[1]
            slash = after.find("/")
            target = after[slash:] if slash >= 0 else "/"
        raw_path, _, query = target.partition("?")
        raw_path = raw_path.split("#", 1)[0]
        query = query.split("#", 1)[0]
        headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers.setdefault(name.lower(), []).append(value)
        content_type = headers.get("content-type", [""])[0]
        media = content_type.split(";", 1)[0].strip().lower()
        body = request.body
        truncated = len(body) > body_limit
        if truncated:
            body = body[:body_limit]
        parsed = _parse_body(body, media, content_type) if body else ParsedBody()
        cookies = parse_cookies(headers["cookie"]) if "cookie" in headers else []
        view = cls(
            request=request,
            method=request.method,
            protocol=request.protocol,
            raw_path=raw_path,
            query=query,
            path=percent_decode(raw_path),
            headers=headers,
            query_args=parse_query(query) if query else [],
            body_args=parsed.args,
            cookies=cookies,
            media_type=media,
            body=body,
            body_truncated=truncated,
            body_processor=parsed.processor,
            body_error="" if truncated else parsed.error,
            multipart_flags=parsed.multipart_flags,
        )
        view._collect_inputs(parsed)
        return view

    def _collect_inputs(self, parsed: ParsedBody) -> None:
        inputs = self.inputs
        inputs.append(Input(PATH, "REQUEST_FILENAME", "", self.path))
        for pairs in (self.query_args, self.body_args):
            for name, value in pairs:
                inputs.append(Input(ARG, "ARGS:" + name, name, value))
                if not _PLAIN_NAME(name):
                    inputs.append(Input(ARG_NAME, "ARGS_NAMES:" + name, name, name))
        for name, value in self.cookies[:MAX_ARGS]:
            inputs.append(Input(COOKIE, "REQUEST_COOKIES:" + name, name, value))
            if not _PLAIN_NAME(name):
                inputs.append(Input(COOKIE_NAME, "REQUEST_COOKIES_NAMES:" + name, name, name))
        for text in parsed.xml_text + parsed.xml_attributes:
            inputs.append(Input(XML, "XML:/*", "", text))
        for part in parsed.files:
            inputs.append(Input(FILE_NAME, "FILES:" + part.field, part.field, part.filename))
        self.suspects = [
            item
            for item in inputs
            if item.value and not (item.value.isascii() and item.value.isalnum())
        ]
        for name, value in self.request.headers:
            if name.lower() != "cookie":
                self.header_inputs.append(
                    Input(HEADER, "REQUEST_HEADERS:" + name, name.lower(), value)
                )

    @property
    def args(self) -> list[tuple[str, str]]:
        """Query and body arguments together, query first."""
        return self.query_args + self.body_args

    def header(self, name: str) -> str:
        """The first value of header ``name`` (lower-case), or empty."""
        values = self.headers.get(name)
        return values[0] if values else ""


def _parse_body(body: bytes, media: str, content_type: str) -> ParsedBody:
    text = body.decode("latin-1")
    if media == "application/x-www-form-urlencoded":
        return parse_urlencoded(text)
    if media == "multipart/form-data":
        return parse_multipart(text, content_type)
    if _json_media(media):
        return parse_json(text)
    if _xml_media(media):
        return parse_xml(text)
    return ParsedBody()
