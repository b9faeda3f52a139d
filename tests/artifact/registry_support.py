"""Real servers for the registry tests: Debian's docker-registry, a token service, fakes.

* :func:`start_registry` runs ``docker-registry serve`` on a free 127.0.0.1 port, with
  no auth, Basic auth (htpasswd) or the distribution token flow, over a storage
  directory that several registries may share (one writes, the others only read).
* :class:`TokenServer` is a token service per the distribution token spec: it checks
  Basic credentials and issues ES256 JWTs whose certificate (``x5c``) chains to the
  ``rootcertbundle`` the registry trusts.
* :class:`ScriptedServer` answers requests from a script, for faults a real registry
  cannot be made to show (a tampered blob, 503s, redirects to other storage).
* :func:`build_image` makes a tiny two-layer OCI image with umoci; :func:`push` copies
  it into a registry with skopeo, as a Docker v2 or an OCI manifest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import secrets
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tests.support.images import LayerStep, build_oci_layout, missing_tools, run_tool

REQUIRED_TOOLS = ("docker-registry", "skopeo", "umoci")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------
# docker-registry


@dataclass
class RunningRegistry:
    host: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_registry(
    work: Path, storage: Path, *, auth: Mapping[str, Any] | None = None
) -> RunningRegistry:
    """``docker-registry serve`` on a free port; returns once ``/v2/`` answers."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        config["auth"] = dict(auth)
    config_path = work / f"registry-{port}.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = work / f"registry-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    registry = RunningRegistry(f"127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"{registry.url}/v2/", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        return registry
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer on {registry.host}")


def bcrypt_htpasswd(user: str, password: str) -> str | None:
    """An htpasswd line with a bcrypt hash (the only kind distribution accepts), or None.

    The stdlib ``crypt`` module (deprecated, gone in 3.13) hashes with the system's
    libcrypt, which does bcrypt on Debian; no extra dependency is worth one test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    # bcrypt at cost 4 (the minimum): the registry checks it on every request.
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)  # noqa: S324 - bcrypt is what distribution's htpasswd demands
    hashed = crypt.crypt(password, salt)
    if not hashed or not hashed.startswith("$2"):
        return None
    return f"{user}:{hashed}\n"


# ---------------------------------------------------------------------------------------
# Token service (distribution token spec, as Docker Hub's auth.docker.io serves it)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """Issues registry tokens to ``users``; anonymous callers get a token with no access."""

    def __init__(self, work: Path, *, issuer: str, service: str, users: Mapping[str, str]) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.issuer = issuer
        self.service = service
        self.users = dict(users)
        self.requests: list[dict[str, Any]] = []
        self.answer_field = "token"
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockade test token signer")])
        now = time.time()
        import datetime as dt

        not_before = dt.datetime.fromtimestamp(now - 3600, tz=dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = work / "token-signer.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._cert_der = self._cert.public_bytes(serialization.Encoding.DER)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def realm(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def issue(self, subject: str, access: list[dict[str, Any]], lifetime: float = 300) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + int(lifetime),
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + _b64url(signature)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                authorization = self.headers.get("Authorization", "")
                server.requests.append({"query": query, "authorization": authorization})
                user = None
                if authorization:
                    user = server.authenticate(authorization)
                    if user is None:
                        self._answer(401, {"details": "incorrect username or password"})
                        return
                access = []
                if user is not None:
                    for scope in query.get("scope", []):
                        kind, _, rest = scope.partition(":")
                        name, _, actions = rest.rpartition(":")
                        wanted = [a for a in actions.split(",") if a in ("pull", "push")]
                        access.append({"type": kind, "name": name, "actions": wanted})
                token = server.issue(user or "", access)
                self._answer(200, {server.answer_field: token, "expires_in": 300})

            def _answer(self, status: int, document: Mapping[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def authenticate(self, authorization: str) -> str | None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == password and password else None


# ---------------------------------------------------------------------------------------
# Scripted fake servers, for faults


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


Route = Callable[[http.server.BaseHTTPRequestHandler], Reply]


class ScriptedServer:
    """An HTTP server on 127.0.0.1 whose answers come from ``routes`` (path → replies).

    A path maps to a list of replies used in turn (the last one repeats) or to a function
    of the request. Every request is recorded with its headers.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply] | Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path)
                if route is None:
                    reply = Reply(404, b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}')
                elif callable(route):
                    reply = route(self)
                else:
                    reply = route.pop(0) if len(route) > 1 else route[0]
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextlib.contextmanager
def silent_socket_server() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers: a hung registry."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        host, port = listener.getsockname()[:2]
        yield f"{host}:{port}"


