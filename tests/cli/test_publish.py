"""`stockade scan|check --publish URL` and `--policy-from URL` against a real Console on
127.0.0.1: what the Console stores, the verdicts and events it makes, and the exit codes
the CLI answers with (the report always printed first)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.artifact.imagebuilder import docker_archive
from tests.cli.support import clean_env, run_stockade

from stockade.cli.main import main
from stockade.console.clock import utc_now
from stockade.console.config import ConsoleConfig
from stockade.console.events import ConsoleEvent
from stockade.console.identity.accounts import create_token
from stockade.console.roles import Role
from stockade.console.service import build_app, create_first_admin, open_store
from stockade.console.store.engine import Store
from stockade.console.tls import ensure_self_signed
from stockade.vulndb import AdvisoryStore, import_path

DATA = Path(__file__).resolve().parent.parent / "data"
TAG = "registry.example/team/app:1.0"
TOKEN_VARIABLE = "STOCKADE_CONSOLE_TOKEN"  # noqa: S105  # the variable's name

STATUS_12_0 = """\
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
PYYAML = "Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.1.1\n"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "vulndb.sqlite"
    with AdvisoryStore.open(path) as store:
        import_path(store, DATA / "match" / "debian-bookworm-changelog-derived")
        import_path(store, DATA / "advisories" / "osv-pypi")
    return path


def _image(path: Path, tag: str) -> Path:
    """A real docker-save tarball: Debian 12.0's glibc and util-linux, and PyYAML 5.1.1
    (23 medium Debian findings with fixes, one PyPI finding of unknown severity)."""
    layer = {
        "etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
        "var/lib/dpkg/status": STATUS_12_0,
        "usr/lib/python3/dist-packages/PyYAML-5.1.1.dist-info/METADATA": PYYAML,
    }
    return docker_archive(path, [layer], repo_tags=(tag,))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _image(tmp_path_factory.mktemp("image") / "app.tar", TAG)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .stockadeignore.yaml from the checkout
    for variable in ("STOCKADE_DB", TOKEN_VARIABLE):
        monkeypatch.delenv(variable, raising=False)


@dataclass
class MovableClock:
    shift: dt.timedelta = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return utc_now() + self.shift


