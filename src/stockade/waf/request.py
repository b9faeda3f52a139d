"""The request and response model the engine decides on, and the body processors.

Everything is data in, data out: the proxy (or a test) builds an :class:`HttpRequest`, the
engine reads it. Text is held as Latin-1 ``str`` so every byte of hostile input survives
unchanged and one character is one byte, as in ModSecurity and Coraza.

Body processors (URL-encoded, multipart, JSON, XML) never raise on bad input: they return
what they could read and an error message, which the rules see as ``REQBODY_ERROR`` and
``MULTIPART_*`` flags, as CRS expects.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

MAX_ARGS: Final = 10_000
"""Arguments kept per request; more are dropped and flagged (a body of a million ``&``)."""
MAX_JSON_DEPTH: Final = 1024
MAX_MULTIPART_PARTS: Final = 1_000

Pairs = tuple[tuple[str, str], ...]


def latin1_text(value: str) -> str:
    """``value`` as the engine holds it: unchanged when every character is a byte, else its
    UTF-8 bytes, one character each."""
    if all(c <= "\xff" for c in value):
        return value
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    uri: str
    """The request target as sent: ``/path?query``, ``*``, ``host:port`` or an absolute URL."""
    protocol: str = "HTTP/1.1"
    headers: Pairs = ()
    """Header (name, value) pairs in arrival order; names keep their case."""
    body: bytes = b""
    remote_addr: str = "127.0.0.1"
    remote_port: int = 0
    server_port: int = 80

    def __post_init__(self) -> None:
        # The engine works on bytes held Latin-1; text given as Unicode goes as UTF-8.
        for name in ("method", "uri", "protocol"):
            value = getattr(self, name)
            if not value.isascii():
                object.__setattr__(self, name, latin1_text(value))
        if not all(k.isascii() and v.isascii() for k, v in self.headers):
            fixed = tuple((latin1_text(k), latin1_text(v)) for k, v in self.headers)
            object.__setattr__(self, "headers", fixed)

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int = 200
    protocol: str = "HTTP/1.1"
    headers: Pairs = ()
    body: bytes = b""


@dataclass(slots=True)
class FilePart:
    field: str
    filename: str
    size: int


@dataclass(slots=True)
class ParsedBody:
    """What a body processor read: arguments, files, XML text, flags and errors."""

    processor: str = ""
    args: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    xml_text: list[str] = field(default_factory=list)
    xml_attributes: list[str] = field(default_factory=list)
    part_headers: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    multipart_flags: dict[str, int] = field(default_factory=dict)


def url_decode_form(text: str) -> str:
    """``+`` to space and valid ``%XX`` escapes to bytes; invalid escapes stay as sent."""
    if "%" not in text and "+" not in text:
        return text
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    hexdigits = "0123456789abcdefABCDEF"
    while i < n:
        char = text[i]
        if char == "%" and i + 2 < n + 0 and text[i + 1] in hexdigits and text[i + 2] in hexdigits:
            out.append(chr(int(text[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse_query(text: str, separator: str = "&") -> list[tuple[str, str]]:
    """``a=1&b=2`` as decoded (name, value) pairs; a name without ``=`` has an empty value."""
    pairs: list[tuple[str, str]] = []
    if not text:
        return pairs
    for chunk in text.split(separator):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        pairs.append((url_decode_form(name), url_decode_form(value)))
        if len(pairs) >= MAX_ARGS:
            break
    return pairs


def parse_cookies(values: list[str]) -> list[tuple[str, str]]:
    cookies: list[tuple[str, str]] = []
    for header in values:
        for raw_chunk in header.split(";"):
            chunk = raw_chunk.strip()
            if not chunk:
                continue
            name, _, value = chunk.partition("=")
            cookies.append((name.strip(), value))
    return cookies


def header_parameter(value: str, name: str) -> str | None:
    """A parameter of a header value such as ``multipart/form-data; boundary=x``."""
    for part in value.split(";")[1:]:
        key, sep, raw = part.strip().partition("=")
        if sep and key.strip().lower() == name:
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            return raw
    return None


def parse_urlencoded(body: str) -> ParsedBody:
    return ParsedBody(processor="URLENCODED", args=parse_query(body))


def parse_json(body: str) -> ParsedBody:
    result = ParsedBody(processor="JSON")
    try:
        document = json.loads(body.encode("latin-1").decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError) as exc:
        result.error = f"JSON parsing error: {exc}"
        return result
    stack: list[tuple[str, object, int]] = [("json", document, 0)]
    while stack:
        prefix, node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            result.error = "JSON parsing error: too deep"
            break
        if isinstance(node, dict):
            items = list(node.items())
            if not items:
                result.args.append((prefix, ""))
            for key, child in reversed(items):
                stack.append((f"{prefix}.{key}", child, depth + 1))
        elif isinstance(node, list):
            if not node:
                result.args.append((prefix, ""))
            for index in range(len(node) - 1, -1, -1):
                stack.append((f"{prefix}.{index}", node[index], depth + 1))
        else:
            result.args.append((_latin1(prefix), _latin1(_json_scalar(node))))
        if len(result.args) >= MAX_ARGS:
            break
    return result


def _json_scalar(node: object) -> str:
    if node is None:
        return ""
    if node is True:
        return "true"
    if node is False:
        return "false"
    return str(node)


def _latin1(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def parse_xml(body: str) -> ParsedBody:
    result = ParsedBody(processor="XML")
    try:
        # The standard library parser neither fetches external entities nor expands
        # entity bombs past expat's amplification limit.
        root = ET.fromstring(body.encode("latin-1"))  # noqa: S314
    except (ET.ParseError, ValueError, RecursionError) as exc:
        result.error = f"XML parsing error: {exc}"
        return result
    for element in root.iter():
        for value in element.attrib.values():
            result.xml_attributes.append(_latin1(value))
        if element.text and element.text.strip():
            result.xml_text.append(_latin1(element.text))
        if element.tail and element.tail.strip():
            result.xml_text.append(_latin1(element.tail))
    return result


def parse_multipart(body: str, content_type: str) -> ParsedBody:
    """multipart/form-data: fields to args, files to ``FILES``; oddities become flags."""
    result = ParsedBody(processor="MULTIPART")
    flags = {
        "MULTIPART_STRICT_ERROR": 0,
        "MULTIPART_UNMATCHED_BOUNDARY": 0,
        "MULTIPART_BOUNDARY_QUOTED": 0,
        "MULTIPART_BOUNDARY_WHITESPACE": 0,
        "MULTIPART_DATA_BEFORE": 0,
        "MULTIPART_DATA_AFTER": 0,
        "MULTIPART_HEADER_FOLDING": 0,
        "MULTIPART_LF_LINE": 0,
        "MULTIPART_MISSING_SEMICOLON": 0,
        "MULTIPART_INVALID_QUOTING": 0,
        "MULTIPART_INVALID_PART": 0,
        "MULTIPART_INVALID_HEADER_FOLDING": 0,
        "MULTIPART_FILE_LIMIT_EXCEEDED": 0,
        "MULTIPART_CRLF_LF_LINES": 0,
    }
    result.multipart_flags = flags
    boundary = header_parameter(content_type, "boundary")
    if 'boundary="' in content_type.replace(" ", "").lower():
        flags["MULTIPART_BOUNDARY_QUOTED"] = 1
    if not boundary:
        result.error = "Multipart: boundary not found in Content-Type"
        flags["MULTIPART_STRICT_ERROR"] = 1
        return result
    if boundary != boundary.strip() or " " in boundary:
        flags["MULTIPART_BOUNDARY_WHITESPACE"] = 1
    delimiter = "--" + boundary
    first = body.find(delimiter)
    if first < 0:
        result.error = "Multipart: no boundary found in the body"
        flags["MULTIPART_STRICT_ERROR"] = 1
        flags["MULTIPART_UNMATCHED_BOUNDARY"] = 1
        return result
    if body[:first].strip():
        flags["MULTIPART_DATA_BEFORE"] = 1
    chunks = body[first + len(delimiter) :].split(delimiter)
    closed = False
    for count, raw_chunk in enumerate(chunks):
        if count >= MAX_MULTIPART_PARTS:
            flags["MULTIPART_FILE_LIMIT_EXCEEDED"] = 1
            break
        chunk = raw_chunk
        if chunk.startswith("--"):
            closed = True
            if chunk[2:].strip():
                flags["MULTIPART_DATA_AFTER"] = 1
            break
        if chunk.startswith("\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith("\n"):
            chunk = chunk[1:]
            flags["MULTIPART_LF_LINE"] = 1
        else:
            flags["MULTIPART_INVALID_PART"] = 1
            continue
        head, sep, content = chunk.partition("\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition("\n\n")
            if sep:
                flags["MULTIPART_LF_LINE"] = 1
            else:
                flags["MULTIPART_INVALID_PART"] = 1
                continue
        if content.endswith("\r\n"):
            content = content[:-2]
        elif content.endswith("\n"):
            content = content[:-1]
        _read_part(result, head, content, flags)
    if not closed:
        flags["MULTIPART_UNMATCHED_BOUNDARY"] = 1
    if any(
        flags[name]
        for name in (
            "MULTIPART_BOUNDARY_QUOTED",
            "MULTIPART_BOUNDARY_WHITESPACE",
            "MULTIPART_DATA_BEFORE",
            "MULTIPART_DATA_AFTER",
            "MULTIPART_HEADER_FOLDING",
            "MULTIPART_LF_LINE",
            "MULTIPART_MISSING_SEMICOLON",
            "MULTIPART_INVALID_QUOTING",
            "MULTIPART_INVALID_PART",
            "MULTIPART_INVALID_HEADER_FOLDING",
            "MULTIPART_FILE_LIMIT_EXCEEDED",
        )
    ):
        flags["MULTIPART_STRICT_ERROR"] = 1
    return result


def _read_part(result: ParsedBody, head: str, content: str, flags: dict[str, int]) -> None:
    name: str | None = None
    filename: str | None = None
    lines = head.replace("\r\n", "\n").split("\n")
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            flags["MULTIPART_HEADER_FOLDING"] = 1
            if headers:
                key, value = headers[-1]
                headers[-1] = (key, value + " " + line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            flags["MULTIPART_INVALID_PART"] = 1
            continue
        headers.append((key.strip(), value.strip()))
    for key, value in headers:
        if key.lower() != "content-disposition":
            continue
        if not value.lower().startswith("form-data"):
            flags["MULTIPART_INVALID_PART"] = 1
        for param in value.split(";")[1:]:
            pkey, psep, pvalue = param.strip().partition("=")
            if not psep:
                continue
            pvalue = pvalue.strip()
            if pvalue.startswith('"'):
                if len(pvalue) < 2 or not pvalue.endswith('"'):
                    flags["MULTIPART_INVALID_QUOTING"] = 1
                pvalue = pvalue.strip('"')
            elif "'" in pvalue:
                flags["MULTIPART_INVALID_QUOTING"] = 1
            if pkey.lower() == "name":
                name = pvalue
            elif pkey.lower() == "filename":
                filename = pvalue
    for key, value in headers:
        result.part_headers.append((name or "", f"{key}: {value}"))
    if name is None:
        flags["MULTIPART_INVALID_PART"] = 1
        return
    if filename is not None:
        result.files.append(FilePart(field=name, filename=filename, size=len(content)))
    else:
        result.args.append((name, content))


def process_body(processor: str, body: str, content_type: str) -> ParsedBody:
    """Run the named processor (``URLENCODED``, ``MULTIPART``, ``JSON``, ``XML``)."""
    if processor == "URLENCODED":
        return parse_urlencoded(body)
    if processor == "MULTIPART":
        return parse_multipart(body, content_type)
    if processor == "JSON":
        return parse_json(body)
    if processor == "XML":
        return parse_xml(body)
    return ParsedBody(processor=processor)


def default_processor(content_type: str) -> str:
    """The processor ModSecurity picks by itself from the Content-Type (others need ctl)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return "URLENCODED"
    if media == "multipart/form-data":
        return "MULTIPART"
    return ""
