"""The Node cataloger against what npm, pnpm and Yarn really install and report.

Each test installs the same small project with a real package manager (fetched from the
npm registry into a temporary directory) and compares what we read from its lockfile
and its ``node_modules`` with the manager's own listing (``npm ls``, ``pnpm list``,
``yarn list`` / ``yarn info``). The project has a nested conflict (debug@2.6.9 needs
ms@2.0.0 while the app wants ms@2.1.3), a scoped package and a development dependency.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stockade.artifact.rootfs import DirectorySource
from stockade.core.models import Package
from stockade.inventory import CatalogContext, ScanMode, build_inventory
from stockade.inventory.node import NodeCataloger
from stockade.inventory.node.npm import parse_package_lock
from stockade.inventory.node.pnpm import parse_pnpm_lock
from stockade.inventory.node.yarn import parse_yarn_lock

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed"),
]

DEPENDENCIES = {"debug": "2.6.9", "ms": "2.1.3", "@sindresorhus/is": "4.6.0"}
DEV_DEPENDENCIES = {"is-number": "7.0.0"}
TOOLS = {
    "pnpm9": "pnpm@9.15.9",
    "pnpm8": "pnpm@8.15.9",
    "pnpm7": "pnpm@7.33.7",
    "yarn1": "yarn@1.22.22",
    "berry": "@yarnpkg/cli-dist@4.9.1",
}
IMAGE = CatalogContext(mode=ScanMode.IMAGE)
FS = CatalogContext(mode=ScanMode.FILESYSTEM)
Releases = set[tuple[str, str]]


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COREPACK_ENABLE_STRICT": "0", **(env or {})},
    )
    if completed.returncode != 0:
        pytest.skip(
            f"{' '.join(command[:3])} failed (registry unreachable?): {completed.stderr[-300:]}"
        )
    return completed.stdout


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each package manager installed with npm into its own prefix."""
    root = tmp_path_factory.mktemp("node-tools")
    paths: dict[str, Path] = {}
    for key, spec in TOOLS.items():
        prefix = root / key
        run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), spec], root)
        paths[key] = prefix
    return paths


def new_project(parent: Path) -> Path:
    project = parent / "app"
    project.mkdir()
    manifest = {
        "name": "app",
        "version": "1.0.0",
        "private": True,
        "dependencies": DEPENDENCIES,
        "devDependencies": DEV_DEPENDENCIES,
    }
    (project / "package.json").write_text(json.dumps(manifest))
    return project


def installed(project: Path) -> Releases:
    with DirectorySource(project) as source:
        packages = build_inventory(source, [NodeCataloger()], ctx=IMAGE, workers=1).packages
    return {(p.name, p.version) for p in packages}


def project_files_scan(project: Path, parent: Path) -> list[Package]:
    """A filesystem scan of the project's package.json and lockfiles, not node_modules."""
    copy = parent / "project-files"
    copy.mkdir()
    for path in project.iterdir():
        if path.is_file():
            shutil.copy(path, copy / path.name)
    with DirectorySource(copy) as source:
        return list(build_inventory(source, [NodeCataloger()], ctx=FS, workers=1).packages)


def releases(packages: list[Package], *, dev: bool | None = None) -> Releases:
    return {(p.name, p.version) for p in packages if dev is None or p.dev is dev}


def walk_tree(node: dict[str, Any], sections: tuple[str, ...]) -> Releases:
    """(name, version) anywhere below ``node`` in an npm/pnpm JSON listing."""
    out: Releases = set()
    stack = [node]
    while stack:
        current = stack.pop()
        for section in sections:
            for name, child in (current.get(section) or {}).items():
                if "version" in child:
                    out.add((name, child["version"]))
                stack.append(child)
    return out


EXPECTED_ALL = {
    ("debug", "2.6.9"),
    ("ms", "2.0.0"),
    ("ms", "2.1.3"),
    ("@sindresorhus/is", "4.6.0"),
    ("is-number", "7.0.0"),
}


