"""Stockade's own JSON: the keys are a contract with users' scripts; every field survives."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from tests.report.samples import inventories, tricky_inventory

from stockade.core.models import Inventory
from stockade.report import sbom_renderer
from stockade.report.json import SCHEMA_VERSION, JsonRenderer, inventory_to_dict

TOP_KEYS = ["schemaVersion", "artifact", "os", "packages"]
ARTIFACT_KEYS = [
    "name",
    "type",
    "digest",
    "repoTags",
    "repoDigests",
    "architecture",
    "os",
    "layers",
]
LAYER_KEYS = ["diffId", "digest", "size", "mediaType", "createdBy"]
OS_KEYS = ["family", "version", "name", "prettyName", "codename"]
PACKAGE_KEYS = [
    "name",
    "version",
    "type",
    "purl",
    "namespace",
    "arch",
    "epoch",
    "sourceName",
    "sourceVersion",
    "licenses",
    "dev",
    "cataloger",
    "locations",
]


def render(inventory: Inventory) -> str:
    out = io.StringIO()
    JsonRenderer().render(inventory, out)
    return out.getvalue()


def test_keys_are_stable() -> None:
    document = json.loads(render(tricky_inventory()))
    assert list(document) == TOP_KEYS
    assert document["schemaVersion"] == SCHEMA_VERSION == 1
    assert list(document["artifact"]) == ARTIFACT_KEYS
    assert list(document["artifact"]["layers"][0]) == LAYER_KEYS
    assert list(document["os"]) == OS_KEYS
    for package in document["packages"]:
        assert list(package) == PACKAGE_KEYS
        for location in package["locations"]:
            assert list(location) == ["path", "layer"]


def test_every_field_of_every_package_comes_back() -> None:
    inventory = tricky_inventory()
    packages = json.loads(render(inventory))["packages"]
    assert len(packages) == len(inventory.packages)
    for got, pkg in zip(packages, inventory.packages, strict=True):
        assert got == {
            "name": pkg.name,
            "version": pkg.version,
            "type": pkg.type.value,
            "purl": pkg.purl,
            "namespace": pkg.namespace,
            "arch": pkg.arch,
            "epoch": pkg.epoch,
            "sourceName": pkg.source_name,
            "sourceVersion": pkg.source_version,
            "licenses": list(pkg.licenses),
            "dev": pkg.dev,
            "cataloger": pkg.cataloger,
            "locations": [{"path": loc.path, "layer": loc.layer} for loc in pkg.locations],
        }


def test_output_is_ascii_whatever_the_names() -> None:
    text = render(tricky_inventory())
    assert text.isascii()
    assert "ñandú" in {p["name"] for p in json.loads(text)["packages"]}


def test_no_os_is_null() -> None:
    inventory = Inventory(artifact=tricky_inventory().artifact, os=None, packages=())
    assert json.loads(render(inventory))["os"] is None


def test_the_renderer_is_registered_under_its_format_name() -> None:
    assert isinstance(sbom_renderer("json"), JsonRenderer)


@settings(max_examples=60, deadline=None)
@given(inventories())
def test_any_inventory_round_trips(inventory: Inventory) -> None:
    document: dict[str, Any] = json.loads(render(inventory))
    assert document == json.loads(json.dumps(inventory_to_dict(inventory)))
    assert [p["purl"] for p in document["packages"]] == [p.purl for p in inventory.packages]
    assert [p["name"] for p in document["packages"]] == [p.name for p in inventory.packages]
