"""SPDX 2.3 output: spdx-tools finds nothing wrong with it, and every package comes back.

The official SPDX 2.3 JSON schema would be a second, independent check, but no package
that can be installed here ships it (spdx-tools, cyclonedx-python-lib and the SBOM
validators on PyPI were checked) and tests must not fetch it from the web; spdx-tools'
own parser and ``validate_full_spdx_document`` are the checks used.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from tests.report.samples import (
    DIRECTORY,
    IMAGE,
    IMAGE_ID,
    MANIFEST,
    ZIP,
    inventories,
    same_purl_twice,
    tricky_inventory,
)

from stockade import __version__
from stockade.core.errors import ReportError
from stockade.core.models import Inventory, Package, PackageType
from stockade.report import sbom_renderer
from stockade.report.spdx import SPDXRenderer, render_spdx, safe_id_part

SPDX_ID = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")


def render(inventory: Inventory) -> str:
    out = io.StringIO()
    SPDXRenderer().render(inventory, out)
    return out.getvalue()


def validation_messages(text: str) -> list[str]:
    """What spdx-tools finds wrong with the document, read back by its JSON parser."""
    document = JsonLikeDictParser().parse(json.loads(text))
    return [m.validation_message for m in validate_full_spdx_document(document)]


def packages(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["packages"])


def purl_of(package: dict[str, Any]) -> str | None:
    refs = [r for r in package.get("externalRefs", []) if r["referenceType"] == "purl"]
    assert len(refs) <= 1
    for ref in refs:
        # the SPDX 2.3 spelling (spdx-tools alone would write the 2.2 underscore)
        assert ref["referenceCategory"] == "PACKAGE-MANAGER"
        return str(ref["referenceLocator"])
    return None


def library_packages(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in packages(document) if p.get("primaryPackagePurpose") == "LIBRARY"]


def test_tricky_inventory_passes_spdx_tools_validation() -> None:
    assert validation_messages(render(tricky_inventory())) == []


def test_every_package_comes_back_with_its_purl(tmp_path: Path) -> None:
    inventory = tricky_inventory()
    text = render(inventory)
    document = json.loads(text)
    found = Counter(
        (p["name"], p.get("versionInfo", ""), purl_of(p)) for p in library_packages(document)
    )
    expected = Counter((p.name, p.version, p.purl) for p in inventory.packages)
    assert found == expected
    # and spdx-tools' own parser reads the same
    path = tmp_path / "sbom.spdx.json"
    path.write_text(text, encoding="utf-8")
    parsed = parse_from_file(str(path))
    locators = Counter(ref.locator for p in parsed.packages for ref in p.external_references)
    for pkg in inventory.packages:
        assert locators[pkg.purl] >= 1


def test_creation_info() -> None:
    document = json.loads(render(tricky_inventory()))
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["creationInfo"]["creators"] == [f"Tool: stockade-{__version__}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["creationInfo"]["created"])


def test_the_namespace_is_unique_per_document() -> None:
    inventory = tricky_inventory()
    first = json.loads(render(inventory))["documentNamespace"]
    second = json.loads(render(inventory))["documentNamespace"]
    assert first != second
    assert first.startswith("https://spdx.org/spdxdocs/stockade-registry.example.com-team-app-1.0-")
    assert "#" not in first


def test_spdx_ids_are_safe_and_unique() -> None:
    document = json.loads(render(tricky_inventory()))
    ids = [p["SPDXID"] for p in packages(document)]
    assert len(ids) == len(set(ids))
    assert all(SPDX_ID.fullmatch(i) for i in ids), ids
    # the unicode and the hostile names still get ids
    names = {p["name"] for p in packages(document)}
    assert "ñandú" in names
    assert "evil\x1b[31mred\u202ename" in names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("libc6", "libc6"),
        ("@babel/core", "babel-core"),
        ("org.apache.commons:commons-lang3", "org.apache.commons-commons-lang3"),
        ("ñandú", "and"),
        ("日本語", ""),
        ("a" * 100, "a" * 64),
    ],
)
def test_safe_id_part(text: str, expected: str) -> None:
    assert safe_id_part(text) == expected


def test_every_package_has_noassertion_download_location_and_is_not_file_analysed() -> None:
    for package in packages(json.loads(render(tricky_inventory()))):
        assert package["downloadLocation"] == "NOASSERTION"
        assert package["filesAnalyzed"] is False


def test_relationships_describe_the_root_which_contains_everything() -> None:
    document = json.loads(render(tricky_inventory()))
    relations = [
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    ]
    (root,) = [p for p in packages(document) if p.get("primaryPackagePurpose") == "CONTAINER"]
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", root["SPDXID"]) in relations
    contained = {target for source, kind, target in relations if kind == "CONTAINS"}
    others = {p["SPDXID"] for p in packages(document)} - {root["SPDXID"]}
    assert contained == others


def test_the_root_of_an_image_is_a_container_with_an_oci_purl() -> None:
    document = json.loads(render(tricky_inventory()))
    (root,) = [p for p in packages(document) if p.get("primaryPackagePurpose") == "CONTAINER"]
    assert root["name"] == IMAGE.name
    assert root["versionInfo"] == IMAGE_ID
    assert purl_of(root) == (
        f"pkg:oci/app@{MANIFEST}?arch=amd64&repository_url=registry.example.com/team/app&tag=1.0"
    )


@pytest.mark.parametrize(("artifact", "purpose"), [(DIRECTORY, "FILE"), (ZIP, "ARCHIVE")])
def test_the_root_of_a_directory_or_zip(artifact: Any, purpose: str) -> None:
    text = render(Inventory(artifact=artifact, os=None, packages=same_purl_twice()))
    assert validation_messages(text) == []
    (root,) = [p for p in packages(json.loads(text)) if p["name"] == artifact.name]
    assert root["primaryPackagePurpose"] == purpose
    assert "externalRefs" not in root


def test_the_os_is_an_operating_system_package() -> None:
    document = json.loads(render(tricky_inventory()))
    (os_package,) = [
        p for p in packages(document) if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM"
    ]
    assert (os_package["name"], os_package["versionInfo"]) == ("debian", "12")


def declared(name: str) -> str:
    document = json.loads(render(tricky_inventory()))
    return str(next(p for p in packages(document) if p["name"] == name)["licenseDeclared"])


def test_spdx_licences_are_declared_as_expressions() -> None:
    assert declared("openssl-libs") == "Apache-2.0 OR MIT"
    assert declared("all-spdx") == "MIT AND (Apache-2.0 OR MIT)"
    assert declared("@babel/core") == "MIT"


def test_no_licence_is_noassertion() -> None:
    assert declared("日本語パッケージ") == "NOASSERTION"


def test_other_licence_text_becomes_a_licence_ref_with_the_text() -> None:
    document = json.loads(render(tricky_inventory()))
    libc = next(p for p in packages(document) if p["name"] == "libc6")
    refs = {info["licenseId"]: info for info in document["hasExtractedLicensingInfos"]}
    ref = next(r for r in refs.values() if r["extractedText"] == "GPLv2+ and LGPL")
    assert libc["licenseDeclared"] == f"{ref['licenseId']} AND MIT"
    assert re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+", ref["licenseId"])
    texts = {r["extractedText"] for r in refs.values()}
    assert {"GPLv2+ and LGPL", "BSD", "Public Domain", "MIT AND (", "LicenseRef-acme"} <= texts
    assert all(t.strip() for t in texts)  # blank licences are dropped, not referenced


def test_one_licence_text_is_one_licence_ref() -> None:
    twice = tuple(
        Package(name=n, version="1", type=PackageType.NPM, purl=f"pkg:npm/{n}@1", licenses=("BSD",))
        for n in ("a", "b")
    )
    document = json.loads(render(Inventory(artifact=DIRECTORY, os=None, packages=twice)))
    assert len(document["hasExtractedLicensingInfos"]) == 1


def test_texts_that_fold_to_one_id_get_different_licence_refs() -> None:
    folding = tuple(
        Package(
            name=f"p{i}",
            version="1",
            type=PackageType.NPM,
            purl=f"pkg:npm/p{i}@1",
            licenses=(text,),
        )
        for i, text in enumerate(("Foo Bar", "Foo/Bar", "Foo  Bar"))
    )
    text = render(Inventory(artifact=DIRECTORY, os=None, packages=folding))
    assert validation_messages(text) == []
    declared_ids = [p["licenseDeclared"] for p in library_packages(json.loads(text))]
    assert len(set(declared_ids)) == 3


def test_location_and_source_package_are_told_in_source_info() -> None:
    document = json.loads(render(tricky_inventory()))
    vim = next(p for p in packages(document) if p["name"] == "vim-tiny")
    assert "/var/lib/dpkg/status" in vim["sourceInfo"]
    assert "built from source package vim 2:9.0.1378-2" in vim["sourceInfo"]


def test_an_empty_inventory_is_valid() -> None:
    text = render(Inventory(artifact=DIRECTORY, os=None, packages=()))
    assert validation_messages(text) == []


def test_os_packages_without_an_os() -> None:
    text = render(replace(tricky_inventory(), os=None))
    assert validation_messages(text) == []


def test_the_renderer_is_registered_under_its_format_name() -> None:
    assert isinstance(sbom_renderer("spdx"), SPDXRenderer)


def test_render_returns_text_and_nothing_is_written_on_failure() -> None:
    assert render_spdx(Inventory(artifact=DIRECTORY, os=None, packages=())).startswith("{")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_any_inventory_renders_valid_spdx_with_every_purl(inventory: Inventory) -> None:
    try:
        text = render(inventory)
    except ReportError:
        return  # the only error a renderer may raise
    assert validation_messages(text) == []
    document = json.loads(text)
    assert Counter(purl_of(p) for p in library_packages(document)) == Counter(
        p.purl for p in inventory.packages
    )
    ids = [p["SPDXID"] for p in packages(document)]
    assert len(ids) == len(set(ids))
    assert all(SPDX_ID.fullmatch(i) for i in ids)


def test_a_licence_ref_the_package_names_keeps_its_name() -> None:
    document = json.loads(render(tricky_inventory()))
    refs = {i["extractedText"]: i["licenseId"] for i in document["hasExtractedLicensingInfos"]}
    assert refs["LicenseRef-acme"] == "LicenseRef-acme"
