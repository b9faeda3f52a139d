"""Acceptance: the SBOM of a Lambda-style function zip lists exactly what it vendors.

The zips are built by ``tests/support/images.py`` the way function packages are made:
``pip install --target`` (or ``npm install``) into a staging directory next to the
handler, then zipped. The ground truth is ``pip list --path`` and ``npm ls --all`` of the
staging directory, recorded before it was zipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL
from tests.support.images import LambdaZips, lambda_zips, missing_tools, pep503

from stockade.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zips() -> LambdaZips:
    missing = missing_tools("npm")
    if missing:
        pytest.skip(f"missing tools to build the function zips: {', '.join(missing)}")
    return lambda_zips()


def _sbom(target: Path, out: Path) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCKADE_DEBUG", "1")  # a traceback, should a bug surface
        code = main(["--quiet", "sbom", str(target), "-f", "json", "-o", str(out)])
    assert code == 0, f"stockade sbom {target} exited with {code}"
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def _assert_same(found: set[Any], truth: frozenset[Any], what: str) -> None:
    missing = sorted(truth - found)
    extra = sorted(found - truth)
    assert not missing, f"{what}: missing {missing}"
    assert not extra, f"{what}: not in the ground truth {extra}"


def test_python_function_lists_its_vendored_packages(zips: LambdaZips, tmp_path: Path) -> None:
    document = _sbom(zips.python_zip, tmp_path / "sbom.json")
    assert document["artifact"]["type"] == "zip"
    assert {p["type"] for p in document["packages"]} == {"pypi"}
    found = {(pep503(p["name"]), p["version"]) for p in document["packages"]}
    _assert_same(found, zips.python_truth.pypi, "pypi packages vs pip list")
    assert len(document["packages"]) == len(zips.python_truth.pypi)
    # requests and the four packages it needs, nothing from the interpreter running pip.
    assert {name for name, _ in found} == {"requests", "urllib3", "idna", "certifi", "chardet"}


def test_python_function_packages_are_found_at_the_zip_root(
    zips: LambdaZips, tmp_path: Path
) -> None:
    document = _sbom(zips.python_zip, tmp_path / "sbom.json")
    for package in document["packages"]:
        assert PackageURL.from_string(package["purl"]).name == pep503(package["name"])
        paths = [location["path"] for location in package["locations"]]
        assert any(path.split("/", 1)[0].endswith(".dist-info") for path in paths), paths


def test_node_function_lists_every_installed_package(zips: LambdaZips, tmp_path: Path) -> None:
    document = _sbom(zips.node_zip, tmp_path / "sbom.json")
    assert document["artifact"]["type"] == "zip"
    assert {p["type"] for p in document["packages"]} == {"npm"}
    found = {(p["name"], p["version"]) for p in document["packages"]}
    _assert_same(found, zips.node_truth.npm, "npm packages vs npm ls")
    assert len(document["packages"]) == len(zips.node_truth.npm)
    # The copy of ms that debug needs is nested under debug/node_modules: both count.
    assert {("ms", "2.0.0"), ("ms", "2.1.3")} <= found


def test_zip_layout_is_what_a_function_package_holds(zips: LambdaZips) -> None:
    # Guards the fixture itself: the handler at the root, dependencies vendored beside it.
    import zipfile

    with zipfile.ZipFile(zips.python_zip) as archive:
        names = set(archive.namelist())
    assert "handler.py" in names
    assert "requests/__init__.py" in names
    with zipfile.ZipFile(zips.node_zip) as archive:
        names = set(archive.namelist())
    assert {"index.js", "package.json", "node_modules/debug/node_modules/ms/package.json"} <= names
    assert os.path.getsize(zips.python_zip) > 100_000
