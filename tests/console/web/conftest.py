"""Web UI fixtures: a real scan document made by ``stockade scan``, a fleet of published
results (scans, a check, runtime events, a host), and browser-like sessions over HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockade.console.client import publish_scan
from stockade.console.clock import utc_now
from stockade.console.identity.accounts import create_user
from stockade.console.roles import Role
from stockade.console.testing import synthetic_check_document, synthetic_scan_document

from ..conftest import ADMIN_PASSWORD, RunningConsole

DATA = Path(__file__).resolve().parents[2] / "data"
USER_PASSWORD = "a long enough test password"  # noqa: S105  # test fixture
HOSTILE = "<script>alert('owned')</script>"
"""A name a hostile publisher might choose; pages must show it as text."""

STATUS = """\
Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+b1

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9
"""


@pytest.fixture(scope="session")
def real_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real ``stockade scan -f json`` of a Debian root filesystem with a lockfile."""
    from stockade.cli.main import main
    from stockade.vulndb import AdvisoryStore, import_path

    base = tmp_path_factory.mktemp("web-scan")
    db = base / "vulndb.sqlite"
    with AdvisoryStore.open(db) as advisories:
        import_path(advisories, DATA / "match" / "debian-bookworm-changelog-derived")
        import_path(advisories, DATA / "advisories" / "osv-pypi")
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS)
    (root / "app").mkdir()
    (root / "app/requirements.txt").write_text("PyYAML==5.1.1\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.chdir(base):
        assert main(["--quiet", "scan", str(root), "--db", str(db), "-f", "json"]) == 0
    document: dict[str, Any] = json.loads(out.getvalue())
    assert document["findings"], "the test scan should find something"
    return document


CHECKED = ("example_PrivilegedContainers", "example_ShareHost")
"""Kubernetes manifests from Checkov's examples, checked by ``stockade check``."""


@pytest.fixture(scope="session")
def real_checks() -> list[dict[str, Any]]:
    """Real ``stockade check -f json`` results of Kubernetes manifests."""
    from stockade.cli.main import main

    documents = []
    for target in CHECKED:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.chdir(DATA / "compliance" / "checkov"):
            main(["--quiet", "check", target, "-f", "json"])
        document = json.loads(out.getvalue())
        assert document["results"], target
        documents.append(document)
    return documents


def as_image(document: dict[str, Any], name: str, digest_byte: str) -> dict[str, Any]:
    """The scan of a directory, presented as an image with a digest and a tag."""
    image: dict[str, Any] = json.loads(json.dumps(document))
    image["artifact"].update(
        name=name, type="docker-archive", digest="sha256:" + digest_byte * 32, repoTags=[name]
    )
    return image


@dataclass
class Fleet:
    """What was published, for tests to look for."""

    real_images: dict[str, str] = field(default_factory=dict)
    """name → digest of the images published from the real scan."""
    synthetic: int = 0
    hostile_digest: str = ""


def publish_fleet(
    console: RunningConsole,
    real_scan: dict[str, Any],
    real_checks: list[dict[str, Any]],
    *,
    synthetic: int = 3,
    hostile: bool = True,
) -> Fleet:
    ci = console.tokens[Role.CI]
    fleet = Fleet(synthetic=synthetic)
    for name, byte in (("example/shop:2.4", "ab"), ("example/payments:1.9", "cd")):
        document = as_image(real_scan, name, byte)
        publish_scan(console.url, ci, document)
        fleet.real_images[name] = document["artifact"]["digest"]
    if hostile:
        document = synthetic_scan_document(9_001, packages=6, findings=6, name=HOSTILE)
        document["findings"][0].update(
            title="<img src=x onerror=alert(1)>",
            url="javascript:alert(1)",
            severity="critical",
            suppressed=False,
        )
        publish_scan(console.url, ci, document)
        fleet.hostile_digest = document["artifact"]["digest"]
    for seed in range(synthetic):
        publish_scan(console.url, ci, synthetic_scan_document(seed, packages=20, findings=12))
    publish_scan(console.url, ci, real_scan, host="node-1.example")
    writer = console.client(Role.CI)
    for document in real_checks:
        writer.post("/api/v1/checks", json=document).raise_for_status()
    if hostile:
        check = synthetic_check_document(3, results=1)
        check["results"][0]["check"].update(id="TEST-HOSTILE-1", title=HOSTILE)
        check["results"][0]["status"] = "failed"
        writer.post("/api/v1/checks", json=check).raise_for_status()
    events: dict[str, Any] = {
        "host": "node-1.example",
        "events": [
            {
                "kind": "incident",
                "occurredAt": "2026-01-15T10:00:00Z",
                "payload": {
                    "rule": "Terminal shell in container",
                    "priority": "warning",
                    "output": "A shell was spawned in a container with an attached terminal",
                    "container": "shop-7d9f",
                },
            },
        ],
    }
    if hostile:
        events["events"].append(
            {
                "kind": "incident",
                "occurredAt": "2026-01-15T10:05:00Z",
                "payload": {"rule": HOSTILE, "priority": "critical", "output": HOSTILE},
            }
        )
    console.client(Role.DEFENDER).post("/api/v1/events", json=events).raise_for_status()
    return fleet


def add_user(console: RunningConsole, username: str, role: Role) -> None:
    with console.store.write() as session:
        create_user(
            session,
            username=username,
            password=USER_PASSWORD,
            role=role,
            actor="test",
            now=utc_now(),
        )


_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def log_in(
    console: RunningConsole, username: str = "admin", password: str = ADMIN_PASSWORD
) -> httpx.Client:
    """A client that logged in through the log-in form, as a browser does."""
    client = console.client()
    form = client.get("/login")
    assert form.status_code == 200
    token = _LOGIN_TOKEN.search(form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "next": "/",
            "login_token": token.group(1),
        },
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return str(client.cookies["stockade_csrf"])


def assert_page_headers(answer: httpx.Response) -> None:
    """The headers every page carries, and no inline script or style in it."""
    assert answer.headers["content-type"].startswith("text/html")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    # What the policy forbids is not in the page either: no inline script or style.
    assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text)
    assert not re.search(r"\sstyle=", answer.text)
    assert not re.search(r"\son[a-z]+=", answer.text)


@pytest.fixture
def fleet(
    console: RunningConsole, real_scan: dict[str, Any], real_checks: list[dict[str, Any]]
) -> Fleet:
    return publish_fleet(console, real_scan, real_checks)


def post_form(
    client: httpx.Client, path: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """Send a page's form as a browser does: URL-encoded, with the session's CSRF token
    (a list value is a field repeated, as ticked checkboxes are)."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_of(client)})


def audit_actions(console: RunningConsole, prefix: str) -> list[tuple[str, str, str]]:
    """(action, actor, target) of the audit entries whose action starts with ``prefix``."""
    from sqlalchemy import select

    from stockade.console.store.models import AuditEntry

    with console.store.read() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
        return [(r.action, r.actor, r.target) for r in rows]
