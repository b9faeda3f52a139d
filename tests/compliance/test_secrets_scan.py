"""Scanning artifacts: image layers and whiteouts, directories, zip packages, and hostile
files (huge single lines, binaries) that must neither hang nor crash the scan."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from tests.artifact.imagebuilder import WHITEOUT, Hardlink, docker_archive

from stockade.artifact.memory import OPAQUE, MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.artifact.zipsource import ZipSource
from stockade.compliance.interface import SecretFinding
from stockade.compliance.secrets import (
    Detector,
    ScanOptions,
    load_rules,
    parse_rules,
    scan_secrets,
    scan_source,
    scan_target,
)
from stockade.compliance.secrets.engine import re2_available
from stockade.compliance.secrets.scan import CHUNK_BYTES

DATA = Path(__file__).resolve().parent.parent / "data" / "secrets"
AWS = "AKIALALEMEL33243OLIA"  # gitleaks' own test key
AWS2 = "AKIAQWERTYUIOPASDFGH"
ENGINES = [
    "python",
    pytest.param(
        "re2", marks=pytest.mark.skipif(not re2_available(), reason="google-re2 not installed")
    ),
]


def aws_rules() -> Detector:
    return Detector(parse_rules("[[rules]]\nid = 'aws'\nregex = '''AKIA[A-Z0-9]{16}'''\n"))


def where(findings: tuple[SecretFinding, ...] | list[SecretFinding]) -> list[tuple[str, int]]:
    return [(f.file, f.line) for f in findings]


# --- images -----------------------------------------------------------------------------------


def test_secret_in_a_layer_later_deleted_is_not_reported():
    source = MemorySource(
        [
            {"app/.env": f"KEY={AWS}\n", "app/keep.txt": f"x\n{AWS2}\n", "etc/old/key": AWS},
            {"app/.env": None, "etc/old": OPAQUE},
        ]
    )
    result = scan_source(source, aws_rules())
    assert where(result.findings) == [("app/keep.txt", 2)]
    assert result.findings[0].layer == source.layers()[0].info.diff_id
    kept = scan_source(source, aws_rules(), options=ScanOptions(include_removed=True))
    assert sorted(where(kept.findings)) == [
        ("app/.env", 1),
        ("app/keep.txt", 2),
        ("etc/old/key", 1),
    ]


def test_replaced_file_takes_its_findings_with_it():
    source = MemorySource(
        [
            {"a.conf": AWS, "b.conf": "clean", "dir/x": AWS},
            {"a.conf": "clean now", "b.conf": AWS2, "dir": "now a file"},
        ]
    )
    result = scan_source(source, aws_rules())
    assert where(result.findings) == [("b.conf", 1)]
    assert result.findings[0].layer == source.layers()[1].info.diff_id


def test_docker_archive_with_a_whiteout(tmp_path: Path):
    image = docker_archive(
        tmp_path / "image.tar",
        [
            {"srv/secret.env": f"AWS={AWS}\n", "srv/config.ini": f"k={AWS2}\n"},
            {"srv/secret.env": WHITEOUT, "srv/other.txt": "clean"},
        ],
        compression="gzip",
    )
    findings = scan_secrets(image, load_rules())
    assert where(findings) == [("srv/config.ini", 1)]
    assert findings[0].rule_id == "aws-access-token"
    assert findings[0].layer is not None
    assert findings[0].layer.startswith("sha256:")


def test_hard_link_in_the_same_layer_shares_the_findings(tmp_path: Path):
    image = docker_archive(
        tmp_path / "image.tar",
        [{"srv/config.ini": f"k={AWS2}\n", "srv/copy.ini": Hardlink("srv/config.ini")}],
    )
    assert where(scan_secrets(image, load_rules())) == [("srv/config.ini", 1), ("srv/copy.ini", 1)]


# --- directories and zips ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_gitleaks_archive_fixture(engine: str):
    """gitleaks' archive test: AWS keys at line 20 of both Go files; .env.prod allowlisted."""
    rules = load_rules(DATA / "gitleaks" / "testdata" / "config" / "archives.toml")
    zip_path = DATA / "gitleaks" / "testdata" / "archives" / "files.zip"
    result = scan_source(ZipSource(zip_path), rules, options=ScanOptions(engine=engine))
    assert [(f.file, f.line, f.rule_id) for f in result.findings] == [
        ("files/api.go", 20, "aws-access-key"),
        ("files/main.go", 20, "aws-access-key"),
    ]
    assert result.skipped == {"allowlisted": 1}
    assert result.engine == engine


