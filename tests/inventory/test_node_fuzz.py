"""Fuzzing the Node parsers: whatever the bytes, only CatalogError may escape."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory import CatalogContext, FileContent, ScanMode
from stockade.inventory.node import NodeCataloger
from stockade.inventory.node.npm import package_lock_packages, parse_package_lock
from stockade.inventory.node.package_json import (
    manifest_package,
    parse_installed_manifest,
    parse_project_manifest,
)
from stockade.inventory.node.pnpm import parse_pnpm_lock, pnpm_lock_packages
from stockade.inventory.node.yarn import (
    berry_releases,
    dev_only_releases,
    parse_yarn_lock,
    read_yarn_lock,
)

TRIVY = Path(__file__).parents[1] / "data" / "trivy"
LOCKS = TRIVY / "lockfiles"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Parser = Callable[[bytes], object]
PARSERS: dict[str, tuple[Parser, list[Path]]] = {
    "package-lock": (
        lambda data: parse_package_lock(data, where="fuzz"),
        sorted((LOCKS / "npm").glob("package-lock_*.json")),
    ),
    "package.json": (
        lambda data: parse_installed_manifest(data, where="fuzz"),
        sorted((TRIVY / "e2e" / "repo").glob("**/node_modules/**/package.json")),
    ),
    "project package.json": (
        lambda data: parse_project_manifest(data, where="fuzz"),
        sorted((TRIVY / "e2e" / "repo").glob("*/package.json")),
    ),
    "yarn.lock": (
        lambda data: parse_yarn_lock(data.decode("utf-8", "replace"), where="fuzz"),
        sorted([*(LOCKS / "yarn").glob("*.lock"), TRIVY / "e2e" / "repo" / "yarn" / "yarn.lock"]),
    ),
    "pnpm-lock.yaml": (
        lambda data: parse_pnpm_lock(data.decode("utf-8", "replace"), where="fuzz"),
        sorted((LOCKS / "pnpm").glob("*.yaml")),
    ),
}


def only_catalog_errors(parser: Parser, data: bytes) -> None:
    try:
        parser(data)
    except CatalogError as exc:
        message = exc.message
    else:
        return
    assert message.startswith("fuzz"), "an error names the file it is about"


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Path]) -> bytes:
    """A valid fixture with bytes flipped, inserted, deleted, and maybe truncated."""
    data = bytearray(draw(st.sampled_from(seeds)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if action == "flip":
            data[at] = (
                draw(st.sampled_from(b'{}[]:,"@/ \n-#('))
                if draw(st.booleans())
                else draw(st.integers(0, 255))
            )
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("kind", PARSERS)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(kind: str, data: bytes) -> None:
    only_catalog_errors(PARSERS[kind][0], data)


@pytest.mark.parametrize("kind", PARSERS)
@FUZZ
@given(data=st.data())
def test_mutated_fixtures(kind: str, data: st.DataObject) -> None:
    parser, seeds = PARSERS[kind]
    only_catalog_errors(parser, data.draw(mutated(seeds)))


# Documents of any shape, as json.loads or a YAML base loader could return them.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.sampled_from(["true", ""])
)
keys = st.sampled_from(
    [
        "",
        "packages",
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "snapshots",
        "importers",
        "lockfileVersion",
        "node_modules/a",
        "node_modules/@s/b",
        "a@1.0.0",
        "/a/1.0.0",
        "/a@1.0.0(b@2)",
        "version",
        "name",
        "resolved",
        "link",
        "dev",
        "license",
        "licenses",
        "type",
        "resolution",
        "__metadata",
    ]
) | st.text(max_size=6)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)


def _berry(document: Any, where: str) -> list[tuple[str, str]]:
    return list(berry_releases([document], where=where))


def _pnpm(document: Any, where: str) -> list[Package]:
    return pnpm_lock_packages([document], where=where)


def _project(document: Any, where: str) -> object:
    return parse_project_manifest(json.dumps(document).encode(), where=where)


@pytest.mark.parametrize(
    "interpret", [package_lock_packages, manifest_package, _berry, _pnpm, _project], ids=str
)
@FUZZ
@given(document=st.dictionaries(keys, documents, max_size=4))
def test_documents_of_any_shape(interpret: Callable[..., object], document: dict[str, Any]) -> None:
    with contextlib.suppress(CatalogError):
        interpret(document, where="fuzz")


@FUZZ
@given(
    path=st.sampled_from(
        [
            "app/node_modules/x/package.json",
            "app/package-lock.json",
            "app/yarn.lock",
            "app/package.json",
            "app/pnpm-lock.yaml",
        ]
    ),
    data=st.binary(max_size=1024),
)
def test_cataloger_parse(path: str, data: bytes) -> None:
    ctx = CatalogContext(mode=ScanMode.FILESYSTEM)
    cataloger = NodeCataloger()
    assert cataloger.wants(path, len(data), 0o644, ctx)
    try:
        result = cataloger.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 20), ctx)
    except CatalogError:
        return
    assert all(p.cataloger == "node" for p in result.packages)


_YARN_SEEDS = PARSERS["yarn.lock"][1]
_PATTERNS = st.lists(
    st.sampled_from(["asap@~2.0.6", "jquery@^3.2.1", "promise@^8.0.3", "ansi-styles@^3.2.0"])
    | st.text(max_size=12),
    max_size=4,
)


@FUZZ
@given(data=st.data(), production=_PATTERNS, development=_PATTERNS)
def test_yarn_dev_marks_of_any_lock_and_patterns(
    data: st.DataObject, production: list[str], development: list[str]
) -> None:
    text = data.draw(mutated(_YARN_SEEDS)).decode("utf-8", "replace")
    try:
        lock = read_yarn_lock(text, where="fuzz")
    except CatalogError:
        return
    dev = dev_only_releases(lock.entries, production, development)
    releases = {e.release for e in lock.entries if e.release}
    assert dev is None or dev <= releases
