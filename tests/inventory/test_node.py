"""The Node cataloger against Trivy's fixtures and Trivy's e2e repositories.

npm and pnpm expectations are read from tests/data/trivy/lockfiles/*/EXPECTED.from-
parse_testcase.go.json (Trivy's test tables as data; a missing ``dev`` is Go's false).
The file → table mapping is Trivy's parse_test.go for each parser. The yarn tables did
not survive that extraction and are written here from Trivy's
pkg/dependency/parser/nodejs/yarn/parse_testcase.go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockade.artifact.memory import MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory import CatalogContext, ScanMode, build_inventory
from stockade.inventory.node import NodeCataloger
from stockade.inventory.node.npm import parse_package_lock
from stockade.inventory.node.package_json import is_installed_manifest, parse_installed_manifest
from stockade.inventory.node.pnpm import parse_legacy_key, parse_pnpm_lock, snapshot_key
from stockade.inventory.node.yarn import (
    dev_only_releases,
    parse_yarn_lock,
    read_yarn_lock,
    split_pattern,
)

TRIVY = Path(__file__).parents[1] / "data" / "trivy"
LOCKS = TRIVY / "lockfiles"
E2E = TRIVY / "e2e"

FS = CatalogContext(mode=ScanMode.FILESYSTEM)
IMAGE = CatalogContext(mode=ScanMode.IMAGE)

Expected = dict[tuple[str, str], bool]
"""(name, version) → dev."""


def trivy_table(ecosystem: str, var: str) -> Expected:
    """A Trivy test table; a release listed several times is dev only if always dev."""
    tables = json.loads((LOCKS / ecosystem / "EXPECTED.from-parse_testcase.go.json").read_text())
    out: Expected = {}
    for entry in tables["vars"][var]:
        key = (entry["name"], entry.get("version", ""))
        out[key] = out.get(key, True) and entry.get("dev") == "true"
    return out


def found(packages: list[Package]) -> Expected:
    out: Expected = {}
    for pkg in packages:
        assert pkg.type is PackageType.NPM
        assert (pkg.name, pkg.version) not in out, f"{pkg.name} {pkg.version} listed twice"
        out[(pkg.name, pkg.version)] = pkg.dev
    return out


# --- package-lock.json: pkg/dependency/parser/nodejs/npm/parse_test.go -----------------

NPM_CASES = {
    "package-lock_v1.json": "npmV1Pkgs",
    "package-lock_v2.json": "npmV2Pkgs",
    "package-lock_v3.json": "npmV2Pkgs",
    "package-lock_v3_with_workspace.json": "npmV3WithWorkspacePkgs",
    "package-lock_v3_with_workspace_as_object.json": "npmV3WithWorkspaceAsObjectPkgs",
    "package-lock_v3_with_peer.json": "npmV3WithPeerDependenciesPkgs",
    "package-lock_v3_with-same-dev-and-non-dev.json": "npmV3WithSameDevAndNonDevPkgs",
    "package-lock_v3_without_root_deps_field.json": "npmV3WithoutRootDepsField",
    "package-lock_v3_with_legacy_licenses.json": "npmV3WithLegacyLicensesPkgs",
    "package-lock_v3_broken_link.json": None,  # Trivy: want nil
}


@pytest.mark.parametrize(("fixture", "var"), NPM_CASES.items())
def test_package_lock_matches_trivy(fixture: str, var: str | None) -> None:
    data = (LOCKS / "npm" / fixture).read_bytes()
    expected = trivy_table("npm", var) if var else {}
    assert found(parse_package_lock(data, where=fixture)) == expected


def test_package_lock_licenses_in_every_spelling() -> None:
    fixture = "package-lock_v3_with_legacy_licenses.json"
    packages = parse_package_lock((LOCKS / "npm" / fixture).read_bytes(), where=fixture)
    assert {p.name: p.licenses for p in packages} == {
        "tv4": ("Public Domain", "MIT"),
        "pause-stream": ("MIT", "Apache2"),
        "mustache": ("MIT",),
    }


def test_package_lock_v1_aliases_and_non_registry_versions() -> None:
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "alias": {"version": "npm:real-name@2.0.0"},
            "local": {"version": "file:../local"},
            "fromgit": {"version": "git+https://example.com/x.git#abc"},
            "outer": {
                "version": "1.0.0",
                "dev": True,
                "dependencies": {"inner": {"version": "3.0.0", "dev": True}},
            },
        },
    }
    got = found(parse_package_lock(json.dumps(lock).encode(), where="package-lock.json"))
    assert got == {
        ("real-name", "2.0.0"): False,
        ("outer", "1.0.0"): True,
        ("inner", "3.0.0"): True,
    }


def test_package_lock_v2_alias_takes_the_real_name() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app"},
            "node_modules/str-cjs": {"name": "string-width", "version": "4.2.3"},
            "node_modules/@scope/pkg": {"version": "1.0.0", "license": {"type": "ISC"}},
        },
    }
    packages = parse_package_lock(json.dumps(lock).encode(), where="package-lock.json")
    assert {(p.name, p.version, p.licenses) for p in packages} == {
        ("string-width", "4.2.3", ()),
        ("@scope/pkg", "1.0.0", ("ISC",)),
    }


# --- yarn.lock: pkg/dependency/parser/nodejs/yarn/parse_test.go and parse_testcase.go ---

YARN_CASES: dict[str, set[str]] = {
    "yarn_happy.lock": {
        "@babel/helper-regex 7.4.4",
        "ansi-regex 2.1.1",
        "ansi-regex 3.0.0",
        "asap 2.0.6",
        "inherits 2.0.3",
        "is-fullwidth-code-point 2.0.0",
        "jquery 3.4.1",
        "js-tokens 4.0.0",
        "lodash 4.17.11",
        "promise 8.0.3",
        "safe-buffer 5.1.2",
        "safer-buffer 2.1.2",
        "statuses 1.5.0",
        "string-width 2.1.1",
        "strip-ansi 3.0.1",
        "strip-ansi 4.0.0",
        "whatwg-fetch 3.0.0",
        "wide-align 1.1.3",
    },
    "yarn_with_npm.lock": {"jquery 3.6.0"},
    "yarn_v2_happy.lock": {
        "@types/color-name 1.1.1",
        "abbrev 1.1.1",
        "ansi-styles 3.2.1",
        "ansi-styles 4.2.1",
        "assert-plus 1.0.0",
        "async 3.2.0",
        "color-convert 1.9.3",
        "color-convert 2.0.1",
        "color-name 1.1.3",
        "color-name 1.1.4",
        "ipaddr.js 1.9.1",
        "js-tokens 4.0.0",
        "loose-envify 1.4.0",
        "node-gyp 7.1.0",
        "once 1.4.0",
        "wrappy 1.0.2",
    },
    "yarn_with_local.lock": {"asap 2.0.6", "jquery 3.4.1", "promise 8.0.3"},
    "yarn_v2_deps_with_protocol.lock": {"debug 4.3.4", "ms 2.1.2"},
    "yarn_with_git.lock": set(),
    "yarn_with_bad_protocol.lock": {"jquery 3.4.1"},
}


@pytest.mark.parametrize(("fixture", "expected"), YARN_CASES.items())
def test_yarn_lock_matches_trivy(fixture: str, expected: set[str]) -> None:
    text = (LOCKS / "yarn" / fixture).read_text()
    want = {tuple(pair.split(" ")): False for pair in expected}
    assert found(parse_yarn_lock(text, where=fixture)) == want


@pytest.mark.parametrize(
    ("pattern", "split"),
    [
        ("asn1@~0.2.3", ("asn1", "", "~0.2.3")),
        ("asn1@npm:~0.2.3", ("asn1", "npm", "~0.2.3")),
        ("@babel/code-frame@npm:^7.0.0", ("@babel/code-frame", "npm", "^7.0.0")),
        ("js-tokens@^3.0.0 || ^4.0.0", ("js-tokens", "", "^3.0.0 || ^4.0.0")),
        (
            "jquery@git+https://x@github.com/t/jquery",
            ("jquery", "git+https", "//x@github.com/t/jquery"),
        ),
    ],
)
def test_yarn_pattern(pattern: str, split: tuple[str, str, str]) -> None:
    # Vectors from Trivy's TestParsePattern.
    assert split_pattern(pattern) == split


def test_yarn_aliases_github_shorthand_and_patches() -> None:
    classic = (
        '"str-cjs@npm:string-width@^4.2.0":\n  version "4.2.3"\n\n'
        'grunt-x@gruntjs/grunt-x#harmony:\n  version "3.3.0"\n'
    )
    assert found(parse_yarn_lock(classic, where="yarn.lock")) == {("string-width", "4.2.3"): False}
    berry = (
        "__metadata:\n  version: 6\n\n"
        '"str-cjs@npm:string-width@^4.2.0":\n  version: 4.2.3\n'
        '  resolution: "string-width@npm:4.2.3"\n\n'
        '"resolve@patch:resolve@^1.1.7#~builtin<compat/resolve>":\n  version: 1.22.1\n'
        '  resolution: "resolve@patch:resolve@npm%3A1.22.1#~builtin<compat/resolve>::v=1"\n'
    )
    assert found(parse_yarn_lock(berry, where="yarn.lock")) == {("string-width", "4.2.3"): False}


@pytest.mark.parametrize(
    "text",
    [
        '  version "1.0"\n',
        'foo@^1.0\n  version "1.0"\n',
        '__metadata:\n  version: 6\n"a@npm:1": [1]\n',
        "__metadata:\n  a: [\n",
    ],
)
def test_malformed_yarn_lock(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_yarn_lock(text, where="yarn.lock")


# --- pnpm-lock.yaml: pkg/dependency/parser/nodejs/pnpm/parse_test.go --------------------

PNPM_CASES = {
    "pnpm-lock_normal.yaml": "pnpmNormal",
    "pnpm-lock_v6.yaml": "pnpmNormal",
    "pnpm-lock_archives.yaml": "pnpmArchives",
    "pnpm-lock_v9.yaml": "pnpmV9",
    "pnpm-lock_v9_cyclic_import.yaml": "pnpmV9CyclicImport",
    "pnpm-lock_v9_same-vers-diff-peers.yaml": "pnpmV9SameVersDiffPeers",
    "pnpm-lock_v9_multiple_documents.yaml": "pnpmV9MultipleDocuments",
    "pnpm-lock_v9_multi_version.yaml": "pnpmV9MultiVersion",
}
# In the 5.x/6.x formats Trivy drops `dev: true` packages where we keep them, flagged.
PNPM_DEV_DROPPED_BY_TRIVY = {
    "pnpm-lock_with_dev.yaml": "pnpmWithDev",
    "pnpm-lock_many.yaml": "pnpmMany",
    "pnpm-lock_v6_with_dev.yaml": "pnpmV6WithDev",
}


@pytest.mark.parametrize(("fixture", "var"), PNPM_CASES.items())
def test_pnpm_lock_matches_trivy(fixture: str, var: str) -> None:
    text = (LOCKS / "pnpm" / fixture).read_text()
    assert found(parse_pnpm_lock(text, where=fixture)) == trivy_table("pnpm", var)


@pytest.mark.parametrize(("fixture", "var"), PNPM_DEV_DROPPED_BY_TRIVY.items())
def test_pnpm_lock_with_dev_packages(fixture: str, var: str) -> None:
    got = found(parse_pnpm_lock((LOCKS / "pnpm" / fixture).read_text(), where=fixture))
    production = {key: dev for key, dev in got.items() if not dev}
    assert production == trivy_table("pnpm", var)
    assert len(got) > len(production), "the development packages are listed, flagged"


def test_pnpm_lock_with_dev_packages_exactly_as_trivy() -> None:
    pytest.skip(
        "Trivy's 5.x/6.x parser omits `dev: true` packages instead of flagging them "
        "(its 9.x parser flags them); we flag them in every format. The production "
        "packages agree exactly (test_pnpm_lock_with_dev_packages)."
    )


@pytest.mark.parametrize(
    ("key", "major", "name_version"),
    [
        # Vectors from Trivy's Test_parseDepPath.
        ("/lodash/4.17.10", 5, ("lodash", "4.17.10")),
        ("registry.npmjs.org/lodash/4.17.10", 5, ("lodash", "4.17.10")),
        ("/@babel/generator/7.21.9", 5, ("@babel/generator", "7.21.9")),
        (
            "/@babel/helper-compilation-targets/7.21.5_@babel+core@7.21.8",
            5,
            ("@babel/helper-compilation-targets", "7.21.5"),
        ),
        ("/lodash._baseclone/4.5.7_@babel+core@7.21.8", 5, ("lodash._baseclone", "4.5.7")),
        ("/update-browserslist-db@1.0.11", 6, ("update-browserslist-db", "1.0.11")),
        ("private.npmjs.org/lodash@4.17.10", 6, ("lodash", "4.17.10")),
        (
            "registry.npmjs.org/@babel/helper-compilation-targets@7.21.5(@babel/core@7.20.7)",
            6,
            ("@babel/helper-compilation-targets", "7.21.5"),
        ),
    ],
)
def test_pnpm_legacy_keys(key: str, major: int, name_version: tuple[str, str]) -> None:
    assert parse_legacy_key(key, major) == name_version


@pytest.mark.parametrize(
    ("name", "ref", "key"),
    [
        ("debug", "4.3.4(supports-color@8.1.1)", "debug@4.3.4(supports-color@8.1.1)"),
        ("str-cjs", "string-width@4.2.3", "string-width@4.2.3"),
        ("lodash", "file:foo/bar/lodash.tgz", "lodash@file:foo/bar/lodash.tgz"),
        ("x", "git+ssh://git@github.com/a/x.git#1", "x@git+ssh://git@github.com/a/x.git#1"),
        ("workspace-lib", "link:../lib", None),
    ],
)
def test_pnpm_snapshot_keys(name: str, ref: str, key: str | None) -> None:
    assert snapshot_key(name, ref) == key


# --- installed manifests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "installed"),
    [
        ("app/node_modules/react/package.json", True),
        ("app/node_modules/@babel/core/package.json", True),
        ("node_modules/a/node_modules/b/package.json", True),
        ("app/node_modules/.pnpm/jquery@3.3.9/node_modules/jquery/package.json", True),
        ("app/package.json", False),
        ("app/node_modules/@babel/package.json", False),
        ("app/node_modules/react/lib/package.json", False),
        ("app/node_modules/.bin/package.json", False),
        ("app/node_modules/react/package.json.bak", False),
    ],
)
def test_installed_manifest_paths(path: str, installed: bool) -> None:
    assert is_installed_manifest(path) is installed


@pytest.mark.parametrize(
    ("manifest", "licenses"),
    [
        ({"license": "(MIT OR Apache-2.0)"}, ("(MIT OR Apache-2.0)",)),
        ({"license": {"type": "BSD-3-Clause", "url": "x"}}, ("BSD-3-Clause",)),
        ({"licenses": [{"type": "MIT"}, {"type": "GPL-2.0"}]}, ("MIT", "GPL-2.0")),
        ({"licenses": ["ISC"]}, ("ISC",)),
        ({"license": None}, ()),
        ({"license": []}, ()),
        ({"license": {"url": "x"}}, ()),
    ],
)
def test_manifest_licenses(manifest: dict[str, Any], licenses: tuple[str, ...]) -> None:
    data = json.dumps({"name": "x", "version": "1.0.0", **manifest}).encode()
    pkg = parse_installed_manifest(data, where="package.json")
    assert pkg is not None
    assert pkg.licenses == licenses


def test_manifest_without_version_is_not_a_package_and_bad_json_is_an_error() -> None:
    assert parse_installed_manifest(b'{"name": "private-app"}', where="p") is None
    with pytest.raises(CatalogError, match=r"not a valid package\.json"):
        parse_installed_manifest(b'{"name": ', where="p")
    with pytest.raises(CatalogError, match="must be strings"):
        parse_installed_manifest(b'{"name": "x", "version": 1}', where="p")


@pytest.mark.parametrize(
    ("path", "in_image", "in_filesystem"),
    [
        ("srv/app/node_modules/react/package.json", True, True),
        ("srv/app/package-lock.json", False, True),
        ("srv/app/npm-shrinkwrap.json", False, True),
        ("srv/app/yarn.lock", False, True),
        ("srv/app/pnpm-lock.yaml", False, True),
        ("srv/app/package.json", False, True),  # the project's own: for yarn.lock's dev marks
        ("package.json", False, True),
        ("srv/app/node_modules/dep/lib/package.json", False, False),
        ("srv/app/node_modules/dep/yarn.lock", False, False),
        ("srv/app/node_modules/.package-lock.json", False, False),
    ],
)
def test_wants(path: str, in_image: bool, in_filesystem: bool) -> None:
    cataloger = NodeCataloger()
    assert cataloger.wants(path, 100, 0o644, IMAGE) is in_image
    assert cataloger.wants(path, 100, 0o644, FS) is in_filesystem


def test_image_scan_reads_node_modules_only() -> None:
    layer: dict[str, bytes | str | None] = {
        "app/package-lock.json": (LOCKS / "npm" / "package-lock_v3_with_peer.json").read_bytes(),
        "app/node_modules/lodash/package.json": json.dumps(
            {"name": "lodash", "version": "4.17.21", "license": "MIT"}
        ),
        "app/node_modules/broken/package.json": "{",
    }
    warnings: list[str] = []
    inv = build_inventory(
        MemorySource([layer]), [NodeCataloger()], ctx=IMAGE, workers=1, warn=warnings.append
    )
    assert [(p.name, p.version, p.licenses, p.purl) for p in inv.packages] == [
        ("lodash", "4.17.21", ("MIT",), "pkg:npm/lodash@4.17.21")
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("app/node_modules/broken/package.json: ")
    inv = build_inventory(MemorySource([layer]), [NodeCataloger()], ctx=FS, workers=1)
    assert len(inv.packages) == 5
    assert {p.cataloger for p in inv.packages} == {"node"}


# --- Trivy's e2e repositories (integration/testdata/*.json.golden) ---------------------


def golden_packages(name: str) -> dict[tuple[str, str], tuple[str, ...]]:
    report = json.loads((E2E / "golden" / f"{name}.json.golden").read_text())
    return {
        (pkg["Name"], pkg["Version"]): tuple(pkg.get("Licenses", ()))
        for result in report["Results"]
        for pkg in result.get("Packages") or []
    }


def scan_repo(repo: str) -> list[Package]:
    with DirectorySource(E2E / "repo" / repo) as source:
        return list(build_inventory(source, [NodeCataloger()], ctx=FS, workers=1).packages)


def test_e2e_npm_repository_matches_trivy_golden_report() -> None:
    packages = scan_repo("npm")
    golden = golden_packages("npm")
    # Trivy's fs scan leaves out development packages (its --include-dev-deps is off);
    # z-lock is `"dev": true` in the lockfile, and installed in node_modules.
    lock_only = parse_package_lock((E2E / "repo/npm/package-lock.json").read_bytes(), where="l")
    assert {(p.name, p.version) for p in lock_only if not p.dev} == set(golden)
    assert {(p.name, p.version) for p in lock_only if p.dev} == {("z-lock", "1.0.0")}
    assert {(p.name, p.version): p.licenses for p in packages} == golden | {
        ("z-lock", "1.0.0"): ("MIT",)
    }


def test_e2e_pnpm_repository_matches_trivy_golden_report() -> None:
    packages = scan_repo("pnpm")
    assert {(p.name, p.version): p.licenses for p in packages} == golden_packages("pnpm")
    # Both the lockfile and pnpm's store under node_modules/.pnpm say so.
    assert all(len(p.locations) == 2 for p in packages)


def test_e2e_yarn_repository() -> None:
    # Trivy has no golden report for this repository; what its files state:
    # yarn.lock pins asap 2.0.6, jquery 3.2.1, promise 8.0.3; node_modules holds jquery;
    # package.json asks for jquery, and for promise (which needs asap) as devDependencies.
    packages = scan_repo("yarn")
    assert {(p.name, p.version): p.dev for p in packages} == {
        ("asap", "2.0.6"): True,
        ("jquery", "3.2.1"): False,
        ("promise", "8.0.3"): True,
    }


YARN_REPO = E2E / "repo" / "yarn"


def yarn_project(manifest: dict[str, Any] | None = None) -> dict[str, bytes | str | None]:
    """The e2e yarn repository's lockfile and manifest (changed as given) in app/."""
    original = json.loads((YARN_REPO / "package.json").read_text())
    return {
        "app/yarn.lock": (YARN_REPO / "yarn.lock").read_bytes(),
        "app/package.json": json.dumps(original if manifest is None else manifest),
    }


