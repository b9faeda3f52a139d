"""Protocol violations and malformed requests (HTTP request smuggling, response
splitting, invalid encodings, odd methods, versions and headers).

Every check has its own rule id (``protocol.missing-host``…), so one check can be turned
off with a policy exception on that id without losing the others.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import detection, snippet
from stockade.waf.protections.view import ARG, ARG_NAME, XML, RequestView

__all__ = ["ProtocolSettings", "ProtocolValidation"]

DEFAULT_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_VERSIONS: Final = ("HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0")
DEFAULT_CONTENT_TYPES: Final = (
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/related",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/xml",
    "application/*+xml",
    "text/xml",
    "text/plain",
    "application/octet-stream",
    "application/graphql",
)
DEFAULT_CHARSETS: Final = ("utf-8", "iso-8859-1", "iso-8859-15", "windows-1252", "us-ascii")
DEFAULT_RESTRICTED_HEADERS: Final = (
    "proxy",
    "lock-token",
    "content-range",
    "translate",
    "if",
    "request-range",
)
"""``Proxy`` (httpoxy), WebDAV lock headers, IIS ``Translate`` (source disclosure),
request-side ``Content-Range`` and the legacy ``Request-Range``."""

_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z").match
_DIGITS: Final = re.compile(r"[0-9]{1,18}\Z").match
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNICODE_PERCENT: Final = re.compile(r"%[uU][0-9A-Fa-f]{4}")
_HEADER_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URI_CONTROL: Final = re.compile(r"[\x00-\x20\x7f]")
_ENCODED_NEWLINE: Final = re.compile(r"%0[aAdD]")
_SPLITTING: Final = re.compile(
    r"(?<![\r\n])[\r\n]++[ \t]*+(?:[a-z0-9-]{1,40}\s*:\s*\S|http/\d|"
    r"(?:get|post|head|put|delete|options|patch|connect|trace)\s+\S+\s+http/)",
    re.IGNORECASE,
)
_RANGE: Final = re.compile(r"^\s*bytes\s*=\s*(.*)$", re.IGNORECASE)
_IP_HOST: Final = re.compile(
    r"(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\Z|\[[0-9a-fA-F:.]+\](?::\d+)?\Z"
).match
_REQUEST_LINE: Final = re.compile(
    r"\b(?:get|post|head|put|delete|options|patch|connect|trace)\s+\S+\s+http/\d",
    re.IGNORECASE,
)
_STRICT_MULTIPART: Final = (
    "MULTIPART_BOUNDARY_QUOTED",
    "MULTIPART_BOUNDARY_WHITESPACE",
    "MULTIPART_DATA_BEFORE",
    "MULTIPART_HEADER_FOLDING",
    "MULTIPART_INVALID_HEADER_FOLDING",
    "MULTIPART_INVALID_PART",
    "MULTIPART_MISSING_SEMICOLON",
    "MULTIPART_UNMATCHED_BOUNDARY",
    "MULTIPART_FILE_LIMIT_EXCEEDED",
)
"""Multipart oddities that parsers disagree on (evasion); LF-only lines, loose quoting
and an epilogue after the last boundary are common in real clients and not flagged."""
_COMMON_HEADER_NAMES: Final = frozenset(
    {
        "Host",
        "User-Agent",
        "Accept",
        "Accept-Language",
        "Accept-Encoding",
        "Cookie",
        "Referer",
        "Connection",
        "Content-Type",
        "Content-Length",
        "Authorization",
        "Cache-Control",
        "Origin",
        "Upgrade-Insecure-Requests",
        "If-None-Match",
        "If-Modified-Since",
        "host",
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "cookie",
        "referer",
        "connection",
        "content-type",
        "content-length",
        "authorization",
        "cache-control",
        "origin",
        "upgrade-insecure-requests",
        "if-none-match",
        "if-modified-since",
    }
)
"""Header names known to be valid tokens (skips the token check on nearly every header)."""
_HOST_VALUE: Final = re.compile(r"[A-Za-z0-9.:\[\]_-]{1,255}\Z").match


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """Limits and allow-lists of :class:`ProtocolValidation` (policy ``protocol:`` keys)."""

    allowed_methods: tuple[str, ...] = DEFAULT_METHODS
    allowed_versions: tuple[str, ...] = DEFAULT_VERSIONS
    allowed_content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    """Media types (``fnmatch`` patterns) a request body may have."""
    allowed_charsets: tuple[str, ...] = DEFAULT_CHARSETS
    restricted_headers: tuple[str, ...] = DEFAULT_RESTRICTED_HEADERS
    max_header_length: int = 8192
    """Longest header value accepted, in bytes."""
    max_headers: int = 100
    max_ranges: int = 5
    max_args: int = 1000


class ProtocolValidation:
    """Checks a request against HTTP/1.1's rules and the configured limits."""

    name = "protocol"

    def __init__(self, settings: ProtocolSettings | None = None) -> None:
        self.settings = settings or ProtocolSettings()
        self._methods = frozenset(m.upper() for m in self.settings.allowed_methods)
        self._versions = frozenset(v.upper() for v in self.settings.allowed_versions)
        self._content_types = tuple(t.lower() for t in self.settings.allowed_content_types)
        self._charsets = frozenset(c.lower() for c in self.settings.allowed_charsets)
        self._restricted = frozenset(h.lower() for h in self.settings.restricted_headers)

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        self._request_line(view, found)
        self._framing(view, found)
        self._headers(view, found)
        self._content(view, found)
        self._arguments(view, found)
        return found

    def _request_line(self, view: RequestView, found: list[Detection]) -> None:
        method = view.method
        if method in self._methods:
            pass
        elif not _TOKEN(method):
            found.append(
                detection(
                    self.name,
                    "protocol.method",
                    "malformed request method",
                    location="REQUEST_METHOD",
                    matched=snippet(method),
                )
            )
        elif method.upper() not in self._methods:
            found.append(
                detection(
                    self.name,
                    "protocol.method",
                    f"method {method[:20]} is not allowed",
                    location="REQUEST_METHOD",
                    matched=snippet(method),
                    severity="error",
                )
            )
        if view.protocol.upper() not in self._versions:
            found.append(
                detection(
                    self.name,
                    "protocol.version",
                    "HTTP version is not allowed",
                    location="REQUEST_PROTOCOL",
                    matched=snippet(view.protocol),
                    severity="error",
                )
            )
        target = view.request.uri
        clean = target.isprintable() and " " not in target
        match = None if clean else _URI_CONTROL.search(target)
        if match is None and ("\r" in view.path or "\n" in view.path):
            match = _URI_CONTROL.search(view.path)
            target = view.path
        if match:
            found.append(
                detection(
                    self.name,
                    "protocol.uri-control",
                    "control character or space in the request target",
                    location="REQUEST_URI",
                    matched=snippet(target, max(0, match.start() - 20), match.end() + 20),
                )
            )
        raw = view.raw_path + ("?" + view.query if view.query else "")
        if "%" in raw:
            match = _BAD_PERCENT.search(raw) or _UNICODE_PERCENT.search(raw)
            if match:
                found.append(
                    detection(
                        self.name,
                        "protocol.url-encoding",
                        "invalid or non-standard (%u) URL encoding",
                        location="REQUEST_URI",
                        matched=snippet(raw, max(0, match.start() - 20), match.end() + 10),
                        severity="warning",
                    )
                )

    def _framing(self, view: RequestView, found: list[Detection]) -> None:
        headers = view.headers
        hosts = headers.get("host", [])
        if len(hosts) > 1:
            found.append(
                detection(
                    self.name,
                    "protocol.multiple-host",
                    "more than one Host header",
                    location="REQUEST_HEADERS:Host",
                    matched=snippet(", ".join(hosts)),
                )
            )
        elif view.protocol.upper() in {"HTTP/1.1", "HTTP/1.0"} and (
            not hosts or not hosts[0].strip()
        ):
            version = view.protocol.upper()
            found.append(
                detection(
                    self.name,
                    "protocol.missing-host",
                    f"{version} request without a Host header",
                    location="REQUEST_HEADERS:Host",
                    severity="warning" if version == "HTTP/1.1" else "notice",
                )
            )
        elif hosts and not _HOST_VALUE(hosts[0].strip()):
            found.append(
                detection(
                    self.name,
                    "protocol.host",
                    "malformed Host header",
                    location="REQUEST_HEADERS:Host",
                    matched=snippet(hosts[0]),
                    severity="warning",
                )
            )
        elif hosts and _IP_HOST(hosts[0].strip()):
            found.append(
                detection(
                    self.name,
                    "protocol.host-ip",
                    "Host is a numeric IP address (typical of scanners and bots)",
                    location="REQUEST_HEADERS:Host",
                    matched=snippet(hosts[0]),
                    severity="notice",
                )
            )
        agents = headers.get("user-agent")
        if agents is not None and not any(a.strip() for a in agents):
            found.append(
                detection(
                    self.name,
                    "protocol.empty-user-agent",
                    "empty User-Agent header",
                    location="REQUEST_HEADERS:User-Agent",
                    severity="notice",
                )
            )
        lengths = headers.get("content-length", [])
        encodings = headers.get("transfer-encoding", [])
        if lengths:
            parts = [p.strip() for value in lengths for p in value.split(",")]
            if not all(_DIGITS(p) for p in parts):
                found.append(
                    detection(
                        self.name,
                        "protocol.content-length",
                        "Content-Length is not a number",
                        location="REQUEST_HEADERS:Content-Length",
                        matched=snippet(", ".join(lengths)),
                    )
                )
            elif len(set(parts)) > 1:
                found.append(
                    detection(
                        self.name,
                        "protocol.content-length",
                        "conflicting Content-Length values",
                        location="REQUEST_HEADERS:Content-Length",
                        matched=snippet(", ".join(lengths)),
                    )
                )
        if lengths and encodings:
            found.append(
                detection(
                    self.name,
                    "protocol.cl-te",
                    "both Content-Length and Transfer-Encoding (request smuggling)",
                    location="REQUEST_HEADERS:Transfer-Encoding",
                    matched=snippet(", ".join(encodings)),
                )
            )
        if encodings:
            codings = [c.strip().lower() for value in encodings for c in value.split(",")]
            if codings != ["chunked"] or view.protocol.upper() == "HTTP/1.0":
                found.append(
                    detection(
                        self.name,
                        "protocol.transfer-encoding",
                        "Transfer-Encoding other than a single chunked (request smuggling)",
                        location="REQUEST_HEADERS:Transfer-Encoding",
                        matched=snippet(", ".join(encodings)),
                    )
                )
        has_body = bool(view.request.body) or any(p.strip() not in {"", "0"} for p in lengths)
        if view.method.upper() in {"GET", "HEAD"} and (has_body or encodings):
            found.append(
                detection(
                    self.name,
                    "protocol.get-body",
                    f"{view.method.upper()} request with a body",
                    location="REQUEST_BODY",
                    severity="warning",
                )
            )

    def _headers(self, view: RequestView, found: list[Detection]) -> None:
        settings = self.settings
        headers = view.request.headers
        if len(headers) > settings.max_headers:
            found.append(
                detection(
                    self.name,
                    "protocol.header-count",
                    f"more than {settings.max_headers} headers",
                    location="REQUEST_HEADERS",
                    severity="error",
                )
            )
        for name, value in headers:
            lower = name.lower()
            location = "REQUEST_HEADERS:" + name
            if name not in _COMMON_HEADER_NAMES and not _TOKEN(name):
                found.append(
                    detection(
                        self.name,
                        "protocol.header-control",
                        "malformed header name",
                        location="REQUEST_HEADERS_NAMES:" + name,
                        matched=snippet(name),
                    )
                )
            match = None if value.isprintable() else _HEADER_CONTROL.search(value)
            if match:
                found.append(
                    detection(
                        self.name,
                        "protocol.header-control",
                        "control character in a header value (header injection)",
                        location=location,
                        matched=snippet(value, max(0, match.start() - 20), match.end() + 40),
                    )
                )
            elif "%0" in value and _ENCODED_NEWLINE.search(value):
                decoded = value.replace("%0d", "\r").replace("%0D", "\r")
                decoded = decoded.replace("%0a", "\n").replace("%0A", "\n")
                match = _SPLITTING.search(decoded)
                if match:
                    found.append(
                        detection(
                            self.name,
                            "protocol.header-control",
                            "encoded line break and header in a header value",
                            location=location,
                            matched=snippet(value),
                        )
                    )
            if len(value) > settings.max_header_length:
                found.append(
                    detection(
                        self.name,
                        "protocol.header-length",
                        f"header value longer than {settings.max_header_length} bytes",
                        location=location,
                        matched=f"{len(value)} bytes",
                        severity="error",
                    )
                )
            if lower in self._restricted:
                found.append(
                    detection(
                        self.name,
                        "protocol.restricted-header",
                        f"restricted header {name}",
                        location=location,
                        matched=snippet(value) if lower != "proxy" else snippet(value, 0, 40),
                    )
                )
        connection = [
            token.strip().lower()
            for value in view.headers.get("connection", [])
            for token in value.split(",")
        ]
        if connection and (
            len(connection) != len(set(connection)) or {"close", "keep-alive"} <= set(connection)
        ):
            found.append(
                detection(
                    self.name,
                    "protocol.connection",
                    "duplicate or conflicting Connection options",
                    location="REQUEST_HEADERS:Connection",
                    matched=snippet(", ".join(connection)),
                    severity="warning",
                )
            )
        for value in view.headers.get("range", []):
            self._range(value, found)

    def _range(self, value: str, found: list[Detection]) -> None:
        match = _RANGE.match(value)
        problem = ""
        if match is None:
            problem = "malformed Range header"
        else:
            ranges = match.group(1).split(",")
            if len(ranges) > self.settings.max_ranges:
                problem = f"more than {self.settings.max_ranges} byte ranges"
            for item in ranges:
                first, sep, last = item.strip().partition("-")
                if (
                    not sep
                    or (first and not first.isdigit())
                    or (last and not last.isdigit())
                    or (not first and not last)
                    or (first and last and int(last[:18]) < int(first[:18]))
                ):
                    problem = problem or "invalid byte range"
        if problem:
            found.append(
                detection(
                    self.name,
                    "protocol.range",
                    problem,
                    location="REQUEST_HEADERS:Range",
                    matched=snippet(value),
                    severity="warning",
                )
            )

    def _content(self, view: RequestView, found: list[Detection]) -> None:
        content_types = view.headers.get("content-type", [])
        body = view.request.body
        if len(content_types) > 1:
            found.append(
                detection(
                    self.name,
                    "protocol.content-type",
                    "more than one Content-Type header",
                    location="REQUEST_HEADERS:Content-Type",
                    matched=snippet(", ".join(content_types)),
                )
            )
        if body and not content_types:
            found.append(
                detection(
                    self.name,
                    "protocol.missing-content-type",
                    "request body without a Content-Type",
                    location="REQUEST_HEADERS:Content-Type",
                    severity="notice",
                )
            )
        if content_types:
            media = view.media_type
            if not any(fnmatch.fnmatchcase(media, pattern) for pattern in self._content_types):
                found.append(
                    detection(
                        self.name,
                        "protocol.content-type",
                        "Content-Type is not allowed",
                        location="REQUEST_HEADERS:Content-Type",
                        matched=snippet(content_types[0]),
                    )
                )
            params = [p.strip() for p in content_types[0].split(";")[1:]]
            names = [p.partition("=")[0].strip().lower() for p in params]
            charsets = [
                p.partition("=")[2].strip().strip("\"'").lower()
                for p, n in zip(params, names, strict=True)
                if n == "charset"
            ]
            if len(names) != len(set(names)) or any(c not in self._charsets for c in charsets):
                found.append(
                    detection(
                        self.name,
                        "protocol.content-type",
                        "repeated Content-Type parameter or charset not allowed",
                        location="REQUEST_HEADERS:Content-Type",
                        matched=snippet(content_types[0]),
                    )
                )
        if view.body_error:
            found.append(
                detection(
                    self.name,
                    "protocol.body-parse",
                    f"request body does not parse as {view.body_processor or 'declared'}",
                    location="REQBODY_ERROR",
                    matched=snippet(view.body_error),
                    severity="error",
                )
            )
        elif (
            view.multipart_flags
            and not view.body_truncated
            and any(view.multipart_flags.get(flag) for flag in _STRICT_MULTIPART)
        ):
            flags = [flag for flag in _STRICT_MULTIPART if view.multipart_flags.get(flag)]
            found.append(
                detection(
                    self.name,
                    "protocol.body-parse",
                    "malformed multipart body",
                    location="MULTIPART_STRICT_ERROR",
                    matched=snippet(", ".join(flags)),
                )
            )
        if view.media_type == "application/x-www-form-urlencoded" and b"%" in view.body:
            text = view.body.decode("latin-1")
            match = _BAD_PERCENT.search(text) or _UNICODE_PERCENT.search(text)
            if match:
                found.append(
                    detection(
                        self.name,
                        "protocol.url-encoding",
                        "invalid or non-standard (%u) URL encoding in the body",
                        location="REQUEST_BODY",
                        matched=snippet(text, max(0, match.start() - 20), match.end() + 10),
                        severity="warning",
                    )
                )

    def _arguments(self, view: RequestView, found: list[Detection]) -> None:
        count = len(view.query_args) + len(view.body_args)
        if count > self.settings.max_args:
            found.append(
                detection(
                    self.name,
                    "protocol.args-count",
                    f"more than {self.settings.max_args} arguments",
                    location="ARGS",
                    severity="error",
                )
            )
        for item in view.suspects:
            if item.kind not in (ARG, ARG_NAME, XML):
                continue
            value = item.value
            if "\r" not in value and "\n" not in value:
                if " " in value and "/" in value:
                    match = _REQUEST_LINE.search(value)
                    if match:
                        found.append(
                            detection(
                                self.name,
                                "protocol.smuggling",
                                "HTTP request line inside an argument (request smuggling)",
                                item,
                                matched=snippet(value, match.start(), match.end()),
                            )
                        )
                continue
            if item.kind == ARG_NAME:
                found.append(
                    detection(
                        self.name,
                        "protocol.response-splitting",
                        "line break in an argument name",
                        item,
                        matched=snippet(value),
                    )
                )
                continue
            match = _SPLITTING.search(value)
            if match:
                found.append(
                    detection(
                        self.name,
                        "protocol.response-splitting",
                        "line break followed by a header or request line (response splitting)",
                        item,
                        matched=snippet(value, match.start(), match.end() + 40),
                    )
                )
