"""Agreement with the SBOMs in Trivy's golden files (tests/data/trivy/e2e/golden).

These are reports of Trivy's own scans, so only what does not depend on the scanner is
compared: given the same packages, our documents must name them the same way (name,
version, purl, licences) and use the same conventions of each format. Trivy's extra
components (a node for each lockfile, package-to-package edges, ``aquasecurity:``
properties) are Trivy's engine, not the format, and are not expected from us.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from tests.report.samples import DIRECTORY

from stockade.core.models import Inventory, Package, PackageType
from stockade.inventory.purls import with_purl
from stockade.report.cyclonedx import CycloneDXRenderer, spdx_license_expression
from stockade.report.spdx import SPDXRenderer

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "trivy" / "e2e" / "golden"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((GOLDEN / name).read_text(encoding="utf-8")))


def trivy_npm_libraries() -> list[dict[str, Any]]:
    document = load("npm-cyclonedx.json.golden")
    return [c for c in document["components"] if c["type"] == "library"]


def licence_ids(component: dict[str, Any]) -> list[str]:
    return [entry["license"]["id"] for entry in component.get("licenses", [])]


@pytest.mark.parametrize("expected", trivy_npm_libraries(), ids=lambda c: c["name"])
def test_cyclonedx_component_agrees_with_trivy(expected: dict[str, Any]) -> None:
    pkg = with_purl(
        Package(
            name=expected["name"],
            version=expected["version"],
            type=PackageType.NPM,
            licenses=tuple(licence_ids(expected)),
        ),
        None,
    )
    out = io.StringIO()
    CycloneDXRenderer().render(Inventory(artifact=DIRECTORY, os=None, packages=(pkg,)), out)
    (ours,) = [c for c in json.loads(out.getvalue())["components"] if c["type"] == "library"]
    assert (ours["name"], ours["version"], ours["purl"]) == (
        expected["name"],
        expected["version"],
        expected["purl"],
    )
    assert ours.get("licenses", []) == expected.get("licenses", [])
    assert "group" not in ours
    assert "group" not in expected


def spdx_golden_packages() -> list[dict[str, Any]]:
    return [
        p
        for p in load("conda-spdx.json.golden")["packages"]
        if p.get("primaryPackagePurpose") == "LIBRARY"
    ]


@pytest.mark.parametrize("expected", spdx_golden_packages(), ids=lambda p: p["name"])
def test_spdx_licence_agrees_with_trivy(expected: dict[str, Any]) -> None:
    # The packages themselves are conda packages, not a Stockade package type: only the
    # licence, which does not depend on the type, is compared.
    assert spdx_license_expression(expected["licenseDeclared"]) == expected["licenseDeclared"]


def test_spdx_conventions_agree_with_trivy() -> None:
    golden = load("conda-spdx.json.golden")
    pkg = with_purl(Package(name="pip", version="22.2.2", type=PackageType.PYPI), None)
    out = io.StringIO()
    SPDXRenderer().render(Inventory(artifact=DIRECTORY, os=None, packages=(pkg,)), out)
    ours = json.loads(out.getvalue())

    def categories(document: dict[str, Any]) -> set[str]:
        return {
            ref["referenceCategory"]
            for p in document["packages"]
            for ref in p.get("externalRefs", [])
        }

    def shape(document: dict[str, Any]) -> set[str]:
        purpose = {p["SPDXID"]: p.get("primaryPackagePurpose") for p in document["packages"]}
        return {
            f"{purpose.get(r['spdxElementId'], r['spdxElementId'])} "
            f"{r['relationshipType']} {purpose.get(r['relatedSpdxElement'])}"
            for r in document["relationships"]
            if r["relatedSpdxElement"] in purpose
        }

    assert ours["spdxVersion"] == golden["spdxVersion"] == "SPDX-2.3"
    assert categories(ours) == categories(golden) == {"PACKAGE-MANAGER"}
    # the document describes the scanned root; the root contains the libraries (Trivy's
    # root of a directory says SOURCE, ours FILE: both are SPDX 2.3 purposes)
    assert shape(golden) == {"SPDXRef-DOCUMENT DESCRIBES SOURCE", "SOURCE CONTAINS LIBRARY"}
    assert shape(ours) == {"SPDXRef-DOCUMENT DESCRIBES FILE", "FILE CONTAINS LIBRARY"}
    assert any(c.startswith("Tool: ") for c in golden["creationInfo"]["creators"])
    assert ours["creationInfo"]["creators"][0].startswith("Tool: stockade-")
