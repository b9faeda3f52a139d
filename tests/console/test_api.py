"""The API over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from stockade.console.client import publish_scan
from stockade.console.errors import PublishError
from stockade.console.identity.credentials import digest
from stockade.console.roles import Role
from stockade.console.store.models import FindingRow, Scan
from stockade.console.testing import synthetic_check_document, synthetic_scan_document

from .conftest import ADMIN_PASSWORD, RunningConsole

DATA = Path(__file__).resolve().parents[1] / "data"

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


@pytest.fixture(scope="module")
def scan_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real ``stockade scan -f json`` of a Debian root filesystem with a lockfile."""
    from stockade.cli.main import main
    from stockade.vulndb import AdvisoryStore, import_path

    base = tmp_path_factory.mktemp("scan")
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
    document = json.loads(out.getvalue())
    assert document["findings"], "the test scan should find something"
    return document


def _image_document(document: dict[str, Any]) -> dict[str, Any]:
    """The scan of a directory, presented as an image (a digest and a tag)."""
    image = json.loads(json.dumps(document))
    image["artifact"].update(
        type="docker-archive", digest="sha256:" + "ab" * 32, repoTags=["example/app:1.0"]
    )
    return image


def test_a_published_real_scan_reads_back(
    console: RunningConsole, scan_document: dict[str, Any]
) -> None:
    answer = publish_scan(console.url, console.tokens[Role.CI], _image_document(scan_document))
    assert answer["findings"] == len(scan_document["findings"])
    reader = console.client(Role.AUDITOR)
    images = reader.get("/api/v1/images").json()
    assert images["total"] == 1
    image = images["items"][0]
    assert image["name"] == "example/app:1.0"
    detail = reader.get(f"/api/v1/images/{image['digest']}").json()
    assert detail["tags"] == ["example/app:1.0"]
    assert detail["latestScan"]["id"] == answer["scanId"]
    findings = reader.get(f"/api/v1/images/{image['digest']}/findings?limit=1000").json()
    stored = {(f["id"], f["package"]) for f in findings["items"]}
    published = {
        (f["id"], f["package"]["name"]) for f in scan_document["findings"] if not f["suppressed"]
    }
    assert stored == published
    cve = "CVE-2024-28085"
    impact = reader.get(f"/api/v1/vulnerabilities/{cve}").json()
    assert impact["items"][0]["image"]["digest"] == image["digest"]
    assert impact["items"][0]["finding"]["package"] == "bsdutils"
    vulns = reader.get("/api/v1/vulnerabilities", params={"q": "2024-28085"}).json()
    assert vulns["items"][0]["images"] == 1
    search = reader.get("/api/v1/search", params={"q": "example/app"}).json()
    assert [i["digest"] for i in search["images"]] == [image["digest"]]
    csv = reader.get("/api/v1/images", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert "example/app:1.0" in csv.text.splitlines()[1]


def test_a_directory_scan_and_a_host_scan_are_kept_apart(
    console: RunningConsole, scan_document: dict[str, Any]
) -> None:
    publish_scan(console.url, console.tokens[Role.CI], scan_document)
    publish_scan(console.url, console.tokens[Role.CI], scan_document, host="node-1")
    reader = console.client(Role.AUDITOR)
    assert reader.get("/api/v1/images").json()["total"] == 0
    hosts = reader.get("/api/v1/hosts").json()["items"]
    assert [h["name"] for h in hosts] == ["node-1"]
    scans = reader.get("/api/v1/scans").json()
    assert {s["artifactKey"].split(":")[0] for s in scans["items"]} == {"artifact", "host"}


def test_a_check_result_is_stored_and_summarised(console: RunningConsole) -> None:
    writer = console.client(Role.CI)
    answer = writer.post("/api/v1/checks", json=synthetic_check_document(3))
    assert answer.status_code == 201
    reader = console.client(Role.OPERATOR)
    checks = reader.get("/api/v1/compliance", params={"limit": 100}).json()
    assert checks["total"] == 40
    results = reader.get(f"/api/v1/scans/{answer.json()['scanId']}/results").json()
    assert results["total"] == 40


def test_a_malformed_publish_stores_nothing(console: RunningConsole) -> None:
    writer = console.client(Role.CI)
    document = synthetic_scan_document(5)
    document["findings"][-1]["severity"] = "apocalyptic"  # the last one is wrong
    answer = writer.post("/api/v1/scans", json=document)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["loc"][:2] == ["body", "findings"]
    broken = writer.post(
        "/api/v1/scans",
        content=b'{"schemaVersion": 1, "findings": [',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 422
    nul = synthetic_scan_document(6)
    nul["findings"][-1]["title"] = "a NUL \x00 PostgreSQL refuses"
    assert writer.post("/api/v1/scans", json=nul).status_code in (201, 422)
    with console.store.read() as session:
        scans = session.scalar(select(func.count()).select_from(Scan))
        assert scans in (0, 1)  # SQLite keeps the NUL; PostgreSQL refuses the whole document
        if scans == 0:
            assert session.scalar(select(func.count()).select_from(FindingRow)) == 0


def test_bodies_over_the_limit_are_refused(console: RunningConsole) -> None:
    writer = console.client(Role.CI)
    huge = b"[" + b" " * (console.config.max_body_bytes + 1) + b"]"
    answer = writer.post(
        "/api/v1/scans", content=huge, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"

    def chunks() -> Any:
        for _ in range(console.config.max_body_bytes // (1 << 20) + 2):
            yield b" " * (1 << 20)

    streamed = writer.post(
        "/api/v1/scans", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_the_client_says_why_a_publish_failed(console: RunningConsole) -> None:
    with pytest.raises(PublishError) as failure:
        publish_scan(console.url, console.tokens[Role.AUDITOR], synthetic_scan_document(1))
    assert "HTTP 403" in failure.value.message
    assert console.tokens[Role.AUDITOR] not in failure.value.diagnostics()


def test_login_sets_a_strict_cookie_and_unsafe_requests_need_csrf(
    console: RunningConsole,
) -> None:
    browser = console.client()
    assert (
        browser.post(
            "/api/v1/session", json={"username": "admin", "password": "wrong password!"}
        ).status_code
        == 401
    )
    login = browser.post("/api/v1/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    csrf = login.json()["csrfToken"]
    assert browser.get("/api/v1/me").json()["role"] == "administrator"
    body = {"name": "from-ui", "role": "ci"}
    assert browser.post("/api/v1/tokens", json=body).status_code == 403
    assert (
        browser.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "forged"}).status_code
        == 403
    )
    assert (
        browser.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    )
    assert browser.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert browser.get("/api/v1/me").status_code == 401


def test_tokens_are_stored_as_digests_only(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    issued = admin.post("/api/v1/tokens", json={"name": "pipeline", "role": "ci"}).json()
    token = issued["token"]
    assert token.startswith("stk_")
    assert "token" not in admin.get("/api/v1/tokens").json()["items"][0]
    with console.store.read() as session:
        rows = session.execute(text("SELECT * FROM api_tokens")).all()
        audit = session.execute(text("SELECT * FROM audit_log")).all()
    dump = repr(rows) + repr(audit)
    assert token not in dump
    assert token[4:] not in dump
    assert digest(token) in dump
    ci = console.client()
    ci.headers["Authorization"] = f"Bearer {token}"
    assert ci.get("/api/v1/me").json()["name"] == "pipeline"
    assert admin.delete(f"/api/v1/tokens/{issued['id']}").status_code == 204
    assert ci.get("/api/v1/me").status_code == 401


def test_administrative_changes_are_audited(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    user = admin.post(
        "/api/v1/users",
        json={"username": "alice", "password": "a long enough password", "role": "operator"},
    ).json()
    assert admin.patch(f"/api/v1/users/{user['id']}", json={"role": "auditor"}).status_code == 200
    assert (
        admin.patch(
            f"/api/v1/users/{user['id']}", json={"password": "another long password"}
        ).status_code
        == 200
    )
    assert (
        admin.put(
            "/api/v1/settings/retention",
            json={"keepScans": 5, "maxAgeDays": 30, "eventMaxAgeDays": None},
        ).status_code
        == 200
    )
    assert admin.delete(f"/api/v1/users/{user['id']}").status_code == 204
    me = admin.get("/api/v1/users").json()["items"][0]
    refused = admin.patch(f"/api/v1/users/{me['id']}", json={"disabled": True})
    assert refused.status_code == 409  # the last administrator stays
    auditor = console.client(Role.AUDITOR)
    entries = auditor.get("/api/v1/audit", params={"limit": 100}).json()["items"]
    actions = [e["action"] for e in entries if e["actor"] == "token:test-administrator"]
    assert actions == [
        "user.delete",
        "settings.retention",
        "user.change",
        "user.change",
        "user.create",
    ]
    assert all("password" not in json.dumps(e["detail"]).replace('"password"', "") for e in entries)
    assert "another long password" not in json.dumps(entries)


def test_publishing_prunes_an_artifacts_history(console: RunningConsole) -> None:
    admin = console.client(Role.ADMINISTRATOR)
    admin.put(
        "/api/v1/settings/retention",
        json={"keepScans": 2, "maxAgeDays": None, "eventMaxAgeDays": None},
    )
    writer = console.client(Role.CI)
    for _ in range(4):
        assert writer.post("/api/v1/scans", json=synthetic_scan_document(9)).status_code == 201
    digest_ = synthetic_scan_document(9)["artifact"]["digest"]
    scans = console.client(Role.AUDITOR).get("/api/v1/scans", params={"image": digest_}).json()
    assert scans["total"] == 2


def test_defenders_push_events_and_readers_see_them(console: RunningConsole) -> None:
    defender = console.client(Role.DEFENDER)
    answer = defender.post(
        "/api/v1/events",
        json={
            "host": "node-1",
            "events": [
                {
                    "kind": "process",
                    "occurredAt": "2026-01-01T10:00:00Z",
                    "payload": {"exe": "/bin/sh"},
                },
            ],
        },
    )
    assert answer.status_code == 202
    events = console.client(Role.AUDITOR).get("/api/v1/events").json()["items"]
    assert events[0]["payload"] == {"exe": "/bin/sh"}
    assert defender.get("/api/v1/events").status_code == 403


def test_metrics_need_a_reader_and_speak_prometheus(console: RunningConsole) -> None:
    console.client(Role.CI).post("/api/v1/scans", json=synthetic_scan_document(1))
    assert console.client().get("/metrics").status_code == 401
    assert console.client(Role.CI).get("/metrics").status_code == 403
    answer = console.client(Role.AUDITOR).get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "stockade_console_images 1" in answer.text


def test_health_and_readiness_are_open(console: RunningConsole) -> None:
    anonymous = console.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json()["status"] == "ready"


def _expected_vulnerabilities(
    latest: dict[str, dict[str, Any]], min_severity: str | None, sort: str
) -> list[dict[str, Any]]:
    """The vulnerability list computed from the published documents themselves."""
    rank = {w: i for i, w in enumerate(("unknown", "negligible", "low", "medium", "high"))}
    rank["critical"] = 5
    floor = rank[min_severity] if min_severity else 0
    grouped: dict[str, dict[str, Any]] = {}
    for image, document in latest.items():
        for finding in document["findings"]:
            severity = rank[finding["severity"]]
            if finding["suppressed"] or severity < floor:
                continue
            row = grouped.setdefault(
                finding["id"],
                {"id": finding["id"], "cve": None, "s": 0, "images": set(), "fix": 0},
            )
            row["cve"] = max(filter(None, (row["cve"], finding["cve"])), default=None)
            row["s"] = max(row["s"], severity)
            row["images"].add(image)
            row["fix"] += finding["fixState"] == "fixed"
    words = {v: k for k, v in rank.items()}
    rows = [
        {
            "id": r["id"],
            "cve": r["cve"],
            "severity": words[r["s"]],
            "images": len(r["images"]),
            "fixableFindings": r["fix"],
        }
        for r in grouped.values()
    ]
    if sort == "severity":
        rows.sort(key=lambda r: (-rank[r["severity"]], -r["images"], r["id"]))
    else:
        rows.sort(key=lambda r: (-r["images"], -rank[r["severity"]], r["id"]))
    return rows


def test_vulnerability_lists_match_the_published_documents(console: RunningConsole) -> None:
    writer = console.client(Role.CI)
    latest: dict[str, dict[str, Any]] = {}
    documents = []
    for seed in range(6):
        document = synthetic_scan_document(seed, findings=30, packages=40, vulnerability_pool=50)
        for i, finding in enumerate(document["findings"]):
            if i % 6 == 1:
                finding["severity"] = "critical"  # the same vulnerability, worse here
        documents.append(document)
    replacement = synthetic_scan_document(99, findings=30, packages=40, vulnerability_pool=50)
    replacement["artifact"] = documents[2]["artifact"]  # image 2 is scanned again
    for document in [*documents, documents[4], replacement]:
        assert writer.post("/api/v1/scans", json=document).status_code == 201
        latest[document["artifact"]["digest"]] = document

    reader = console.client(Role.AUDITOR)
    for severity in (None, "low", "high", "critical"):
        for sort in ("impact", "severity"):
            params: dict[str, Any] = {"limit": 1000, "sort": sort}
            if severity:
                params["severity"] = severity
            page = reader.get("/api/v1/vulnerabilities", params=params).json()
            expected = _expected_vulnerabilities(latest, severity, sort)
            assert page["items"] == expected, (severity, sort)
            assert page["total"] == len(expected)
    wanted = _expected_vulnerabilities(latest, None, "impact")
    found = reader.get("/api/v1/vulnerabilities", params={"q": wanted[0]["id"].lower()}).json()
    assert wanted[0] in found["items"]
    assert all(wanted[0]["id"].lower() in v["id"].lower() for v in found["items"])
    risks = reader.get("/api/v1/risks", params={"limit": 5}).json()
    assert risks["vulnerabilities"] == _expected_vulnerabilities(latest, "high", "severity")[:5]
    download = reader.get("/api/v1/vulnerabilities", params={"limit": 3, "format": "csv"})
    lines = download.text.splitlines()
    assert lines[0] == "id,cve,severity,images,fixableFindings"
    assert lines[1].split(",")[:4] == [
        wanted[0]["id"],
        wanted[0]["cve"] or "",
        wanted[0]["severity"],
        str(wanted[0]["images"]),
    ]
    assert download.headers["x-total-count"] == str(len(wanted))

    package = replacement["packages"][0]
    users = sum(
        any(
            p["name"] == package["name"] and p["version"] == package["version"]
            for p in d["packages"]
        )
        for d in latest.values()
    )
    found = reader.get("/api/v1/search", params={"q": package["name"].upper()}).json()
    assert {"name": package["name"], "version": package["version"], "images": users} in found[
        "packages"
    ]
    gone = documents[2]["packages"][0]
    if not any(
        p["name"] == gone["name"] and p["version"] == gone["version"]
        for d in latest.values()
        for p in d["packages"]
    ):  # image 2's old packages left the summary with its old scan
        found = reader.get("/api/v1/search", params={"q": gone["name"]}).json()
        assert all(p["name"] != gone["name"] for p in found["packages"])


def test_compliance_lists_follow_each_targets_latest_result(console: RunningConsole) -> None:
    writer = console.client(Role.CI)
    first = synthetic_check_document(1, results=10)
    for document in (first, synthetic_check_document(2, results=10)):
        assert writer.post("/api/v1/checks", json=document).status_code == 201
    again = synthetic_check_document(3, results=10)
    again["target"] = first["target"]  # target 1 checked again, with other outcomes
    assert writer.post("/api/v1/checks", json=again).status_code == 201

    latest = [again, synthetic_check_document(2, results=10)]
    reader = console.client(Role.AUDITOR)
    checks = reader.get("/api/v1/compliance", params={"limit": 100}).json()
    by_check = {c["check"]: c for c in checks["items"]}
    assert checks["total"] == 10
    for n in range(10):
        statuses = [d["results"][n]["status"] for d in latest]
        row = by_check[f"STK-K8S-{n:03d}"]
        assert (row["failed"], row["passed"], row["failingTargets"]) == (
            statuses.count("failed"),
            statuses.count("passed"),
            statuses.count("failed"),
        )
    failing = next(c for c in checks["items"] if c["failed"])
    results = reader.get(
        f"/api/v1/compliance/{failing['check']}", params={"status": "failed"}
    ).json()
    assert results["total"] == failing["failed"]
    assert {r["target"] for r in results["items"]} <= {d["target"] for d in latest}
    assert [c["failed"] for c in checks["items"]] == sorted(
        (c["failed"] for c in checks["items"]), reverse=True
    )