def dev_marks(layers: list[dict[str, bytes | str | None]]) -> dict[str, bool]:
    inv = build_inventory(MemorySource(layers), [NodeCataloger()], ctx=FS, workers=1)
    return {p.name: p.dev for p in inv.packages}


UNMARKED = {"asap": False, "jquery": False, "promise": False}


def test_yarn_lock_needs_the_package_json_beside_it() -> None:
    assert dev_marks([yarn_project()]) == {"asap": True, "jquery": False, "promise": True}
    assert dev_marks([yarn_project(), {"app/package.json": None}]) == UNMARKED
    moved = yarn_project()
    moved["other/package.json"] = moved.pop("app/package.json")
    assert dev_marks([moved]) == UNMARKED


def test_yarn_lock_and_package_json_that_disagree_mark_nothing() -> None:
    manifest = json.loads((YARN_REPO / "package.json").read_text())
    manifest["dependencies"]["left-pad"] = "^1.3.0"  # never locked
    assert dev_marks([yarn_project(manifest)]) == UNMARKED
    manifest = json.loads((YARN_REPO / "package.json").read_text())
    manifest["dependencies"]["shared"] = "link:../shared"  # Yarn 1 never locks links
    assert dev_marks([yarn_project(manifest)])["promise"] is True


def test_yarn_dev_dependency_also_in_dependencies_is_production() -> None:
    manifest = json.loads((YARN_REPO / "package.json").read_text())
    manifest["optionalDependencies"] = {"asap": "~2.0.6"}
    assert dev_marks([yarn_project(manifest)]) == {"asap": False, "jquery": False, "promise": True}


