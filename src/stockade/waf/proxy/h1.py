"""Sans-io HTTP/1.1 for the proxy: heads, body framing, chunked coding, what is sent on.

Nothing here touches a socket. The server feeds bytes in and gets records or
:class:`HttpProtocolError` (with the status to answer) out. The parser is strict where
framing is at stake, because a proxy and the server behind it must agree on where one
request ends and the next begins (request smuggling lives in that gap): bare CR, obsolete
line folding, whitespace before a colon, a Content-Length that is not one plain number,
Content-Length together with Transfer-Encoding, and any transfer coding but ``chunked``
are refused. It is lenient about what the rules are there to judge (odd methods, odd
targets, odd header values): such requests are parsed, handed to the decider, and only
then refused (:func:`request_problem`), so the audit log shows what they were.

Whatever is accepted is sent on re-serialised (CRLF line ends, hop-by-hop headers
dropped, one framing header the proxy chose), never as the client's bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from stockade.waf.errors import RequestError

__all__ = [
    "ChunkedDecoder",
    "Framing",
    "HeadLimits",
    "HttpProtocolError",
    "Problem",
    "RequestHead",
    "ResponseHead",
    "encode_chunk",
    "find_head_end",
    "parse_request_head",
    "parse_response_head",
    "request_framing",
    "request_problem",
    "response_framing",
]

Headers = tuple[tuple[str, str], ...]

TCHAR: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_VERSION: Final = re.compile(r"HTTP/(\d)\.(\d)")
_STATUS_LINE: Final = re.compile(r"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?")
_CONTROL_IN_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f]")
_HOST: Final = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
"""A Host value: a name or an IPv4 address, or an IPv6 literal, and an optional port."""
_ABSOLUTE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(?:[/?].*)?", re.DOTALL)
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
FINAL_CHUNK: Final = b"0\r\n\r\n"

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that describe one connection, never forwarded as received (RFC 9110 7.6.1)."""

