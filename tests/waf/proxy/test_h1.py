"""The proxy's sans-io HTTP/1.1: heads, framing, chunked coding; fuzzed for totality."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.waf.proxy.h1 import (
    ChunkedDecoder,
    HeadLimits,
    HttpProtocolError,
    encode_chunk,
    find_head_end,
    parse_request_head,
    parse_response_head,
    request_framing,
    request_problem,
    response_framing,
    without_hop_by_hop,
)


def head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n"


def test_a_plain_request_head_parses() -> None:
    parsed = parse_request_head(head("GET /a?b=1 HTTP/1.1\nHost: example.com\nX-A:  v  "))
    assert (parsed.method, parsed.target, parsed.protocol) == ("GET", "/a?b=1", "HTTP/1.1")
    assert parsed.headers == (("Host", "example.com"), ("X-A", "v"))
    assert parsed.keep_alive
    assert request_problem(parsed) is None
    assert request_framing(parsed).kind == "none"


def test_head_end_accepts_bare_lf_and_finds_the_first_empty_line() -> None:
    assert find_head_end(b"GET / HTTP/1.1\nHost: a\n\nBODY", 1000) == 24
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX\r\n\r\n", 1000) == 27
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 1000) == -1


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"     GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # leading whitespace
        (b"G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # not a token
        (b"GET / JUNK/1.0\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2\r\nHost: a\r\n\r\n", 400),
        (b"GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # no target
    ],
)
def test_malformed_heads_are_refused_with_a_status(raw: bytes, status: int) -> None:
    with pytest.raises(HttpProtocolError) as caught:
        parse_request_head(raw)
    assert caught.value.http_status == status


def test_limits_give_431_and_414() -> None:
    limits = HeadLimits(max_head_bytes=4096, max_line_bytes=100, max_headers=3)
    many = "GET / HTTP/1.1\n" + "\n".join(f"X-{i}: v" for i in range(4))
    with pytest.raises(HttpProtocolError) as caught:
        parse_request_head(head(many), limits)
    assert caught.value.http_status == 431
    with pytest.raises(HttpProtocolError) as caught:
        parse_request_head(head("GET / HTTP/1.1\nX: " + "v" * 200), limits)
    assert caught.value.http_status == 431
    with pytest.raises(HttpProtocolError) as caught:
        parse_request_head(head("GET /" + "a" * 200 + " HTTP/1.1\nHost: a"), limits)
    assert caught.value.http_status == 414


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 10", "length"),
        ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked", "chunked"),
        ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: Chunked ", "chunked"),
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nTransfer-Encoding: chunked", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 3", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 3, 3", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nContent-Length: +3", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 0x10", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: x", "invalid"),
        ("POST / HTTP/1.0\nHost: a\nTransfer-Encoding: chunked", "invalid"),
        ("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked", "invalid"),
    ],
)
def test_request_framing_is_strict(text: str, kind: str) -> None:
    assert request_framing(parse_request_head(head(text))).kind == kind


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("GET / HTTP/1.1", 400),  # no Host
        ("GET / HTTP/1.1\nHost: a\nHost: b", 400),
        ("GET / HTTP/1.1\nHost: a b", 400),
        ("GET / HTTP/1.1\nHost: localhost%00", 400),
        ("GET /#frag HTTP/1.1\nHost: a", 400),
        ("GET \\ HTTP/1.1\nHost: a", 400),
        ("GET /a b HTTP/1.1\nHost: a", 400),
        ("GET / HTTP/1.1\nHost: a\nX: nul\x00here", 400),
        ("GET / HTTP/3.0\nHost: a", 505),
        ("GET / HTTP/0.9\nHost: a", 400),
        ("GET /", 400),  # an HTTP/0.9 request line
        ("CONNECT a:443 HTTP/1.1\nHost: a", 405),
        ("GET / HTTP/1.1\nHost: a\nExpect: magic", 417),
    ],
)
def test_parsed_but_refused_after_deciding(text: str, status: int) -> None:
    parsed = parse_request_head(head(text))
    problem = request_problem(parsed)
    assert problem is not None
    assert problem.status == status


@pytest.mark.parametrize(
    "target",
    ["/", "/a/b?c=d", "*", "http://example.com/x", "https://example.com", "//double"],
)
def test_valid_targets_pass(target: str) -> None:
    method = "OPTIONS" if target == "*" else "GET"
    parsed = parse_request_head(head(f"{method} {target} HTTP/1.1\nHost: [::1]:8080"))
    assert request_problem(parsed) is None


def test_websocket_and_keep_alive_detection() -> None:
    ws = parse_request_head(
        head("GET /ws HTTP/1.1\nHost: a\nConnection: keep-alive, Upgrade\nUpgrade: websocket")
    )
    assert ws.wants_websocket
    old = parse_request_head(head("GET / HTTP/1.0\nHost: a"))
    assert not old.keep_alive
    assert parse_request_head(head("GET / HTTP/1.0\nConnection: Keep-Alive")).keep_alive
    assert not parse_request_head(head("GET / HTTP/1.1\nHost: a\nConnection: close")).keep_alive


def test_hop_by_hop_headers_and_those_connection_names_are_dropped() -> None:
    kept = without_hop_by_hop(
        [
            ("Host", "a"),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "5"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "3"),
            ("X-Kept", "yes"),
        ]
    )
    assert kept == [("Host", "a"), ("X-Kept", "yes")]


def test_response_heads_and_framing() -> None:
    response = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert (response.status, response.reason) == (200, "OK")
    assert response_framing(response, "GET").length == 5
    assert response_framing(response, "HEAD").kind == "none"
    chunked = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert response_framing(chunked, "GET").kind == "chunked"
    bare = parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n")
    assert response_framing(bare, "GET").kind == "close"
    assert not bare.keep_alive
    conflicting = parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
    )
    assert response_framing(conflicting, "GET").kind == "invalid"
    no_content = parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert response_framing(no_content, "GET").kind == "none"
    with pytest.raises(HttpProtocolError):
        parse_response_head(b"HTTP/1.1 2000 OK\r\n\r\n")


def test_chunked_decoding_leaves_what_follows() -> None:
    decoder = ChunkedDecoder()
    data = b"3\r\nabc\r\n5;ext=1\r\nde\r\nf\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1"
    pieces, used = decoder.feed(data)
    assert b"".join(pieces) == b"abcde\r\nf"
    assert decoder.done
    assert data[used:] == b"GET / HTTP/1.1"


@pytest.mark.parametrize(
    "data",
    [
        b"x\r\n",  # not hex
        b"-1\r\n",
        b"0x10\r\n",
        b"3\r\nabcX\r\n",  # data not followed by a line end
        b"11111111111111111\r\n",  # over 16 hex digits
        b"0\r\n bad trailer\r\n\r\n",
    ],
)
def test_invalid_chunking_is_refused(data: bytes) -> None:
    with pytest.raises(HttpProtocolError):
        ChunkedDecoder().feed(data)


def test_a_chunk_size_line_cannot_grow_without_bound() -> None:
    decoder = ChunkedDecoder(max_line=64)
    for _ in range(2):
        decoder.feed(b"1;" + b"e" * 20)
    with pytest.raises(HttpProtocolError):
        decoder.feed(b"1;" + b"e" * 20)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=20),
)
def test_chunked_decoding_is_the_same_however_the_bytes_arrive(
    chunks: list[bytes], cuts: list[int]
) -> None:
    encoded = b"".join(encode_chunk(c) for c in chunks) + b"0\r\n\r\n"
    decoder = ChunkedDecoder()
    out = bytearray()
    position = 0
    for cut in cuts * 20:
        if position >= len(encoded):
            break
        pieces, used = decoder.feed(encoded[position : position + cut])
        out += b"".join(pieces)
        position += used
    pieces, used = decoder.feed(encoded[position:])
    out += b"".join(pieces)
    assert decoder.done
    assert bytes(out) == b"".join(chunks)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_hostile_heads_raise_only_the_declared_error(raw: bytes) -> None:
    try:
        parsed = parse_request_head(raw + b"\r\n\r\n")
    except HttpProtocolError:
        return
    request_framing(parsed)
    request_problem(parsed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_chunked_bodies_raise_only_the_declared_error(raw: bytes) -> None:
    with contextlib.suppress(HttpProtocolError):
        ChunkedDecoder().feed(raw)
