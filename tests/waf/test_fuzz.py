"""Hostile input never crashes the request parser, the body processors or the engine:
only RequestError may escape."""

from __future__ import annotations

import contextlib
import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.waf.crs import crs_plan
from stockade.waf.errors import RequestError
from stockade.waf.http1 import parse_request
from stockade.waf.request import HttpRequest, parse_json, parse_multipart, parse_xml
from stockade.waf.seclang.engine import Plan, evaluate

latin1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=300)


@functools.cache
def _plan() -> Plan:
    return crs_plan(paranoia_level=4)


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_parse_request_only_raises_request_error(raw: bytes) -> None:
    with contextlib.suppress(RequestError):
        parse_request(raw)


@given(
    st.sampled_from([b"GET", b"POST", b"PUT"]),
    st.binary(max_size=200),
    st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=60)), max_size=6),
    st.binary(max_size=300),
)
@settings(max_examples=300)
def test_structured_requests(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    raw = method + b" /" + target + b" HTTP/1.1\r\n"
    raw += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    raw += b"\r\n" + body
    with contextlib.suppress(RequestError):
        parse_request(raw)


@given(latin1, latin1)
@settings(max_examples=300)
def test_body_processors_never_raise(body: str, boundary: str) -> None:
    parse_json(body)
    parse_xml(body)
    parse_multipart(body, f"multipart/form-data; boundary={boundary}")
    parse_multipart(
        f"--{boundary}\r\n{body}\r\n--{boundary}--", f"multipart/form-data; boundary={boundary}"
    )


@given(
    st.sampled_from(["GET", "POST", "PUT", "X"]),
    latin1,
    st.lists(st.tuples(latin1, latin1), max_size=5),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/xml",
            "multipart/form-data; boundary=b",
            "",
        ]
    ),
    st.binary(max_size=400),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engine_with_crs_never_crashes(
    method: str, uri: str, headers: list[tuple[str, str]], content_type: str, body: bytes
) -> None:
    all_headers = [*headers, ("Content-Type", content_type)] if content_type else headers
    verdict = evaluate(
        _plan(), HttpRequest(method, "/" + uri, headers=tuple(all_headers), body=body)
    )
    assert verdict.status in (0, 403)