def test_npm(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    run(["npm", "install", "--no-audit", "--no-fund", "--cache", str(tmp_path / "c")], project)
    everything = walk_tree(
        json.loads(run(["npm", "ls", "--all", "--json"], project)), ("dependencies",)
    )
    production = walk_tree(
        json.loads(run(["npm", "ls", "--all", "--json", "--omit=dev"], project)), ("dependencies",)
    )
    assert everything == EXPECTED_ALL
    lock = parse_package_lock((project / "package-lock.json").read_bytes(), where="lock")
    assert releases(lock) == everything
    assert releases(lock, dev=False) == production
    assert releases(lock, dev=True) == everything - production
    assert installed(project) == everything


@pytest.mark.parametrize(
    ("tool", "lock_format"), [("pnpm9", "9.0"), ("pnpm8", "6.0"), ("pnpm7", "5.4")]
)
def test_pnpm(tools: dict[str, Path], tmp_path: Path, tool: str, lock_format: str) -> None:
    pnpm = str(tools[tool] / "node_modules" / ".bin" / "pnpm")
    project = new_project(tmp_path)
    run([pnpm, "install", "--store-dir", str(tmp_path / "store")], project)
    text = (project / "pnpm-lock.yaml").read_text()
    assert f"lockfileVersion: {lock_format}" in text or f"lockfileVersion: '{lock_format}'" in text
    listing = ("dependencies", "devDependencies", "optionalDependencies")
    everything = walk_tree(
        json.loads(run([pnpm, "list", "--depth", "Infinity", "--json"], project))[0], listing
    )
    production = walk_tree(
        json.loads(run([pnpm, "list", "--depth", "Infinity", "--json", "--prod"], project))[0],
        listing,
    )
    assert everything == EXPECTED_ALL
    lock = parse_pnpm_lock(text, where="pnpm-lock.yaml")
    assert releases(lock) == everything
    assert releases(lock, dev=False) == production
    assert installed(project) == everything


def test_yarn_classic(tools: dict[str, Path], tmp_path: Path) -> None:
    yarn = str(tools["yarn1"] / "node_modules" / ".bin" / "yarn")
    project = new_project(tmp_path)
    run([yarn, "install", "--cache-folder", str(tmp_path / "cache")], project)
    listing: Releases = set()
    for line in run([yarn, "list", "--json"], project).splitlines():
        event = json.loads(line)
        if event.get("type") != "tree":
            continue
        stack = list(event["data"]["trees"])
        while stack:
            node = stack.pop()
            name, _, version = node["name"].rpartition("@")
            listing.add((name, version))
            stack.extend(node.get("children", []))
    assert listing == EXPECTED_ALL
    lock = parse_yarn_lock((project / "yarn.lock").read_text(), where="yarn.lock")
    assert releases(lock) == listing
    assert installed(project) == listing
    # yarn.lock and package.json together: what `yarn install --production` keeps.
    scanned = project_files_scan(project, tmp_path)
    run([yarn, "install", "--production", "--cache-folder", str(tmp_path / "cache")], project)
    production = installed(project)
    assert production == listing - set(DEV_DEPENDENCIES.items())
    assert releases(scanned, dev=False) == production
    assert releases(scanned, dev=True) == listing - production


def test_yarn_berry(tools: dict[str, Path], tmp_path: Path) -> None:
    yarn = ["node", str(tools["berry"] / "node_modules/@yarnpkg/cli-dist/bin/yarn.js")]
    project = new_project(tmp_path)
    (project / "yarn.lock").touch()  # makes this directory a project of its own
    env = {
        "YARN_NODE_LINKER": "node-modules",
        "YARN_ENABLE_GLOBAL_CACHE": "0",
        "YARN_ENABLE_TELEMETRY": "0",
        "YARN_CACHE_FOLDER": str(tmp_path / "cache"),
    }
    run([*yarn, "install"], project, env)
    listing: Releases = set()
    for line in run([*yarn, "info", "--recursive", "--json", "--name-only"], project, env).split():
        locator = json.loads(line)
        name, _, reference = locator.partition("@npm:") if "@npm:" in locator else ("", "", "")
        if name:
            listing.add((name, reference))
    assert listing == EXPECTED_ALL
    lock = parse_yarn_lock((project / "yarn.lock").read_text(), where="yarn.lock")
    assert releases(lock) == listing
    assert installed(project) == listing
    # yarn.lock and package.json together: what a production-only install keeps.
    scanned = project_files_scan(project, tmp_path)
    run([*yarn, "workspaces", "focus", "--all", "--production"], project, env)
    production = installed(project)
    assert production == listing - set(DEV_DEPENDENCIES.items())
    assert releases(scanned, dev=False) == production
    assert releases(scanned, dev=True) == listing - production