REASONS: Final = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class HttpProtocolError(RequestError):
    """Bytes that are not an acceptable HTTP/1.1 message; ``status`` is what to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """Bounds on a message head (Apache's LimitRequestLine/FieldSize/Fields, roughly)."""

    max_head_bytes: int = 64 * 1024
    max_line_bytes: int = 16 * 1024
    max_headers: int = 100


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a parsed request is refused after the decider has seen it."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    protocol: str
    """As sent (``HTTP/1.1``); ``HTTP/0.9`` for a request line without a version."""
    version: tuple[int, int]
    headers: Headers
    """(name, value) in arrival order; names keep their case, values lose outer OWS."""
    bad_values: bool = False
    """A header value holds a control character (NUL, bare CR…): refused after deciding."""

    def values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def get(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def connection_tokens(self) -> set[str]:
        return {t.strip().lower() for v in self.values("connection") for t in v.split(",")}

    @property
    def keep_alive(self) -> bool:
        """Whether the client asked to keep the connection after this exchange."""
        tokens = self.connection_tokens()
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens and "close" not in tokens

    @property
    def wants_websocket(self) -> bool:
        upgrade = {t.strip().lower() for v in self.values("upgrade") for t in v.split(",")}
        return (
            self.method == "GET"
            and self.version >= (1, 1)
            and "websocket" in upgrade
            and "upgrade" in self.connection_tokens()
        )


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    reason: str
    version: tuple[int, int]
    headers: Headers

    def values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def get(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for v in self.values("connection") for t in v.split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens


@dataclass(frozen=True, slots=True)
class Framing:
    """Where a message body ends."""

    kind: Literal["none", "length", "chunked", "close", "invalid"]
    length: int = 0
    reason: str = ""

    @property
    def has_body(self) -> bool:
        return self.kind in ("length", "chunked", "close") and not (
            self.kind == "length" and self.length == 0
        )


NO_BODY: Final = Framing("none")


def find_head_end(buffer: bytes | bytearray, limit: int) -> int:
    """Index just past the empty line that ends a head within ``limit`` bytes, or -1.

    Lines may end in CRLF or a bare LF (RFC 9112 2.2 lets a recipient accept LF)."""
    crlf = buffer.find(b"\n\r\n", 0, limit + 3)
    lf = buffer.find(b"\n\n", 0, limit + 2)
    if crlf < 0 and lf < 0:
        return -1
    if lf < 0 or (0 <= crlf < lf):
        return crlf + 3
    return lf + 2


def _lines(raw: bytes, limits: HeadLimits) -> list[str]:
    text = raw.decode("latin-1")
    if "\r" in text.replace("\r\n", ""):
        raise HttpProtocolError(400, "bare CR in the message head")
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines:
        raise HttpProtocolError(400, "empty message head")
    if len(lines) - 1 > limits.max_headers:
        raise HttpProtocolError(431, f"more than {limits.max_headers} header fields")
    return lines


def _header_fields(lines: Sequence[str], limits: HeadLimits) -> tuple[Headers, bool]:
    headers: list[tuple[str, str]] = []
    bad_values = False
    for line in lines:
        if len(line) > limits.max_line_bytes:
            raise HttpProtocolError(431, f"a header field is longer than {limits.max_line_bytes}")
        if not line:
            raise HttpProtocolError(400, "empty line inside the head")
        if line[0] in " \t":
            raise HttpProtocolError(400, "obsolete line folding is not accepted")
        name, sep, value = line.partition(":")
        if not sep or not name or not TCHAR.issuperset(name):
            raise HttpProtocolError(400, f"malformed header field {line[:60]!r}")
        value = value.strip(" \t")
        if _CONTROL_IN_VALUE.search(value):
            bad_values = True
        headers.append((name, value))
    return tuple(headers), bad_values


def parse_request_head(raw: bytes, limits: HeadLimits | None = None) -> RequestHead:
    """A request head (request line and fields, up to the empty line) or the error."""
    limits = limits or HeadLimits()
    if len(raw) > limits.max_head_bytes + 4:
        raise HttpProtocolError(431, f"request head is larger than {limits.max_head_bytes}")
    lines = _lines(raw, limits)
    line = lines[0]
    if len(line) > limits.max_line_bytes:
        raise HttpProtocolError(414, f"request line is longer than {limits.max_line_bytes}")
    line = line.rstrip(" ")
    first = line.find(" ")
    if first <= 0:
        raise HttpProtocolError(400, f"malformed request line {line[:60]!r}")
    method = line[:first]
    if not TCHAR.issuperset(method):
        raise HttpProtocolError(400, f"malformed method {method[:20]!r}")
    rest = line[first + 1 :]
    last = rest.rfind(" ")
    if last < 0:
        # No version: an HTTP/0.9 request line. Decided on, then refused.
        target, protocol, version = rest, "HTTP/0.9", (0, 9)
    else:
        target, protocol = rest[:last], rest[last + 1 :]
        match = _VERSION.fullmatch(protocol)
        if match is None:
            raise HttpProtocolError(400, f"malformed protocol version {protocol[:20]!r}")
        version = (int(match.group(1)), int(match.group(2)))
    if not target:
        raise HttpProtocolError(400, "empty request target")
    headers, bad_values = _header_fields(lines[1:], limits)
    return RequestHead(method, target, protocol, version, headers, bad_values)


def request_framing(head: RequestHead) -> Framing:
    """Where the request body ends (RFC 9112 6.3), or ``invalid`` when that is ambiguous."""
    codings = head.values("transfer-encoding")
    lengths = head.values("content-length")
    if codings:
        if lengths:
            return Framing("invalid", reason="both Content-Length and Transfer-Encoding")
        if head.version < (1, 1):
            return Framing("invalid", reason="Transfer-Encoding in an HTTP/1.0 request")
        if len(codings) != 1 or codings[0].strip().lower() != "chunked":
            return Framing("invalid", reason="a transfer coding other than chunked alone")
        return Framing("chunked")
    if not lengths:
        return NO_BODY
    if len(lengths) > 1:
        return Framing("invalid", reason="more than one Content-Length")
    text = lengths[0]
    if not text.isdigit() or not text.isascii() or len(text) > 18:
        return Framing("invalid", reason="Content-Length is not a plain number")
    return Framing("length", int(text))


def request_problem(head: RequestHead) -> Problem | None:
    """Why this parsed request must not be forwarded, checked after the decider has seen it."""
    if head.version[0] == 0:
        return Problem(400, "HTTP/0.9 is not supported")
    if head.version[0] >= 2:
        return Problem(505, f"{head.protocol} is not supported")
    target = head.target
    if _CONTROL_OR_SPACE.search(target):
        return Problem(400, "whitespace or a control character in the request target")
    if head.method == "CONNECT":
        return Problem(405, "CONNECT is not proxied")
    if not (
        target.startswith("/")
        or (target == "*" and head.method == "OPTIONS")
        or _ABSOLUTE.fullmatch(target)
    ):
        return Problem(400, "the request target is not a path, * or an absolute URL")
    if "#" in target:
        return Problem(400, "a fragment in the request target")
    if head.bad_values:
        return Problem(400, "a control character in a header value")
    hosts = head.values("host")
    if len(hosts) > 1:
        return Problem(400, "more than one Host header")
    if not hosts and head.version >= (1, 1):
        return Problem(400, "HTTP/1.1 request without Host")
    if hosts and not _HOST.fullmatch(hosts[0]):
        return Problem(400, "the Host header is not a host name or address")
    expect = head.values("expect")
    if expect and (len(expect) > 1 or expect[0].lower() != "100-continue"):
        return Problem(417, "unsupported expectation")
    return None


def parse_response_head(raw: bytes, limits: HeadLimits | None = None) -> ResponseHead:
    limits = limits or HeadLimits(max_headers=256)
    lines = _lines(raw, limits)
    match = _STATUS_LINE.fullmatch(lines[0].rstrip(" "))
    if match is None:
        raise HttpProtocolError(502, f"malformed status line {lines[0][:60]!r}")
    headers, bad_values = _header_fields(lines[1:], limits)
    if bad_values:
        raise HttpProtocolError(502, "a control character in a response header")
    reason = match.group(4) or ""
    return ResponseHead(
        status=int(match.group(3)),
        reason=reason,
        version=(int(match.group(1)), int(match.group(2))),
        headers=headers,
    )


def response_framing(head: ResponseHead, request_method: str) -> Framing:
    """Where a response body ends (RFC 9112 6.3); ``invalid`` for conflicting lengths."""
    if request_method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return NO_BODY
    codings = head.values("transfer-encoding")
    if codings:
        last = codings[-1].split(",")[-1].strip().lower()
        return Framing("chunked") if last == "chunked" else Framing("close")
    lengths = {v.strip() for value in head.values("content-length") for v in value.split(",")}
    if not lengths:
        return Framing("close")
    if len(lengths) > 1:
        return Framing("invalid", reason="conflicting Content-Length in the response")
    text = lengths.pop()
    if not text.isdigit() or not text.isascii() or len(text) > 18:
        return Framing("invalid", reason="malformed Content-Length in the response")
    return Framing("length", int(text))


def without_hop_by_hop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers minus the hop-by-hop ones, those the Connection header names, and
    Content-Length (the proxy frames what it sends itself)."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    drop = HOP_BY_HOP | named | {"content-length"}
    return [(k, v) for k, v in headers if k.lower() not in drop]


def serialize_head(first_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    parts = [first_line]
    parts.extend(f"{name}: {value}" for name, value in headers)
    parts.append("\r\n")
    return "\r\n".join(parts).encode("latin-1")


def status_line(status: int, reason: str = "") -> str:
    reason = reason or REASONS.get(status, "")
    # The reason phrase is the upstream's text: keep it printable.
    reason = "".join(c for c in reason if " " <= c <= "~" or c >= "\x80")
    return f"HTTP/1.1 {status} {reason}"


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


class ChunkedDecoder:
    """Incremental chunked decoding (RFC 9112 7.1); trailers are read and dropped.

    :meth:`feed` takes what arrived and returns the data it holds and how many bytes it
    used: bytes after the final chunk belong to the next message and stay with the caller.
    """

    __slots__ = ("_line", "_remaining", "_state", "_trailer_bytes", "max_line", "max_trailer")

    def __init__(self, *, max_line: int = 4096, max_trailer: int = 16 * 1024) -> None:
        self._state = "size"
        self._line = bytearray()
        self._remaining = 0
        self._trailer_bytes = 0
        self.max_line = max_line
        self.max_trailer = max_trailer

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes | bytearray) -> tuple[list[bytes], int]:
        view = memoryview(data)
        pieces: list[bytes] = []
        position = 0
        end = len(data)
        while position < end and self._state != "done":
            if self._state == "data":
                take = min(self._remaining, end - position)
                pieces.append(bytes(view[position : position + take]))
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data-end"
                continue
            newline = data.find(b"\n", position)
            stop = newline if newline >= 0 else end
            self._line += view[position:stop]
            if len(self._line) > self.max_line:
                raise HttpProtocolError(400, "chunk line is too long")
            if newline < 0:
                position = end
                break
            position = newline + 1
            line = bytes(self._line)
            self._line.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line_done(line)
        view.release()
        return pieces, position

    def _line_done(self, line: bytes) -> None:
        state = self._state
        if state == "size":
            size_text, _, _extensions = line.partition(b";")
            size_text = size_text.rstrip(b" \t")
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise HttpProtocolError(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                self._state = "trailer"
            else:
                self._remaining = size
                self._state = "data"
        elif state == "data-end":
            if line:
                raise HttpProtocolError(400, "chunk data is not followed by a line end")
            self._state = "size"
        elif state == "trailer":
            if not line:
                self._state = "done"
                return
            self._trailer_bytes += len(line)
            if self._trailer_bytes > self.max_trailer:
                raise HttpProtocolError(431, "chunked trailer section is too large")
            if line[:1] in (b" ", b"\t") or b":" not in line:
                raise HttpProtocolError(400, "malformed trailer field")
