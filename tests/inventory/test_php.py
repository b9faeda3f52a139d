"""PHP: composer.lock (Trivy's fixture and end-to-end repo) and vendor/composer/installed.json."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.php import PhpCataloger, parse_composer_lock, parse_installed_json

TRIVY = Path(__file__).parent.parent / "data" / "trivy"
HAPPY = TRIVY / "lockfiles" / "composer" / "composer_happy.lock"
FS = CatalogContext(ScanMode.FILESYSTEM)
IMAGE = CatalogContext(ScanMode.IMAGE)


def trivy_view(packages: list[Package]) -> set[tuple[str, str, bool, tuple[str, ...]]]:
    """Trivy's name is ``vendor/project``; ours splits it into namespace and name."""
    return {(f"{p.namespace}/{p.name}", p.version, p.dev, p.licenses) for p in packages}


# Expected packages from aquasecurity/trivy pkg/dependency/parser/php/composer/parse_test.go
# (composerPkgs: name, version, Dev, Licenses).
HAPPY_EXPECTED = {
    ("guzzlehttp/guzzle", "6.5.8", False, ("MIT",)),
    ("guzzlehttp/promises", "1.5.2", False, ("MIT",)),
    ("guzzlehttp/psr7", "1.9.0", False, ("MIT",)),
    ("pear/log", "1.13.3", True, ("MIT",)),
    ("pear/pear_exception", "v1.0.2", True, ("BSD-2-Clause",)),
    ("psr/http-message", "1.0.1", False, ("MIT",)),
    ("ralouphie/getallheaders", "3.0.3", False, ("MIT",)),
    ("symfony/polyfill-intl-idn", "v1.27.0", False, ("MIT",)),
    ("symfony/polyfill-intl-normalizer", "v1.27.0", False, ("MIT",)),
    ("symfony/polyfill-php72", "v1.27.0", False, ("MIT", "BSD-2-Clause")),
}


def test_composer_lock_fixture() -> None:
    packages = parse_composer_lock(HAPPY.read_bytes(), cataloger="php")
    assert trivy_view(packages) == HAPPY_EXPECTED
    assert len(packages) == len(HAPPY_EXPECTED)
    assert all(p.type is PackageType.COMPOSER and p.cataloger == "php" for p in packages)


def test_composer_e2e_repo_matches_the_golden_report() -> None:
    # integration/testdata/composer.lock.json.golden lists exactly these two packages
    # (purl, MIT) in composer.lock; psr7 1.8.3 is the vulnerable one.
    with DirectorySource(str(TRIVY / "e2e" / "repo" / "composer")) as source:
        inventory = build_inventory(source, [PhpCataloger()], ctx=FS, workers=1)
    assert [(p.purl, p.licenses, p.dev, p.locations[0].path) for p in inventory.packages] == [
        ("pkg:composer/guzzlehttp/guzzle@7.4.4", ("MIT",), False, "composer.lock"),
        ("pkg:composer/guzzlehttp/psr7@1.8.3", ("MIT",), False, "composer.lock"),
    ]


def _installed_entries() -> tuple[list[dict[str, Any]], list[str]]:
    lock = json.loads(HAPPY.read_text())
    entries = []
    for entry in lock["packages"] + lock["packages-dev"]:
        # What Composer adds when it installs a locked package.
        entries.append(
            {**entry, "installation-source": "dist", "install-path": f"../{entry['name']}"}
        )
    return entries, [entry["name"] for entry in lock["packages-dev"]]


def test_installed_json_composer2_marks_dev_package_names() -> None:
    entries, dev_names = _installed_entries()
    document = {"packages": entries, "dev": True, "dev-package-names": dev_names}
    packages = parse_installed_json(json.dumps(document).encode(), cataloger="php")
    assert trivy_view(packages) == HAPPY_EXPECTED


def test_installed_json_composer1_list_has_no_dev_information() -> None:
    entries, _ = _installed_entries()
    packages = parse_installed_json(json.dumps(entries).encode(), cataloger="php")
    assert {(n, v, lic) for n, v, _dev, lic in trivy_view(packages)} == {
        (n, v, lic) for n, v, _dev, lic in HAPPY_EXPECTED
    }
    assert not any(p.dev for p in packages)


