"""Acceptance: the SBOM of a real Debian 12 image equals what its package managers say.

The image is built by ``tests/support/images.py`` with debootstrap, pip and npm and packed
by umoci and skopeo; the ground truth is ``dpkg-query``, ``pip list`` and ``npm ls`` run
on the very same files at build time. Every format Stockade reads the image from must
give exactly that list, with each package in the layer that installed it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL
from tests.support.images import (
    APP_DIR,
    BOOKWORM_REPO_TAG,
    SITE_PACKAGES,
    BookwormImage,
    bookworm_image,
    missing_tools,
    pep503,
)

from stockade.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.root]

TOOLS = ("debootstrap", "umoci", "skopeo", "npm", "dpkg-query")
IMAGE_FORMATS = ("docker-archive", "oci-layout", "oci-archive")
EXPECTED_TYPES = {"deb", "pypi", "npm"}


class Scanner:
    """Runs ``stockade sbom`` in-process once per (target, format) and keeps the result."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._done: dict[tuple[str, str], str] = {}

    def text(self, target: Path, fmt: str = "json") -> str:
        key = (str(target), fmt)
        if key not in self._done:
            out = self.out_dir / f"sbom-{len(self._done)}.{fmt}"
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("STOCKADE_DEBUG", "1")  # a traceback, should a bug surface
                code = main(["--quiet", "sbom", str(target), "-f", fmt, "-o", str(out)])
            assert code == 0, f"stockade sbom {target} -f {fmt} exited with {code}"
            self._done[key] = out.read_text()
        return self._done[key]

    def json(self, target: Path, fmt: str = "json") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.text(target, fmt))
        return document


@pytest.fixture(scope="module")
def image() -> BookwormImage:
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root to build the test image")
    missing = missing_tools(*TOOLS)
    if missing:
        pytest.skip(f"missing tools to build the test image: {', '.join(missing)}")
    return bookworm_image()


@pytest.fixture(scope="module")
def scanner(tmp_path_factory: pytest.TempPathFactory) -> Scanner:
    return Scanner(tmp_path_factory.mktemp("sboms"))


def _target(image: BookwormImage, image_format: str) -> Path:
    return {
        "docker-archive": image.docker_archive,
        "oci-layout": image.oci_layout,
        "oci-archive": image.oci_archive,
    }[image_format]


def _packages(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in document["packages"] if p["type"] == kind]


def _debs(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(p["name"], p["version"], p["arch"]) for p in _packages(document, "deb")}


def _pypi(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(pep503(p["name"]), p["version"]) for p in _packages(document, "pypi")}


def _npm(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["name"], p["version"]) for p in _packages(document, "npm")}


def _assert_same(found: set[Any], truth: frozenset[Any], what: str) -> None:
    missing = sorted(truth - found)
    extra = sorted(found - truth)
    assert not missing, f"{what}: missing {missing}"
    assert not extra, f"{what}: not in the ground truth {extra}"


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_debs_equal_dpkg_query(image: BookwormImage, scanner: Scanner, image_format: str) -> None:
    document = scanner.json(_target(image, image_format))
    _assert_same(_debs(document), image.truth.deb, "deb packages vs dpkg-query")
    assert len(_packages(document, "deb")) == len(image.truth.deb)
    assert len(image.truth.deb) > 80  # minbase: the whole base system, not a sample


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_python_packages_equal_pip_list(
    image: BookwormImage, scanner: Scanner, image_format: str
) -> None:
    document = scanner.json(_target(image, image_format))
    _assert_same(_pypi(document), image.truth.pypi, "pypi packages vs pip list")
    assert len(_packages(document, "pypi")) == len(image.truth.pypi)


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_npm_packages_equal_npm_ls(
    image: BookwormImage, scanner: Scanner, image_format: str
) -> None:
    document = scanner.json(_target(image, image_format))
    _assert_same(_npm(document), image.truth.npm, "npm packages vs npm ls")
    assert len(_packages(document, "npm")) == len(image.truth.npm)


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_nothing_but_the_installed_ecosystems(
    image: BookwormImage, scanner: Scanner, image_format: str
) -> None:
    document = scanner.json(_target(image, image_format))
    assert {p["type"] for p in document["packages"]} == EXPECTED_TYPES


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_os_and_layers_are_reported(
    image: BookwormImage, scanner: Scanner, image_format: str
) -> None:
    document = scanner.json(_target(image, image_format))
    assert document["os"]["family"] == "debian"
    assert document["os"]["version"] == "12"
    assert [layer["diffId"] for layer in document["artifact"]["layers"]] == list(image.diff_ids)


def test_docker_archive_names_its_tag(image: BookwormImage, scanner: Scanner) -> None:
    document = scanner.json(image.docker_archive)
    assert document["artifact"]["type"] == "docker-archive"
    # The tags as the archive's manifest.json writes them (skopeo writes the full name,
    # docker.io/…; docker save the familiar one): reported as written.
    with tarfile.open(image.docker_archive) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        written = json.load(member)[0]["RepoTags"]
    assert document["artifact"]["repoTags"] == written
    assert any(tag.endswith(BOOKWORM_REPO_TAG) for tag in written)