def test_yarn_workspace_root_marks_nothing() -> None:
    manifest = json.loads((YARN_REPO / "package.json").read_text())
    manifest["workspaces"] = ["packages/*"]
    assert dev_marks([yarn_project(manifest)]) == UNMARKED


def test_project_package_json_gives_no_package_and_a_broken_one_warns() -> None:
    layer = yarn_project()
    layer["app/package.json"] = "{"
    layer["tools/package.json"] = json.dumps({"name": "tools", "version": "1.0.0"})
    warnings: list[str] = []
    inv = build_inventory(
        MemorySource([layer]), [NodeCataloger()], ctx=FS, workers=1, warn=warnings.append
    )
    assert {p.name: p.dev for p in inv.packages} == UNMARKED
    assert [w.partition(": ")[0] for w in warnings] == ["app/package.json"]


def test_berry_dependency_ranges_resolve_with_and_without_the_npm_protocol() -> None:
    # Trivy's yarn_v2_happy.lock: entries keyed `name@npm:range`, dependencies written
    # without the protocol (`color-convert: ^1.9.0`).
    text = (LOCKS / "yarn" / "yarn_v2_happy.lock").read_text()
    lock = read_yarn_lock(text, where="yarn.lock")
    dev = dev_only_releases(lock.entries, ["node-gyp@latest"], ["ansi-styles@^3.2.0"])
    assert dev == {
        ("ansi-styles", "3.2.1"),
        ("color-convert", "1.9.3"),
        ("color-name", "1.1.3"),
    }
    assert dev_only_releases(lock.entries, ["node-gyp@npm:latest"], []) == set()
    assert dev_only_releases(lock.entries, ["missing@^1"], ["ansi-styles@^3.2.0"]) is None