# ---------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True, slots=True)
class TestImage:
    """A tiny image in an OCI layout (tag ``image``) and what the test should find in it."""

    __test__ = False  # not a pytest test class

    oci_dir: Path
    architecture: str
    packages: tuple[tuple[str, str], ...]
    """(name, version) of the packages in its dpkg status file."""
    marker: str
    """Content of opt/app/marker.txt (layer 2)."""


def _dpkg_status(packages: Sequence[tuple[str, str]], architecture: str) -> str:
    stanzas = []
    for name, version in packages:
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
            f"Section: misc\nInstalled-Size: 10\nMaintainer: Stockade Tests <t@example.org>\n"
            f"Architecture: {architecture}\nVersion: {version}\n"
            f"Description: test package {name}\n test package used by the registry tests\n"
        )
    return "\n".join(stanzas)


def build_image(
    work: Path, *, architecture: str, packages: Sequence[tuple[str, str]], marker: str
) -> TestImage:
    """Two layers: a Debian-like base (os-release, dpkg status), then an app file."""
    oci_dir = work / "oci"
    status = _dpkg_status(packages, architecture)

    def base(rootfs: Path) -> None:
        (rootfs / "etc").mkdir(parents=True, exist_ok=True)
        (rootfs / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/os-release").write_text(
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
        )
        (rootfs / "var/lib/dpkg/status").write_text(status)

    def app(rootfs: Path) -> None:
        (rootfs / "opt/app").mkdir(parents=True, exist_ok=True)
        (rootfs / "opt/app/marker.txt").write_text(marker)

    build_oci_layout(
        oci_dir,
        [LayerStep("base: os-release and dpkg status", base), LayerStep("app: marker", app)],
        work,
    )
    if architecture != "amd64":
        run_tool(["umoci", "config", "--image", f"{oci_dir}:image", "--architecture", architecture])
        run_tool(["umoci", "gc", "--layout", oci_dir])
    return TestImage(oci_dir, architecture, tuple(packages), marker)


def push(image: TestImage, registry_host: str, repo_tag: str, *, oci: bool = False) -> str:
    """Copy ``image`` to ``registry_host/repo_tag`` with skopeo; returns the manifest digest.

    Pushed from a docker-archive the registry gets a Docker v2 manifest; pushed from the
    OCI layout, an OCI manifest.
    """
    if oci:
        source = f"oci:{image.oci_dir}:image"
    else:
        archive = image.oci_dir.parent / "image.tar"
        if not archive.exists():
            run_tool(
                [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    f"oci:{image.oci_dir}:image",
                    f"docker-archive:{archive}:test/image:1",
                ]
            )
        source = f"docker-archive:{archive}"
    run_tool(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            source,
            f"docker://{registry_host}/{repo_tag}",
        ]
    )
    return manifest_of(registry_host, repo_tag)[0]


ALL_MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


def manifest_of(registry_host: str, repo_tag: str) -> tuple[str, bytes, str]:
    """(digest, body, media type) of a manifest, read straight from the registry."""
    repo, _, tag = repo_tag.rpartition(":")
    response = httpx.get(
        f"http://{registry_host}/v2/{repo}/manifests/{tag}",
        headers={"Accept": ALL_MANIFEST_TYPES},
        timeout=10,
    )
    response.raise_for_status()
    digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
    return digest, response.content, response.headers["content-type"]


def put_index(
    registry_host: str,
    repo: str,
    tag: str,
    entries: Sequence[tuple[str, str]],
    *,
    media_type: str,
) -> str:
    """Push an index over manifests already in ``repo``: entries are (tag, os/arch)."""
    manifests = []
    for entry_tag, platform in entries:
        digest, body, entry_type = manifest_of(registry_host, f"{repo}:{entry_tag}")
        os_name, architecture = platform.split("/")
        manifests.append(
            {
                "mediaType": entry_type,
                "digest": digest,
                "size": len(body),
                "platform": {"os": os_name, "architecture": architecture},
            }
        )
    document = json.dumps(
        {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    ).encode()
    response = httpx.put(
        f"http://{registry_host}/v2/{repo}/manifests/{tag}",
        content=document,
        headers={"Content-Type": media_type},
        timeout=10,
    )
    response.raise_for_status()
    return "sha256:" + hashlib.sha256(document).hexdigest()


def blob_of(registry_host: str, repo: str, digest: str) -> bytes:
    response = httpx.get(f"http://{registry_host}/v2/{repo}/blobs/{digest}", timeout=10)
    response.raise_for_status()
    return response.content


def tools_missing() -> list[str]:
    return missing_tools(*REQUIRED_TOOLS)