def test_every_format_gives_the_same_packages(image: BookwormImage, scanner: Scanner) -> None:
    by_format = {f: scanner.json(_target(image, f))["packages"] for f in IMAGE_FORMATS}
    reference = by_format["docker-archive"]
    for image_format, packages in by_format.items():
        assert packages == reference, f"{image_format} differs from docker-archive"


@pytest.mark.parametrize("image_format", IMAGE_FORMATS)
def test_locations_name_the_installing_layer(
    image: BookwormImage, scanner: Scanner, image_format: str
) -> None:
    document = scanner.json(_target(image, image_format))
    base_layer, language_layer = image.diff_ids
    for package in document["packages"]:
        assert package["locations"], f"{package['purl']} has no location"
        for location in package["locations"]:
            if package["type"] == "deb":
                assert location["layer"] == base_layer, package["purl"]
                assert location["path"].startswith("var/lib/dpkg/"), location
            elif package["type"] == "pypi":
                assert location["layer"] == language_layer, package["purl"]
                assert location["path"].startswith(SITE_PACKAGES + "/"), location
            else:
                assert location["layer"] == language_layer, package["purl"]
                assert location["path"].startswith(APP_DIR + "/"), location


def test_purls_carry_the_distro(image: BookwormImage, scanner: Scanner) -> None:
    document = scanner.json(image.docker_archive)
    for package in document["packages"]:
        purl = PackageURL.from_string(package["purl"])
        assert purl.type == package["type"]
        assert purl.version == package["version"]
        if package["type"] == "deb":
            assert purl.namespace == "debian"
            assert purl.name == package["name"]
            assert isinstance(purl.qualifiers, dict)
            assert purl.qualifiers.get("distro") == "debian-12", package["purl"]
            assert purl.qualifiers.get("arch") == package["arch"], package["purl"]
        elif package["type"] == "pypi":
            assert purl.name == pep503(package["name"])
        else:
            assert purl.name == package["name"]


def test_rootfs_directory_gives_the_same_os_packages(
    image: BookwormImage, scanner: Scanner
) -> None:
    document = scanner.json(image.rootfs)
    assert document["artifact"]["type"] == "rootfs"
    assert document["os"]["family"] == "debian"
    _assert_same(_debs(document), image.truth.deb, "rootfs deb packages vs dpkg-query")
    debs = _packages(document, "deb")
    assert all("distro=debian-12" in p["purl"] for p in debs)
    from_image = {p["purl"] for p in _packages(scanner.json(image.docker_archive), "deb")}
    assert {p["purl"] for p in debs} == from_image


def test_language_layer_directory_gives_the_same_language_packages(
    image: BookwormImage, scanner: Scanner
) -> None:
    # A directory is scanned in filesystem mode (lockfiles count too); the lockfile npm
    # wrote names the same packages as node_modules, so the sets must still agree.
    document = scanner.json(image.language_layer)
    _assert_same(_pypi(document), image.truth.pypi, "directory pypi packages vs pip list")
    _assert_same(_npm(document), image.truth.npm, "directory npm packages vs npm ls")


def _renderer_missing(module: str) -> bool:
    return importlib.util.find_spec(f"stockade.report.{module}") is None


@pytest.mark.skipif(_renderer_missing("cyclonedx"), reason="CycloneDX renderer not written yet")
def test_cyclonedx_lists_every_package(image: BookwormImage, scanner: Scanner) -> None:
    packages = scanner.json(image.docker_archive)["packages"]
    bom = scanner.json(image.docker_archive, "cyclonedx")
    assert bom["bomFormat"] == "CycloneDX"
    libraries = [c for c in bom.get("components", []) if c["type"] == "library"]
    assert sorted(c["purl"] for c in libraries) == sorted(p["purl"] for p in packages)
    by_purl = {c["purl"]: c for c in libraries}
    for package in packages:
        assert by_purl[package["purl"]]["version"] == package["version"]


@pytest.mark.skipif(_renderer_missing("spdx"), reason="SPDX renderer not written yet")
def test_spdx_lists_every_package(image: BookwormImage, scanner: Scanner) -> None:
    packages = scanner.json(image.docker_archive)["packages"]
    document = scanner.json(image.docker_archive, "spdx")
    assert document["spdxVersion"] == "SPDX-2.3"
    purls = [
        ref["referenceLocator"]
        for spdx_package in document["packages"]
        for ref in spdx_package.get("externalRefs", [])
        if ref.get("referenceType") == "purl"
    ]
    # The image itself may be described by a pkg:oci purl; compare the packages only.
    package_purls = [p for p in purls if PackageURL.from_string(p).type in EXPECTED_TYPES]
    assert sorted(package_purls) == sorted(p["purl"] for p in packages)