def test_directory_target_and_counts(tmp_path: Path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(f'AWS = "{AWS}"\n')
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + AWS.encode())
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01" + AWS.encode())
    (tmp_path / "empty").write_text("")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text(AWS)
    warnings: list[str] = []
    result = scan_target(str(tmp_path), warn=warnings.append)
    assert where(result.findings) == [("src/app.py", 1)]
    assert result.files == 1
    assert result.skipped == {"allowlisted": 2, "binary": 1}  # logo.png by path, node_modules
    assert warnings == []


def test_zip_function_package(tmp_path: Path):
    package = tmp_path / "lambda.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("handler.py", f"import os\nKEY = '{AWS2}'\n")
        archive.writestr("lib/clean.py", "print('hi')\n")
    assert where(scan_secrets(package)) == [("handler.py", 2)]


def test_path_only_rules_see_binary_files(tmp_path: Path):
    (tmp_path / "client.p12").write_bytes(b"\x30\x82\x00\x00binary der")
    (tmp_path / "empty.p12").write_bytes(b"")
    findings = scan_secrets(DirectorySource(tmp_path))
    assert [(f.file, f.line, f.rule_id, f.redacted) for f in findings] == [
        ("client.p12", 0, "pkcs12-file", "")
    ]


# --- chunks, size and time bounds -------------------------------------------------------------


def test_line_numbers_survive_chunking():
    filler = "x = 1\n" * (3 * CHUNK_BYTES // 6)
    text = filler + f"k = {AWS}\n" + filler + f"k = {AWS2}\n"
    result = scan_source(MemorySource([{"big.py": text}]), aws_rules())
    first = filler.count("\n") + 1
    assert where(result.findings) == [("big.py", first), ("big.py", 2 * first)]


def test_files_over_the_size_cap_are_skipped():
    source = MemorySource([{"big.txt": "a" * 2048 + AWS}])
    result = scan_source(source, aws_rules(), options=ScanOptions(max_file_bytes=1024))
    assert result.findings == ()
    assert result.skipped == {"too large": 1}


@pytest.mark.parametrize("engine", ENGINES)
def test_hostile_single_line_is_bounded(engine: str):
    """8 MiB on one line, full of the keywords and prefixes the default rules chase."""
    line = ("api_key=" + "-----BEGIN PRIVATE KEY-----" + "curl -u " + "a" * 40 + " ") * 80_000
    source = MemorySource([{"hostile.txt": line[: 8 * 1024**2]}])
    detector = Detector(load_rules(), engine)
    options = ScanOptions(engine=engine, file_timeout=3.0)
    started = time.monotonic()
    result = scan_source(source, detector, options=options)
    assert time.monotonic() - started < 30
    assert result.skipped.get("timed out", 0) in (0, 1)
    if result.skipped.get("timed out"):
        assert "stopped after 3s" in result.warnings[0]


def test_binary_and_invalid_utf8_do_not_crash():
    blob = bytes(range(256)) * 4096
    text = b"key = \xff\xfe\xfd " + AWS.encode() + b"\n\xc3"
    source = MemorySource([{"bin": blob, "latin.txt": text}])
    result = scan_source(source, aws_rules())
    assert where(result.findings) == [("latin.txt", 1)]
    assert result.skipped == {"binary": 1}
