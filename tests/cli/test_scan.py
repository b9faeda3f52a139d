"""`stockade scan` end to end: a real store, real catalogers, the CI gate's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockade.cli.main import main
from stockade.vulndb import AdvisoryStore, import_path

DATA = Path(__file__).resolve().parent.parent / "data"

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


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "vulndb.sqlite"
    with AdvisoryStore.open(path) as store:
        import_path(store, DATA / "match" / "debian-bookworm-changelog-derived")
        import_path(store, DATA / "advisories" / "osv-pypi")
    return path


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS_12_0)
    (root / "app").mkdir()
    (root / "app/requirements.txt").write_text("PyYAML==5.1.1\n")
    return root


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .stockadeignore.yaml from the checkout
    monkeypatch.delenv("STOCKADE_DB", raising=False)


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["scan", *args, "-f", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _ids(document: dict[str, object]) -> set[str]:
    findings = document["findings"]
    assert isinstance(findings, list)
    return {f["cve"] or f["id"] for f in findings}


def test_scan_finds_os_and_language_vulnerabilities(
    rootfs: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _json(capsys, str(rootfs), "--db", str(db))
    assert code == 0
    ids = _ids(document)
    assert {"CVE-2023-4911", "CVE-2024-28085", "CVE-2019-20477"} <= ids
    findings = document["findings"]
    assert isinstance(findings, list)
    wall = next(f for f in findings if f["cve"] == "CVE-2024-28085")
    assert wall["package"]["name"] == "bsdutils"
    assert wall["installedVersion"] == "2.38.1-5"
    assert wall["fixedVersions"] == ["2.38.1-5+deb12u1"]


def test_the_gate_fails_with_exit_1_and_says_why(
    rootfs: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--quiet", "scan", str(rootfs), "--db", str(db), "-f", "json", "--fail-on", "low"])
    err = capsys.readouterr().err
    assert code == 1
    assert "policy failed:" in err
    assert "error:" not in err


def test_exit_code_alone_fails_on_any_finding(
    rootfs: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(rootfs), "--db", str(db), "-f", "json", "--exit-code", "7"]) == 7


def test_severity_and_ignore_unfixed_filter_the_report(
    rootfs: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, everything = _json(capsys, str(rootfs), "--db", str(db))
    _, some = _json(capsys, str(rootfs), "--db", str(db), "--severity", "critical")
    findings = some["findings"]
    assert isinstance(findings, list)
    assert all(f["severity"] == "critical" for f in findings)
    assert len(findings) < len(everything["findings"])  # type: ignore[arg-type]


def test_an_ignore_entry_suppresses_until_it_expires(
    rootfs: Path, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "- id: CVE-2019-20477\n"
        "  package: pkg:pypi/pyyaml\n"
        "  reason: yaml.load is never called on untrusted input\n"
        "  expires: 2999-01-01\n"
        "- id: CVE-2023-4911\n"
        "  reason: accepted until the base image moves\n"
        "  expires: 2020-01-01\n"
    )
    code = main(
        [
            "scan",
            str(rootfs),
            "--db",
            str(db),
            "-f",
            "json",
            "--ignorefile",
            str(ignore),
            "--fail-on",
            "critical",
            "--severity",
            "critical,high,medium,low,negligible,unknown",
        ]
    )
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    by_id = {f["cve"]: f for f in document["findings"]}
    assert by_id["CVE-2019-20477"]["suppressed"] is True
    assert by_id["CVE-2019-20477"]["suppression"]["kind"] == "ignored"
    assert by_id["CVE-2023-4911"]["suppressed"] is False
    assert "CVE-2023-4911" in captured.err
    assert "2020-01-01" in captured.err
    assert code == (1 if by_id["CVE-2023-4911"]["severity"] == "critical" else 0)


def test_a_cyclonedx_sbom_is_scanned_without_the_image(
    rootfs: Path, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom = tmp_path / "sbom.cdx.json"
    assert main(["sbom", str(rootfs), "-f", "cyclonedx", "-o", str(sbom)]) == 0
    capsys.readouterr()
    _, from_image = _json(capsys, str(rootfs), "--db", str(db))
    _, from_sbom = _json(capsys, str(sbom), "--db", str(db))
    assert _ids(from_sbom) == _ids(from_image)


@pytest.mark.parametrize("fmt", ["table", "sarif", "cyclonedx"])
def test_every_format_renders(
    rootfs: Path, db: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"report.{fmt}"
    assert main(["scan", str(rootfs), "--db", str(db), "-f", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert "CVE-2024-28085" in text
    if fmt != "table":
        json.loads(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "/nonexistent/vulndb.sqlite"], "no advisory store there"),
        (["--fail-on", "catastrophic"], "unknown severity 'catastrophic'"),
        (["--severity", "high,meh"], "unknown severity 'meh'"),
    ],
)
def test_bad_options_exit_2(
    rootfs: Path, db: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    full = ["scan", str(rootfs), "-f", "json", *args]
    if "--db" not in args:
        full += ["--db", str(db)]
    assert main(full) == 2
    assert message in capsys.readouterr().err
