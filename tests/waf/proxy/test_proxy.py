"""The proxy end to end: real sockets, the real h11 upstream, CRS deciding."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.sockets import accepted_nodelay
from tests.waf.proxy.backend import Backend, ws_client_frame, ws_read_frame
from tests.waf.proxy.support import (
    AllowAll,
    config_for,
    connect,
    free_port,
    get,
    read_reply,
    read_until_closed,
    request,
    running_proxy,
)

from stockade.waf.decision import Action, Decision, Mode
from stockade.waf.errors import WafError
from stockade.waf.ftw import BENIGN_RESPONSE
from stockade.waf.proxy.crs_decider import CrsDecider
from stockade.waf.proxy.server import listening_socket, tls_context
from stockade.waf.request import HttpRequest, HttpResponse

SQLI = "/?id=1%27%20or%20%271%27%3D%271"


class FaultyDecider:
    """A Decider that fails on purpose under /boom (an internal fault CRS cannot be made
    to raise), and asks CRS otherwise."""

    def __init__(self, inner: CrsDecider) -> None:
        self.inner = inner

    def decide_request(self, request: HttpRequest, *, now: float) -> Decision:
        if request.uri.startswith("/boom"):
            raise WafError("rule engine fault")
        return self.inner.decide_request(request, now=now)

    def decide_response(
        self, request: HttpRequest, response: HttpResponse, *, now: float
    ) -> Decision:
        if request.uri.startswith("/echo?boom-response"):
            raise WafError("response fault")
        return self.inner.decide_response(request, response, now=now)


def test_requests_are_forwarded_with_forwarding_headers(backend: Backend, crs: CrsDecider) -> None:
    with running_proxy(config_for(backend.port), crs) as proxy:
        reply = request(
            proxy.port,
            get(
                "/echo?x=1",
                "X-Forwarded-For: 198.51.100.7",
                "X-Forwarded-Proto: gopher",
                "Connection: keep-alive, X-Hop",
                "X-Hop: secret",
                "Keep-Alive: timeout=5",
                host="app.example",
            ),
        )
    assert reply.status == 200
    seen = dict(reply.json()["headers"])
    assert reply.json()["target"] == "/echo?x=1"
    assert seen["host"] == "app.example"
    assert seen["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "app.example"
    assert "x-hop" not in seen
    assert "keep-alive" not in seen
    assert "connection" not in seen


def test_keep_alive_to_the_client_and_a_pool_to_the_upstream(
    backend: Backend, crs: CrsDecider
) -> None:
    with running_proxy(config_for(backend.port), crs) as proxy, connect(proxy.port) as sock:
        before = backend.connections
        for index in range(15):
            sock.sendall(get(f"/echo?n={index}"))
            reply = read_reply(sock)
            assert reply.status == 200
            assert reply.json()["target"] == f"/echo?n={index}"
        # One client connection, at most one (kept-alive) upstream connection.
        assert backend.connections - before <= 1
        assert proxy.server.pool.idle == 1


def test_pipelined_requests_are_answered_in_order(backend: Backend, crs: CrsDecider) -> None:
    with running_proxy(config_for(backend.port), crs) as proxy, connect(proxy.port) as sock:
        post = (
            b"POST /echo?n=post HTTP/1.1\r\nHost: a\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\nhe=lo"
        )
        sock.sendall(get("/echo?n=1") + post + get("/echo?n=3") + b"\r\n" + get("/echo?n=4"))
        targets = [read_reply(sock).json()["target"] for _ in range(4)]
    assert targets == ["/echo?n=1", "/echo?n=post", "/echo?n=3", "/echo?n=4"]


def test_a_chunked_body_reaches_the_upstream_whole_and_re_framed(
    backend: Backend, crs: CrsDecider
) -> None:
    body = b"a=1&b=" + b"x" * 5000
    chunks = b"".join(
        b"%x\r\n%b\r\n" % (len(body[i : i + 777]), body[i : i + 777])
        for i in range(0, len(body), 777)
    )
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-Trailer: t\r\n\r\n"
    )
    with running_proxy(config_for(backend.port), crs) as proxy:
        reply = request(proxy.port, raw)
    seen = reply.json()
    assert seen["body_length"] == len(body)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    headers = dict(seen["headers"])
    assert headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in headers


def test_expect_100_continue_is_answered_before_the_body(backend: Backend) -> None:
    # CRS refuses Expect (920450, a restricted header): byte moving alone here.
    with running_proxy(config_for(backend.port), AllowAll()) as proxy, connect(proxy.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"da=a")
        reply = read_reply(sock)
    assert reply.status == 200
    assert reply.json()["body_length"] == 4
    assert "expect" not in dict(reply.json()["headers"])


def test_head_keeps_the_length_and_sends_no_body(backend: Backend, crs: CrsDecider) -> None:
    with running_proxy(config_for(backend.port), crs) as proxy, connect(proxy.port) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/echo?after-head"))
        head = read_reply(sock, method="HEAD")
        after = read_reply(sock)
    assert head.status == 200
    assert head.header("Content-Length") == str(len(BENIGN_RESPONSE.body))
    assert head.body == b""
    assert after.json()["target"] == "/echo?after-head"


@pytest.mark.parametrize("chunked", [False, True])
def test_large_responses_stream_to_http_1_1_and_1_0_clients(
    backend: Backend, crs: CrsDecider, chunked: bool
) -> None:
    size = 3 * 1024 * 1024 + 17
    target = f"/big?size={size}" + ("&chunked=1" if chunked else "")
    with running_proxy(config_for(backend.port), crs) as proxy:
        reply = request(proxy.port, get(target))
        assert reply.status == 200
        assert reply.body == b"x" * size
        assert reply.header("Transfer-Encoding") == ("chunked" if chunked else None)
        with connect(proxy.port) as sock:
            sock.sendall(f"GET {target} HTTP/1.0\r\nHost: a\r\n\r\n".encode())
            raw = read_until_closed(sock, limit=size + 10_000)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"chunked" not in head.lower()
    assert body == b"x" * size


def test_an_attack_is_refused_with_an_incident_id_on_the_page_and_in_the_audit_log(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    with running_proxy(config_for(backend.port), crs, audit_path=audit) as proxy:
        with connect(proxy.port) as sock:
            port = sock.getsockname()[1]
            sock.sendall(get(SQLI, "User-Agent: test"))
            reply = read_reply(sock)
            # the connection stays usable after a refusal
            sock.sendall(get("/echo?after"))
            assert read_reply(sock).status == 200
        events = proxy.events()
    assert reply.status == 403
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert len(events) == 1
    event = events[0]
    assert event["incident_id"]
    assert event["incident_id"].encode() in reply.body
    assert event["event"] == "waf.request"
    assert event["action"] == "deny"
    assert event["status"] == 403
    assert event["client_ip"] == "127.0.0.1"
    assert event["client_port"] == port
    assert event["method"] == "GET"
    assert event["path"] == "/"
    assert event["host"] == "localhost"
    assert event["anomaly_score"] >= 5
    assert "942100" in event["rule_ids"]
    assert "949110" in event["rule_ids"]
    sqli = next(d for d in event["detections"] if d["rule_id"] == "942100")
    assert sqli["location"] == "ARGS:id"
    assert sqli["matched"] == "1' or '1'='1"
    assert datetime.datetime.fromisoformat(event["time"]).tzinfo is not None


def test_a_custom_block_page_and_a_benign_request_leaves_no_event(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    page = tmp_path / "blocked.html"
    page.write_text("<p>Nope ({{status}}). Quote {{incident_id}}.</p>", encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    config = config_for(backend.port, block_page=page)
    with running_proxy(config, crs, audit_path=audit) as proxy:
        assert request(proxy.port, get("/echo?q=hello")).status == 200
        assert proxy.events() == []
        reply = request(proxy.port, get(SQLI))
        incident = proxy.events()[0]["incident_id"]
    assert reply.body == f"<p>Nope (403). Quote {incident}.</p>".encode()


def test_alert_mode_lets_an_attack_through_and_logs_it(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    alerting = CrsDecider(crs.plan, mode=Mode.ALERT)
    audit = tmp_path / "audit.jsonl"
    with running_proxy(config_for(backend.port), alerting, audit_path=audit) as proxy:
        reply = request(proxy.port, get("/echo" + SQLI[1:]))
        events = proxy.events()
    assert reply.status == 200
    assert [e["action"] for e in events] == ["alert"]
    assert events[0]["status"] == 200
    assert "942100" in events[0]["rule_ids"]


def test_ban_mode_refuses_the_client_until_the_ban_ends(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    banning = CrsDecider(crs.plan, mode=Mode.BAN, ban_seconds=1.5)
    audit = tmp_path / "audit.jsonl"
    with running_proxy(config_for(backend.port), banning, audit_path=audit) as proxy:
        first = request(proxy.port, get(SQLI))
        before = backend.requests
        banned = request(proxy.port, get("/echo?innocent"))
        assert backend.requests == before  # refused without being forwarded
        events = proxy.events()
        time.sleep(1.6)
        after = request(proxy.port, get("/echo?innocent"))
    assert first.status == 403
    assert [e["action"] for e in events] == ["ban"]  # the banned request is not inspected
    assert banned.status == 403
    assert after.status == 200


def test_fail_closed_refuses_with_503_and_fail_open_forwards(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    faulty = FaultyDecider(crs)
    audit = tmp_path / "closed.jsonl"
    with running_proxy(config_for(backend.port), faulty, audit_path=audit) as proxy:
        closed = request(proxy.port, get("/boom"))
        closed_events = proxy.events()
        response_fault = request(proxy.port, get("/echo?boom-response"))
        assert request(proxy.port, get("/echo?fine")).status == 200
    assert closed.status == 503
    assert closed_events[0]["action"] == "deny"
    assert "rule engine fault" in closed_events[0]["error"]
    assert closed_events[0]["incident_id"].encode() in closed.body
    assert response_fault.status == 503
    audit = tmp_path / "open.jsonl"
    config = config_for(backend.port, fail_open=True)
    with running_proxy(config, faulty, audit_path=audit) as proxy:
        opened = request(proxy.port, get("/boom"))
        open_events = proxy.events()
    assert opened.status == 200  # the backend's page for an unknown path
    assert open_events[0]["action"] == "allow"
    assert "rule engine fault" in open_events[0]["error"]


def test_credentials_never_reach_the_audit_log(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    secret_cookie = "1' or '1'='1 -- s3cr3t-cookie"  # noqa: S105 - the secret to hide
    with running_proxy(config_for(backend.port), crs, audit_path=audit) as proxy:
        reply = request(
            proxy.port,
            get(
                "/login?password=%3Cscript%3Ealert(1)%3C/script%3E",
                "Authorization: Bearer tok-<script>alert(1)</script>",
                f"Cookie: session={secret_cookie}",
            ),
        )
        text = audit.read_text()
        events = proxy.events()
    assert reply.status == 403
    assert "s3cr3t-cookie" not in text
    assert "tok-" not in text
    assert "alert(1)" not in text
    located = {d["location"]: d["matched"] for e in events for d in e["detections"]}
    assert located.get("ARGS:password") == "[redacted]"
    assert located.get("REQUEST_COOKIES:session") == "[redacted]"


def test_a_leak_in_the_response_is_refused(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    leak = (
        b"<html>Warning: mysql_fetch_array() expects parameter 1 to be resource. "
        b"You have an error in your SQL syntax; check the manual that corresponds to "
        b"your MySQL server version</html>"
    )
    spec = json.dumps({"status": 200, "encodedBody": base64.b64encode(leak).decode()})
    raw = (
        f"POST /reflect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(spec)}\r\n\r\n{spec}"
    ).encode()
    audit = tmp_path / "audit.jsonl"
    with running_proxy(config_for(backend.port), crs, audit_path=audit) as proxy:
        reply = request(proxy.port, raw)
        events = proxy.events()
        unchecked = config_for(backend.port, inspect_responses=False)
    assert reply.status == 403
    assert b"mysql" not in reply.body
    response_events = [e for e in events if e["event"] == "waf.response"]
    assert response_events
    assert any(r.startswith("951") for r in response_events[0]["rule_ids"])
    with running_proxy(unchecked, crs) as proxy:
        assert request(proxy.port, raw).body == leak


def test_bodies_over_the_limit_are_refused_or_streamed_per_setting(
    backend: Backend, crs: CrsDecider
) -> None:
    body = b"a=" + b"b" * 300_000
    head = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    sized = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    chunked = (
        (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        + b"".join(
            b"%x\r\n%b\r\n" % (10_000, body[i : i + 10_000]) for i in range(0, 300_000, 10_000)
        )
        + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body) - 300_000, body[300_000:])
    )
    reject = config_for(backend.port, inspect_limit=64 * 1024, body_limit_action="reject")
    with running_proxy(reject, crs) as proxy:
        assert request(proxy.port, sized).status == 413
        assert request(proxy.port, chunked).status == 413
    partial = config_for(backend.port, inspect_limit=64 * 1024, body_limit_action="partial")
    with running_proxy(partial, crs) as proxy:
        for raw in (sized, chunked):
            seen = request(proxy.port, raw).json()
            assert seen["body_length"] == len(body)
            assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
        attack_first = b"q=1%27%20or%20%271%27%3D%271&pad=" + b"p" * 200_000
        raw = (head + f"Content-Length: {len(attack_first)}\r\n\r\n").encode() + attack_first
        assert request(proxy.port, raw).status == 403


def test_websocket_upgrade_passes_through(backend: Backend, crs: CrsDecider) -> None:
    with running_proxy(config_for(backend.port), crs) as proxy, connect(proxy.port) as sock:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = bytearray()
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        buffer = bytearray(rest)
        for text in ("hello", "<script>frames are not inspected</script>"):
            sock.sendall(ws_client_frame(text))
            frame = ws_read_frame(buffer)
            while frame is None:
                buffer += sock.recv(4096)
                frame = ws_read_frame(buffer)
            assert frame == (1, f"echo:{text}".encode())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_is_terminated(backend: Backend, crs: CrsDecider, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = config_for(backend.port, tls_cert=cert, tls_key=key)
    client = ssl.create_default_context(cafile=str(cert))
    with (
        running_proxy(config, crs) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        sock.sendall(get("/echo"))
        reply = read_reply(sock)
        sock.sendall(get(SQLI))
        refused = read_reply(sock)
    assert dict(reply.json()["headers"])["x-forwarded-proto"] == "https"
    assert refused.status == 403
    with pytest.raises(ssl.SSLError):
        tls_context(str(key), str(key))


def test_the_client_address_comes_from_a_trusted_proxy_only(
    backend: Backend, crs: CrsDecider, tmp_path: Path
) -> None:
    import ipaddress

    audit = tmp_path / "audit.jsonl"
    trusted = config_for(backend.port, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    with running_proxy(trusted, crs, audit_path=audit) as proxy:
        request(proxy.port, get(SQLI, "X-Forwarded-For: 192.0.2.1, 203.0.113.9, 127.0.0.5"))
        assert proxy.events()[-1]["client_ip"] == "203.0.113.9"
    audit = tmp_path / "untrusted.jsonl"
    with running_proxy(config_for(backend.port), crs, audit_path=audit) as proxy:
        request(proxy.port, get(SQLI, "X-Forwarded-For: 203.0.113.9"))
        assert proxy.events()[-1]["client_ip"] == "127.0.0.1"


def test_upstream_down_is_502_and_upstream_slow_is_504(backend: Backend, crs: CrsDecider) -> None:
    with running_proxy(config_for(free_port()), crs) as proxy:
        assert request(proxy.port, get("/")).status == 502
    slow = config_for(backend.port, upstream_timeout=0.5)
    with running_proxy(slow, crs) as proxy:
        started = time.monotonic()
        assert request(proxy.port, get("/slow?delay=1.5")).status == 504
        assert time.monotonic() - started < 2.5
        assert request(proxy.port, get("/echo")).status == 200


def test_connections_the_upstream_closed_while_pooled_are_not_used(
    backend: Backend, crs: CrsDecider
) -> None:
    config = config_for(backend.port, upstream_idle_timeout=60.0)
    with running_proxy(config, crs) as proxy:
        assert request(proxy.port, get("/echo")).status == 200
        assert proxy.server.pool.idle == 1
        backend.drop_connections()
        time.sleep(0.2)
        for method in ("GET", "POST"):
            raw = f"{method} /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
            assert request(proxy.port, raw.encode()).status == 200


def test_decisions_are_what_the_decider_says(backend: Backend) -> None:
    class Always:
        def __init__(self, decision: Decision) -> None:
            self.decision = decision

        def decide_request(self, request: HttpRequest, *, now: float) -> Decision:
            return self.decision

        def decide_response(
            self, request: HttpRequest, response: HttpResponse, *, now: float
        ) -> Decision:
            return Decision(Action.ALLOW)

    teapot = Always(Decision(Action.DENY, status=429, incident_id="fixed-id"))
    with running_proxy(config_for(backend.port), teapot) as proxy:
        reply = request(proxy.port, get("/"))
    assert reply.status == 429
    assert b"fixed-id" in reply.body


def test_connections_accepted_on_the_workers_socket_have_tcp_nodelay() -> None:
    # asyncio sets TCP_NODELAY only on connections from a socket whose protocol says TCP;
    # without it an answer written in two parts waits for the client's delayed ACK.
    listener = listening_socket("127.0.0.1", 0, reuse_port=True)

    assert accepted_nodelay(listener) != 0
