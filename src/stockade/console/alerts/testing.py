"""Real receivers on 127.0.0.1 for testing alert channels: an HTTP server that records
what it is sent (and can fail on purpose), syslog listeners over UDP, TCP and TLS, and
certificates to serve TLS with. Shipped with the package so library users test their
channels the way the Console's own tests do. Not for production use."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "RFC5424",
    "CertifiedKey",
    "HttpReceiver",
    "RecordedRequest",
    "SyslogReceiver",
    "issue_certificate",
    "server_context",
    "wait_until",
]

RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<timestamp>\S+) (?P<hostname>\S+) (?P<app>\S+) "
    rb"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$",
    re.DOTALL,
)
"""An RFC 5424 message, its parts named."""


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """A threading HTTP server on 127.0.0.1 that records every request.

    The first ``fail_first`` requests are answered ``fail_status`` (500 unless said),
    with ``fail_headers``; the others 200 ``ok``. Use as a context manager.
    """

    def __init__(
        self,
        fail_first: int = 0,
        fail_status: int = 500,
        fail_headers: dict[str, str] | None = None,
    ) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_headers = fail_headers or {}
        self.requests: list[RecordedRequest] = []
        self.answered: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        RecordedRequest(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    failing = len(receiver.requests) <= receiver.fail_first
                    status = receiver.fail_status if failing else 200
                    receiver.answered.append(status)
                self.send_response(status)
                for name, value in (receiver.fail_headers if failing else {}).items():
                    self.send_header(name, value)
                answer = b"failing on purpose" if failing else b"ok"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def successes(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r, s in zip(self.requests, self.answered, strict=True) if s == 200]

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True, slots=True)
class CertifiedKey:
    certificate: str
    """PEM."""
    key: str
    """PEM, unencrypted."""


def issue_certificate(
    common_name: str,
    *,
    issuer: CertifiedKey | None = None,
    ca: bool = False,
    ips: tuple[str, ...] = ("127.0.0.1",),
    client: bool = False,
) -> CertifiedKey:
    """An ECDSA P-256 certificate, self-signed or signed by ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    if issuer is None:
        issuer_name, signing_key = subject, key
    else:
        issuer_cert = x509.load_pem_x509_certificate(issuer.certificate.encode())
        issuer_name = issuer_cert.subject
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        loaded = load_pem_private_key(issuer.key.encode(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TypeError("the issuer's key is not an EC key")
        signing_key = loaded
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        names: list[x509.GeneralName] = [x509.DNSName("localhost")]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    return CertifiedKey(
        cert.public_bytes(Encoding.PEM).decode(),
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
    )


def server_context(server: CertifiedKey, client_ca: CertifiedKey | None = None) -> ssl.SSLContext:
    """A TLS server context; with ``client_ca``, clients must present a certificate it
    signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "s.crt"), Path(directory, "s.key")
        cert.write_text(server.certificate)
        key.write_text(server.key)
        context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cadata=client_ca.certificate)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass
class SyslogReceiver:
    """A syslog listener on 127.0.0.1: UDP (a message per datagram), or TCP / TLS with
    RFC 6587 octet-counting frames. ``messages`` holds what arrived; ``errors`` what
    could not be read (a bad frame, a failed TLS handshake)."""

    transport: Literal["udp", "tcp", "tls"] = "udp"
    tls: ssl.SSLContext | None = None
    messages: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    peer_certificates: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.socket = socket.socket(socket.AF_INET, kind)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.socket.settimeout(0.1)
        if self.transport != "udp":
            self.socket.listen(16)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SyslogReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.transport == "udp":
                    data, _ = self.socket.recvfrom(65535)
                    with self._lock:
                        self.messages.append(data)
                    continue
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._read_stream, args=(connection,), daemon=True).start()

    def _read_stream(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        stream: socket.socket = connection
        try:
            if self.transport == "tls":
                if self.tls is None:
                    raise RuntimeError("a TLS receiver needs a server context")
                stream = self.tls.wrap_socket(connection, server_side=True)
                peer = stream.getpeercert() if isinstance(stream, ssl.SSLSocket) else None
                if peer:
                    with self._lock:
                        self.peer_certificates.append(peer)
            buffer = b""
            while True:
                chunk = stream.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while b" " in buffer:
                    length, _, rest = buffer.partition(b" ")
                    if not length.isdigit():
                        raise ValueError(f"not an octet-counted frame: {buffer[:40]!r}")
                    if len(rest) < int(length):
                        break
                    with self._lock:
                        self.messages.append(rest[: int(length)])
                    buffer = rest[int(length) :]
            if buffer:
                raise ValueError(f"{len(buffer)} bytes left over after the last frame")
        except (OSError, ValueError, RuntimeError) as exc:
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            stream.close()
