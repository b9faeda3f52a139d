"""Acceptance: the real Debian 12 test image scanned with the advisory data Stockade ships.

The findings are checked against an oracle that shares no code with Stockade: for every
Debian record in the bundled data (the store is the bundle, installed as a user's first
scan installs it), ``dpkg-query`` on the image's root gives each binary package's source
name and version, and ``dpkg --compare-versions`` says whether that version is below the
fix. glibc, openssl and curl are in the image and in the bundled Debian data; which of
their CVEs remain depends on the versions the mirror served when the image was built
(point-release versions lag the security fixes the changelog data records), so the test
compares with the oracle rather than with a fixed list.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.support.images import BookwormImage, bookworm_image, missing_tools

from stockade.cli.main import main
from stockade.core.advisory import RangeType
from stockade.vulndb import AdvisoryStore
from stockade.vulndb.bundle import ensure_store

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture(scope="module")
def image() -> BookwormImage:
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root to build the test image")
    missing = missing_tools("debootstrap", "umoci", "skopeo", "npm", "dpkg-query")
    if missing:
        pytest.skip(f"missing tools to build the test image: {', '.join(missing)}")
    return bookworm_image()


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite"
    ensure_store(path).close()  # what the first `stockade scan` does
    return path


@pytest.fixture(scope="module")
def report(
    image: BookwormImage, store_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("scan") / "scan.json"
    code = main(
        [
            "--quiet",
            "scan",
            str(image.docker_archive),
            "--db",
            str(store_path),
            "-f",
            "json",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def _sources(root: Path) -> dict[str, tuple[str, str]]:
    """binary package → (source name, source version), as dpkg itself reports them."""
    listing = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={root}/var/lib/dpkg",
            "-W",
            "-f=${Package}\t${source:Package}\t${source:Version}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sources = {}
    for line in listing.splitlines():
        binary, source, version = line.split("\t")
        sources[binary] = (source, version)
    return sources


def _older(version: str, fixed: str) -> bool:
    return (
        subprocess.run(["dpkg", "--compare-versions", version, "lt", fixed], check=False).returncode
        == 0
    )


def test_debian_findings_are_exactly_what_dpkg_implies(
    image: BookwormImage, store_path: Path, report: dict[str, Any]
) -> None:
    sources = _sources(image.rootfs)
    expected: set[tuple[str, str]] = set()
    checked_sources: set[str] = set()
    with AdvisoryStore.open(store_path, read_only=True) as store:
        by_source = store.lookup(sorted({("Debian:12", s) for s, _ in sources.values()}))
        for binary, (source, version) in sources.items():
            for advisory in by_source[("Debian:12", source)]:
                for entry in advisory.affected_for("Debian:12", source):
                    checked_sources.add(source)
                    fixes = [
                        event.value
                        for r in entry.ranges
                        if r.type is RangeType.ECOSYSTEM
                        for event in r.events
                        if event.kind.value == "fixed"
                    ]
                    if any(_older(version, fix) for fix in fixes):
                        expected.add((binary, advisory.id))
    # The bundled Debian data really covers the packages this test is about.
    assert {"glibc", "openssl", "curl"} <= checked_sources
    found = {
        (f["package"]["name"], f["id"]) for f in report["findings"] if f["package"]["type"] == "deb"
    }
    assert found == expected


def test_no_finding_for_a_package_at_or_past_its_fix(report: dict[str, Any]) -> None:
    for finding in report["findings"]:
        if finding["package"]["type"] != "deb" or not finding["fixedVersions"]:
            continue
        installed = finding["installedVersion"]
        assert any(_older(installed, fix) for fix in finding["fixedVersions"]), finding


def test_language_packages_of_the_image_are_scanned(report: dict[str, Any]) -> None:
    # requests 2.19.0 and PyYAML 5.3 are old: the bundled PyPA data names them.
    pypi = {
        (f["package"]["name"].lower(), f["id"])
        for f in report["findings"]
        if f["package"]["type"] == "pypi"
    }
    assert any(name == "requests" for name, _ in pypi)
    assert any(name == "pyyaml" for name, _ in pypi)


def test_binnmu_packages_are_compared_by_their_source_version(
    image: BookwormImage, report: dict[str, Any]
) -> None:
    sources = _sources(image.rootfs)
    binnmus = {b for b in sources if "+b" in _binary_version(image, b)}
    assert binnmus, "the image has no binNMU package: the test proves nothing"
    for finding in report["findings"]:
        name = finding["package"]["name"]
        if finding["package"]["type"] != "deb":
            continue
        source, source_version = sources[name]
        assert finding["matchedName"] == source
        assert finding["installedVersion"] == source_version
        if name in binnmus:
            assert finding["package"]["version"] != source_version


def _binary_version(image: BookwormImage, binary: str) -> str:
    return subprocess.run(
        ["dpkg-query", f"--admindir={image.rootfs}/var/lib/dpkg", "-W", "-f=${Version}", binary],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