class Server:
    """uvicorn on a free port of 127.0.0.1 in a thread, over HTTP or HTTPS."""

    def __init__(self, app: Any, tls: tuple[Path, Path] | None = None) -> None:
        # TCP said outright, or asyncio leaves Nagle on (each answer ~40 ms late).
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.scheme = "https" if tls else "http"
        options: dict[str, Any] = {"log_level": "warning", "lifespan": "off"}
        if tls:
            options.update(ssl_certfile=str(tls[0]), ssl_keyfile=str(tls[1]))
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@dataclass
class Console:
    url: str
    store: Store
    clock: MovableClock
    tokens: dict[Role, str]
    events: list[ConsoleEvent] = field(default_factory=list)

    def api(self, role: Role = Role.ADMINISTRATOR) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.api(Role.OPERATOR) as client:
            answer = client.post(path, json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def get(self, path: str, **params: Any) -> Any:
        with self.api() as client:
            answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


def _start(tmp_path: Path, tls: bool = False) -> Iterator[tuple[Console, Server]]:
    config = ConsoleConfig(
        database_url=f"sqlite:///{tmp_path / 'console.sqlite'}",
        data_dir=tmp_path / "console-data",
        secure_cookies=False,
    )
    store = open_store(config)
    create_first_admin(store, "correct horse battery staple")
    clock = MovableClock()
    app = build_app(store, config, clock=clock)
    tokens = {}
    for role in Role:
        with store.write() as session:
            tokens[role] = create_token(
                session, name=f"test-{role.value}", role=role, actor="test", now=utc_now()
            ).token
    console = Console("", store, clock, tokens)
    app.state.console.event_listeners.append(console.events.append)
    files = ensure_self_signed(tmp_path / "tls", "127.0.0.1") if tls else None
    try:
        with Server(app, (files.certificate, files.key) if files else None) as server:
            console.url = server.url
            yield console, server
    finally:
        store.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    for running, _ in _start(tmp_path):
        yield running


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["scan", *args, "-f", "json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out) if captured.out.strip() else None
    return code, document, captured.err


def _published_id(err: str) -> int:
    match = re.search(r"as scan (\d+)", err)
    assert match, err
    return int(match.group(1))


def _team_rule(console: Console, **rule: Any) -> None:
    console.post(
        "/api/v1/policies/collections", {"name": "team", "images": ["registry.example/team/*"]}
    )
    console.post(
        "/api/v1/policies/rules/vulnerabilities",
        {"name": "team-gate", "collections": ["team"], **rule},
    )
    console.post(
        "/api/v1/policies/rules/vulnerabilities", {"name": "baseline", "alertThreshold": "high"}
    )


def test_scan_publishes_every_finding_and_the_packages(
    console: Console,
    image: Path,
    db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, console.tokens[Role.CI])
    code, shown, err = _scan(
        capsys,
        str(image),
        "--db",
        str(db),
        "--severity",
        "unknown",
        "--publish",
        console.url,
        "--namespace",
        "payments",
        "--label",
        "team=pay",
    )
    assert code == 0, err
    assert shown is not None
    assert [f["severity"] for f in shown["findings"]] == ["unknown"]  # the report as asked
    scan_id = _published_id(err)
    # The Console has every finding, not only the ones --severity showed, and the packages.
    findings = console.get(f"/api/v1/scans/{scan_id}/findings", limit=1000)
    assert findings["total"] == 24
    assert {"CVE-2023-4911", "CVE-2024-28085", "CVE-2019-20477"} <= {
        f["cve"] for f in findings["items"]
    }
    packages = console.get(f"/api/v1/scans/{scan_id}/packages")
    assert {(p["name"], p["type"]) for p in packages["items"]} == {
        ("bsdutils", "deb"),
        ("libc6", "deb"),
        ("PyYAML", "pypi"),
    }
    image_row = console.get(f"/api/v1/images/{shown['artifact']['digest']}")
    assert TAG in image_row["tags"]
    verdict = console.get(f"/api/v1/scans/{scan_id}/verdict")
    assert (verdict["outcome"], verdict["rule"]) == ("pass", None)
    assert verdict["subject"]["namespace"] == "payments"
    assert verdict["subject"]["labels"] == {"team": "pay"}
    assert console.tokens[Role.CI] not in err


def test_the_consoles_block_rule_fails_the_build_and_raises_an_event(
    console: Console, image: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _team_rule(console, alertThreshold="unknown", blockThreshold="medium")
    token = console.tokens[Role.CI]
    args = [str(image), "--db", str(db), "--token", token]
    code, shown, err = _scan(capsys, *args, "--publish", console.url, "--policy-from", console.url)
    assert code == 1
    assert shown is not None
    assert len(shown["findings"]) == 24
    assert "policy failed: vulnerabilities rule 'team-gate' (collection 'team'): block" in err
    assert "23 finding(s) at the block threshold, worst medium" in err
    assert "DEBCL-glibc-CVE-2023-4911 (medium) in libc6@2.36-9" in err
    assert "error:" not in err
    # The Console reached the same verdict on what was published, and said so.
    verdict = console.get(f"/api/v1/scans/{_published_id(err)}/verdict")
    assert (verdict["outcome"], verdict["rule"], verdict["counts"]["block"]) == (
        "block",
        "team-gate",
        23,
    )
    assert [(e.kind, e.severity, e.labels["image"]) for e in console.events] == [
        ("policy.vulnerabilities.block", "medium", TAG)
    ]
    # --exit-code chooses the status, as with --fail-on.
    code, _, _ = _scan(capsys, *args, "--policy-from", console.url, "--exit-code", "7")
    assert code == 7


def test_a_rule_for_other_images_does_not_gate_this_one(
    console: Console, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _team_rule(console, blockThreshold="medium")
    other = _image(tmp_path / "other.tar", "registry.example/platform/base:3")
    code, _, err = _scan(
        capsys,
        str(other),
        "--db",
        str(db),
        "--token",
        console.tokens[Role.CI],
        "--policy-from",
        console.url,
    )
    assert code == 0, err
    assert "policy: vulnerabilities rule 'baseline' (collection 'all'): pass" in err
    # The same image said to be in a namespace a stricter first rule covers is blocked.
    console.post("/api/v1/policies/collections", {"name": "pci", "namespaces": ["pci-*"]})
    console.post(
        "/api/v1/policies/rules/vulnerabilities",
        {"name": "pci", "collections": ["pci"], "alertThreshold": "medium", "position": 1},
    )
    code, _, err = _scan(
        capsys,
        str(other),
        "--db",
        str(db),
        "--token",
        console.tokens[Role.CI],
        "--policy-from",
        console.url,
        "--namespace",
        "pci-eu",
    )
    assert code == 0, err
    assert "warning: policy alert: vulnerabilities rule 'pci' (collection 'pci'): alert" in err


def test_policy_from_counts_the_grace_period_from_the_consoles_first_fix(
    console: Console, image: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _team_rule(console, blockThreshold="medium", graceDays=30)
    args = [str(image), "--db", str(db), "--token", console.tokens[Role.CI]]
    code, _, err = _scan(capsys, *args, "--policy-from", console.url)
    assert code == 0, err  # fixes the Console never saw are new: within the grace period
    assert "policy alert: vulnerabilities rule 'team-gate'" in err
    assert "in the grace period until" not in err  # alerts list no blocking reasons

    # The Console first sees these fixes 31 days ago (its clock moved back for a publish).
    console.clock.shift = -dt.timedelta(days=31)
    code, _, err = _scan(capsys, *args, "--publish", console.url)
    assert code == 0, err
    assert console.events[-1].kind == "policy.vulnerabilities.alert"
    console.clock.shift = dt.timedelta()

    code, _, err = _scan(capsys, *args, "--policy-from", console.url, "--publish", console.url)
    assert code == 1, err
    assert "policy failed: vulnerabilities rule 'team-gate'" in err
    assert console.events[-1].kind == "policy.vulnerabilities.block"  # the Console agrees


def test_a_failed_publish_exits_4_after_printing_the_report(
    console: Console, image: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [str(image), "--db", str(db)]
    wrong = "stk_" + "x" * 43
    code, shown, err = _scan(capsys, *base, "--publish", console.url, "--token", wrong)
    assert code == 4
    assert shown is not None
    assert len(shown["findings"]) == 24
    assert "error: the Console refused the result (HTTP 401)" in err
    assert "hint: the token is wrong, expired or revoked" in err
    assert wrong not in err
    auditor = console.tokens[Role.AUDITOR]
    code, _, err = _scan(capsys, *base, "--publish", console.url, "--token", auditor)
    assert code == 4
    assert "HTTP 403" in err
    assert "--role ci" in err
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    code, shown, err = _scan(
        capsys, *base, "--publish", f"http://127.0.0.1:{port}", "--token", wrong
    )
    assert code == 4
    assert shown is not None
    assert "error: cannot reach the Console at http://127.0.0.1:" in err
    # A failed gate outranks a failed publish: exit 1, the publish error as a warning.
    code, _, err = _scan(
        capsys, *base, "--publish", console.url, "--token", wrong, "--fail-on", "medium"
    )
    assert code == 1
    assert "policy failed: 23 finding(s) at severity medium or above" in err
    assert "warning: the Console refused the result (HTTP 401)" in err
    # --policy-from that cannot be read fails closed: no verdict, exit 4.
    code, _, err = _scan(capsys, *base, "--policy-from", console.url, "--token", wrong)
    assert code == 4
    assert "the Console refused the policy request (HTTP 401)" in err
    with console.api(Role.AUDITOR) as client:
        assert client.get("/api/v1/scans").json()["total"] == 0


def test_console_options_without_a_token_are_a_usage_error(
    image: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown, err = _scan(capsys, str(image), "--db", str(db), "--publish", "https://c:8443")
    assert code == 2
    assert shown is None  # refused before scanning
    assert f"hint: set {TOKEN_VARIABLE}" in err
    code, _, err = _scan(capsys, str(image), "--db", str(db), "--namespace", "prod")
    assert code == 2
    assert "add --publish URL or --policy-from URL" in err


def test_console_ca_trusts_a_self_signed_console(
    tmp_path: Path, image: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for console, _ in _start(tmp_path, tls=True):
        assert console.url.startswith("https://")
        certificate = tmp_path / "tls" / "console.crt"
        base = [str(image), "--db", str(db), "--publish", console.url]
        base += ["--token", console.tokens[Role.CI]]
        code, _, err = _scan(capsys, *base)
        assert code == 4
        assert "certificate" in err.lower()
        assert "--console-ca FILE" in err
        code, _, err = _scan(capsys, *base, "--console-ca", str(certificate))
        assert code == 0, err
        _published_id(err)


def test_check_publishes_and_gates_on_the_compliance_policy(
    console: Console, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:12\nRUN apt-get update\n")
    console.post(
        "/api/v1/policies/rules/compliance",
        {"name": "dockerfiles", "alertThreshold": "low", "blockThreshold": "medium"},
    )
    token = console.tokens[Role.CI]
    code = main(
        [
            "check",
            str(dockerfile),
            "-f",
            "json",
            "--token",
            token,
            "--publish",
            console.url,
            "--policy-from",
            console.url,
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    report = json.loads(captured.out)
    assert report["summary"]["failed"] == 3
    assert "policy failed: compliance rule 'dockerfiles' (collection 'all'): block" in captured.err
    assert "STK-DF-003 (medium)" in captured.err
    verdict = console.get(f"/api/v1/scans/{_published_id(captured.err)}/verdict")
    assert (verdict["kind"], verdict["outcome"]) == ("compliance", "block")
    assert [r["id"] for r in verdict["reasons"]] == ["STK-DF-003", "STK-DF-002", "STK-DF-005"]
    assert [(e.kind, e.severity) for e in console.events] == [("policy.compliance.block", "medium")]


def test_the_installed_command_publishes_with_the_token_from_the_environment(
    console: Console, image: Path, db: Path
) -> None:
    token = console.tokens[Role.CI]
    run = run_stockade(
        "scan",
        str(image),
        "--db",
        str(db),
        "-f",
        "json",
        "--publish",
        console.url,
        env=clean_env(**{TOKEN_VARIABLE: token}),
    )
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["summary"]["findings"] == 24
    assert token not in run.stderr
    scans = console.get("/api/v1/scans")
    assert scans["total"] == 1
    assert scans["items"][0]["publishedBy"].startswith("token:")
