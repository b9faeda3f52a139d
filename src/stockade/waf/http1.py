"""A strict, bounded HTTP/1.x request parser: raw bytes to :class:`HttpRequest`.

Sans-io and total: any input either parses or raises :class:`RequestError`. Limits keep
hostile input bounded. It is strict about framing (CRLF or LF line ends, one
Content-Length or valid chunking, no obsolete line folding) and lenient about what the
rules are there to judge (odd methods, odd targets, odd header values), so the engine
sees the request as it was sent.
"""

from __future__ import annotations

from typing import Final

from stockade.waf.errors import RequestError
from stockade.waf.request import HttpRequest

MAX_HEADER_BYTES: Final = 64 * 1024
MAX_HEADERS: Final = 200
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
_TOKEN: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def parse_request(raw: bytes, *, remote_addr: str = "127.0.0.1") -> HttpRequest:
    """Parse one complete request (head and body) from ``raw``."""
    end = raw.find(b"\r\n\r\n")
    separator = 4
    lf_end = raw.find(b"\n\n")
    if end < 0 or (0 <= lf_end < end):
        end, separator = lf_end, 2
    if end < 0:
        raise RequestError("request head is incomplete (no empty line)")
    if end > MAX_HEADER_BYTES:
        raise RequestError(f"request head is larger than {MAX_HEADER_BYTES} bytes")
    head = raw[:end].decode("latin-1")
    rest = raw[end + separator :]
    lines = head.replace("\r\n", "\n").split("\n")
    method, uri, protocol = _request_line(lines[0])
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise RequestError("obsolete header line folding is not accepted")
        name, sep, value = line.partition(":")
        if not sep or not name or any(c not in _TOKEN for c in name):
            raise RequestError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip(" \t")))
        if len(headers) > MAX_HEADERS:
            raise RequestError(f"more than {MAX_HEADERS} header lines")
    body = _body(headers, rest)
    return HttpRequest(
        method=method,
        uri=uri,
        protocol=protocol,
        headers=tuple(headers),
        body=body,
        remote_addr=remote_addr,
    )


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) == 2 and parts[1]:
        # HTTP/0.9 style: no version
        return parts[0], parts[1], "HTTP/0.9"
    if len(parts) < 3 or not parts[0] or not parts[-1]:
        raise RequestError(f"malformed request line {line[:80]!r}")
    method, protocol = parts[0], parts[-1]
    uri = " ".join(parts[1:-1])
    if any(c not in _TOKEN for c in method):
        raise RequestError(f"malformed method {method[:20]!r}")
    if not protocol.startswith("HTTP/"):
        raise RequestError(f"malformed protocol {protocol[:20]!r}")
    return method, uri, protocol


def _body(headers: list[tuple[str, str]], rest: bytes) -> bytes:
    lengths = [v for k, v in headers if k.lower() == "content-length"]
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    if chunked:
        return _dechunk(rest)
    if not lengths:
        return rest[:MAX_BODY_BYTES]
    if len(set(lengths)) > 1:
        raise RequestError("conflicting Content-Length headers")
    try:
        length = int(lengths[0])
    except ValueError as exc:
        raise RequestError(f"Content-Length {lengths[0][:20]!r} is not a number") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise RequestError("Content-Length is out of range")
    return rest[:length]


def _dechunk(data: bytes) -> bytes:
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\n", position)
        if line_end < 0:
            raise RequestError("chunked body ends inside a chunk size line")
        size_text = data[position:line_end].rstrip(b"\r").split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise RequestError("malformed chunk size") from exc
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise RequestError("chunked body is too large")
        position = line_end + 1
        if size == 0:
            return bytes(body)
        if position + size > len(data):
            raise RequestError("chunked body ends inside a chunk")
        body += data[position : position + size]
        position += size
        if data[position : position + 2] == b"\r\n":
            position += 2
        elif data[position : position + 1] == b"\n":
            position += 1
        else:
            raise RequestError("chunk is not followed by a line end")