def test_installed_json_is_read_in_images_and_composer_lock_only_in_filesystems() -> None:
    entries, dev_names = _installed_entries()
    installed = json.dumps({"packages": entries[:1], "dev-package-names": dev_names}).encode()
    source = MemorySource(
        [
            {
                "var/www/vendor/composer/installed.json": installed,
                "var/www/composer.lock": HAPPY.read_bytes(),
            }
        ]
    )
    image = build_inventory(source, [PhpCataloger()], ctx=IMAGE, workers=1)
    assert [(p.purl, p.locations[0].path) for p in image.packages] == [
        ("pkg:composer/guzzlehttp/guzzle@6.5.8", "var/www/vendor/composer/installed.json")
    ]
    assert len(build_inventory(source, [PhpCataloger()], ctx=FS, workers=1).packages) == 10


def test_cataloger_wants() -> None:
    php = PhpCataloger()
    assert php.wants("vendor/composer/installed.json", 1, 0o644, IMAGE)
    assert php.wants("app/vendor/composer/installed.json", 1, 0o644, IMAGE)
    assert not php.wants("app/vendor/composer/installed.php", 1, 0o644, IMAGE)
    assert not php.wants("installed.json", 1, 0o644, FS)
    assert php.wants("app/composer.lock", 1, 0o644, FS)
    assert not php.wants("app/composer.lock", 1, 0o644, IMAGE)
    assert not php.wants("app/composer.json", 1, 0o644, FS)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"packages": {"a": 1}}', "'packages' is not a list"),
        (b'{"packages": [7]}', r"packages\[0\]: not a JSON object"),
        (b'{"packages-dev": [{"name": "a/b"}]}', r"packages-dev\[0\]: a package without"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_composer_lock_is_a_catalog_error(document: bytes, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_composer_lock(document, cataloger="php")


def test_license_forms() -> None:
    lock = {
        "packages": [
            {"name": "a/one", "version": "1", "license": "(MIT or GPL-3.0-or-later)"},
            {"name": "a/two", "version": "1", "license": "Apache-2.0 AND MIT"},
            {"name": "a/three", "version": "1", "license": ["LGPL-2.1-only", "GPL-3.0-only"]},
            {"name": "a/four", "version": "1", "license": 5},
            {"name": "legacy", "version": "1"},
        ]
    }
    packages = parse_composer_lock(json.dumps(lock).encode(), cataloger="php")
    assert [(p.namespace, p.name, p.licenses) for p in packages] == [
        ("a", "one", ("MIT", "GPL-3.0-or-later")),
        ("a", "two", ("Apache-2.0 AND MIT",)),
        ("a", "three", ("LGPL-2.1-only", "GPL-3.0-only")),
        ("a", "four", ()),
        (None, "legacy", ()),
    ]


# --- fuzzing --------------------------------------------------------------------------

_SEED = HAPPY.read_bytes()


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300), st.sampled_from(["composer.lock", "vendor/composer/installed.json"])
)
def test_fuzz_random_bytes(data: bytes, path: str) -> None:
    file = FileContent(path, len(data), io.BytesIO(data), 1 << 20)
    with contextlib.suppress(CatalogError):
        PhpCataloger().parse(file, FS)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["name", "version", "license", "packages", "packages-dev", "dev-package-names"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_fuzz_json_shapes(document: object) -> None:
    data = json.dumps(document).encode()
    with contextlib.suppress(CatalogError):
        parse_composer_lock(data, cataloger="php")
    with contextlib.suppress(CatalogError):
        parse_installed_json(data, cataloger="php")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.binary(max_size=8), st.integers(min_value=0))
def test_fuzz_mutated_lock(position: int, insert: bytes, cut: int) -> None:
    at = position % len(_SEED)
    data = _SEED[:at] + insert + _SEED[at + cut % 5 :]
    with contextlib.suppress(CatalogError):
        parse_composer_lock(data, cataloger="php")
