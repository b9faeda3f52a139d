"""CycloneDX 1.6 output: valid against the 1.6 schema, and every package comes back."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import HealthCheck, given, settings
from packageurl import PackageURL
from tests.report.samples import (
    DEBIAN,
    DIRECTORY,
    IMAGE,
    IMAGE_ID,
    LAYER_1,
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
from stockade.report.cyclonedx import (
    CycloneDXRenderer,
    image_purl,
    render_cyclonedx,
    spdx_license_expression,
    split_image_reference,
)

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def render(inventory: Inventory) -> str:
    out = io.StringIO()
    CycloneDXRenderer().render(inventory, out)
    return out.getvalue()


def assert_valid(text: str) -> None:
    errors = VALIDATOR.validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]


def components(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("components", []))


def library_components(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in components(document) if c["type"] == "library"]


def properties(component: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in component.get("properties", []) if p["name"] == name]


def test_tricky_inventory_is_valid_cyclonedx_1_6() -> None:
    text = render(tricky_inventory())
    assert_valid(text)
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    assert document["serialNumber"].startswith("urn:uuid:")


def test_every_package_comes_back_with_its_purl() -> None:
    inventory = tricky_inventory()
    document = json.loads(render(inventory))
    found = Counter(
        (c["name"], c.get("group"), c.get("version", ""), c.get("purl"))
        for c in library_components(document)
    )
    expected = Counter((p.name, p.namespace, p.version, p.purl) for p in inventory.packages)
    assert found == expected


def test_the_library_reads_the_document_back() -> None:
    inventory = tricky_inventory()
    bom = Bom.from_json(json.loads(render(inventory)))  # type: ignore[attr-defined]
    purls = Counter(str(c.purl) for c in bom.components if c.purl is not None)
    assert purls == Counter(p.purl for p in inventory.packages)


def test_bom_refs_are_unique_even_when_purls_repeat() -> None:
    document = json.loads(render(tricky_inventory()))
    refs = [c["bom-ref"] for c in components(document)]
    refs.append(document["metadata"]["component"]["bom-ref"])
    assert len(refs) == len(set(refs))
    lodash = [c for c in library_components(document) if c["name"] == "lodash"]
    assert len(lodash) == 2
    assert lodash[0]["purl"] == lodash[1]["purl"]
    assert lodash[0]["bom-ref"] != lodash[1]["bom-ref"]


def test_metadata_names_the_tool_and_the_time() -> None:
    metadata = json.loads(render(tricky_inventory()))["metadata"]
    assert metadata["timestamp"]
    tools = metadata["tools"]["components"]
    assert [(t["name"], t["version"]) for t in tools] == [("stockade", __version__)]


def test_an_image_is_a_container_component_with_an_oci_purl() -> None:
    root = json.loads(render(tricky_inventory()))["metadata"]["component"]
    assert root["type"] == "container"
    assert root["name"] == IMAGE.name
    assert root["version"] == IMAGE_ID
    assert root["purl"] == (
        f"pkg:oci/app@{MANIFEST}?arch=amd64&repository_url=registry.example.com/team/app&tag=1.0"
    )
    assert properties(root, "stockade:image:id") == [IMAGE_ID]
    assert properties(root, "stockade:image:tag") == list(IMAGE.repo_tags)
    assert len(properties(root, "stockade:image:diff-id")) == 2


def test_an_image_known_only_by_its_id_uses_the_id_in_its_purl() -> None:
    local = replace(IMAGE, repo_digests=(), repo_tags=("app:dev",))
    purl = image_purl(local)
    assert purl is not None
    assert purl.to_string() == f"pkg:oci/app@{IMAGE_ID}?arch=amd64&repository_url=app&tag=dev"


def test_an_untagged_image_has_no_purl() -> None:
    assert image_purl(replace(IMAGE, repo_digests=(), repo_tags=())) is None


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("alpine", ("alpine", None, None)),
        ("alpine:3.19", ("alpine", "3.19", None)),
        ("localhost:5000/team/app:1.0", ("localhost:5000/team/app", "1.0", None)),
        ("localhost:5000/team/app", ("localhost:5000/team/app", None, None)),
        ("app@sha256:abc", ("app", None, "sha256:abc")),
    ],
)
def test_image_references_split_into_repository_tag_and_digest(
    reference: str, expected: tuple[str, str | None, str | None]
) -> None:
    assert split_image_reference(reference) == expected


@pytest.mark.parametrize("artifact", [DIRECTORY, ZIP])
def test_a_directory_or_zip_is_a_file_component(artifact: Any) -> None:
    text = render(Inventory(artifact=artifact, os=None, packages=same_purl_twice()))
    assert_valid(text)
    root = json.loads(text)["metadata"]["component"]
    assert root["type"] == "file"
    assert root["name"] == artifact.name
    assert "purl" not in root


def test_the_os_is_an_operating_system_component_and_owns_the_os_packages() -> None:
    document = json.loads(render(tricky_inventory()))
    (os_component,) = [c for c in components(document) if c["type"] == "operating-system"]
    assert (os_component["name"], os_component["version"]) == ("debian", "12")
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in document["dependencies"]}
    by_ref = {c["bom-ref"]: c for c in library_components(document)}
    os_owned = {by_ref[r]["name"] for r in graph[os_component["bom-ref"]]}
    assert os_owned == {"libc6", "vim-tiny", "openssl-libs"}
    root_owned = graph[document["metadata"]["component"]["bom-ref"]]
    assert os_component["bom-ref"] in root_owned
    assert all(r in graph for r in by_ref)  # every component is in the graph


def test_os_packages_are_libraries() -> None:
    document = json.loads(render(tricky_inventory()))
    libc = next(c for c in components(document) if c["name"] == "libc6")
    assert libc["type"] == "library"


def test_locations_source_and_arch_are_properties() -> None:
    document = json.loads(render(tricky_inventory()))
    libc = next(c for c in components(document) if c["name"] == "libc6")
    assert properties(libc, "stockade:location:path") == ["/var/lib/dpkg/status"]
    assert properties(libc, "stockade:location:layer") == [LAYER_1]
    assert properties(libc, "stockade:package:source-name") == ["glibc"]
    assert properties(libc, "stockade:package:arch") == ["amd64"]
    vim = next(c for c in components(document) if c["name"] == "vim-tiny")
    assert properties(vim, "stockade:package:source-version") == ["2:9.0.1378-2"]
    babel = next(c for c in components(document) if c["name"] == "@babel/core")
    assert len(properties(babel, "stockade:location:path")) == 2
    occurrences = babel["evidence"]["occurrences"]
    assert {o["location"] for o in occurrences} == {
        "/app/node_modules/@babel/core/package.json",
        "/app/other/node_modules/@babel/core/package.json",
    }


def test_maven_namespace_is_the_group() -> None:
    document = json.loads(render(tricky_inventory()))
    lang = next(c for c in components(document) if c["name"] == "commons-lang3")
    assert lang["group"] == "org.apache.commons"
    assert lang["purl"] == "pkg:maven/org.apache.commons/commons-lang3@3.12.0"


def test_a_package_without_version_has_no_version_field() -> None:
    document = json.loads(render(tricky_inventory()))
    tool = next(c for c in components(document) if c["name"] == "github.com/acme/tool")
    assert "version" not in tool
    assert tool["purl"] == "pkg:golang/github.com/acme/tool"


def licences_of(name: str) -> list[dict[str, Any]]:
    document = json.loads(render(tricky_inventory()))
    return next(c for c in components(document) if c["name"] == name).get("licenses", [])


def test_spdx_ids_are_ids_and_other_text_is_a_named_licence() -> None:
    assert licences_of("libc6") == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "GPLv2+ and LGPL"}},
    ]


def test_one_compound_expression_is_kept_as_an_expression_in_canonical_case() -> None:
    assert licences_of("openssl-libs") == [{"expression": "Apache-2.0 OR MIT"}]


def test_several_spdx_values_with_a_compound_one_become_one_expression() -> None:
    # The schema forbids an expression beside other licences.
    assert licences_of("all-spdx") == [{"expression": "MIT AND (Apache-2.0 OR MIT)"}]


def test_no_licence_means_no_licences_field() -> None:
    assert licences_of("日本語パッケージ") == []


def test_invalid_and_blank_licences_become_names_or_vanish() -> None:
    licences = licences_of("weird-licences")
    names = {entry["license"].get("name") for entry in licences} - {None}
    ids = {entry["license"].get("id") for entry in licences} - {None}
    assert {"GPLv2+ and LGPL", "BSD", "Public Domain", "MIT AND (", "LicenseRef-acme"} <= names
    assert "GPL-2.0+" in ids
    assert "" not in names
    assert all("expression" not in entry for entry in licences)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("apache-2.0 or mit", "Apache-2.0 OR MIT"),
        ("(MIT OR  Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause"),
        (
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
        ),
        ("GPL-2.0+", "GPL-2.0+"),
        ("GPLv2+ and LGPL", None),
        ("GPL", None),  # an alias the parser would rewrite: not what the package said
        ("BSD", None),
        ("MIT AND (", None),
        ("MIT WITH Apache-2.0", None),  # a licence where an exception must be
        ("LicenseRef-acme", None),
        ("", None),
        ("   ", None),
    ],
)
def test_spdx_license_expression(text: str, expected: str | None) -> None:
    assert spdx_license_expression(text) == expected


def test_an_empty_inventory_is_valid() -> None:
    text = render(Inventory(artifact=DIRECTORY, os=None, packages=()))
    assert_valid(text)
    assert "components" not in json.loads(text) or json.loads(text)["components"] == []


def test_a_broken_purl_is_a_report_error_not_a_crash() -> None:
    broken = Package(name="x", version="1", type=PackageType.NPM, purl="not a purl")
    with pytest.raises(ReportError, match="not a valid purl"):
        render_cyclonedx(Inventory(artifact=DIRECTORY, os=None, packages=(broken,)))


def test_the_renderer_is_registered_under_its_format_name() -> None:
    assert isinstance(sbom_renderer("cyclonedx"), CycloneDXRenderer)


def test_os_packages_without_an_os_hang_from_the_root() -> None:
    inventory = replace(tricky_inventory(), os=None)
    text = render(inventory)
    assert_valid(text)
    document = json.loads(text)
    root_deps = next(d for d in document["dependencies"] if d["ref"] == "stockade:artifact")
    assert len(root_deps["dependsOn"]) == len(inventory.packages)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_any_inventory_renders_valid_cyclonedx_with_every_purl(inventory: Inventory) -> None:
    try:
        text = render(inventory)
    except ReportError:
        return  # the only error a renderer may raise
    assert_valid(text)
    document = json.loads(text)
    # The library re-reads each purl; packageurl drops control characters from a name
    # as it parses, so what comes back is the canonical form of our purl.
    assert Counter(c.get("purl") for c in library_components(document)) == Counter(
        PackageURL.from_string(p.purl).to_string() for p in inventory.packages
    )
    assert DEBIAN.family in text or inventory.os is None
