"""The Node cataloger: installed packages everywhere, lockfiles in file systems.

A ``package.json`` at the top of a ``node_modules`` entry is a package really installed,
so it is read in every scan mode. Lockfiles (npm, Yarn, pnpm) describe what a project
would install; they are read only when scanning a directory or an archive
(:attr:`ScanMode.FILESYSTEM`). A lockfile inside ``node_modules`` belongs to a
dependency's own development and says nothing about this installation: it is skipped.

npm and pnpm lockfiles mark development-only packages themselves; ``yarn.lock`` does
not, so in filesystem scans the project's ``package.json`` files are read too, and once
every file is known (:meth:`NodeCataloger.finalize`) the packages a ``yarn.lock``
reaches only from the ``devDependencies`` of the ``package.json`` beside it are marked
``dev``. Left unmarked: a lock without that manifest, one whose manifest names
dependencies the lock does not resolve, and a workspace root (its members' manifests
add dependencies the root's does not list).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace

from stockade.core.models import Package
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.node.npm import parse_package_lock
from stockade.inventory.node.package_json import (
    ProjectManifest,
    is_installed_manifest,
    is_project_manifest,
    parse_installed_manifest,
    parse_project_manifest,
)
from stockade.inventory.node.pnpm import parse_pnpm_lock
from stockade.inventory.node.yarn import YarnEntry, dev_only_releases, read_yarn_lock

NPM_LOCKFILES = frozenset({"package-lock.json", "npm-shrinkwrap.json"})
YARN_LOCKFILE = "yarn.lock"
PNPM_LOCKFILE = "pnpm-lock.yaml"
LOCKFILES = NPM_LOCKFILES | {YARN_LOCKFILE, PNPM_LOCKFILE}
MANIFEST = "package.json"
_YARN_GRAPH = "yarn.lock.entries"
_PROJECT_MANIFEST = "package.json.project"


class NodeCataloger(Cataloger):
    """npm packages: installed manifests and npm, Yarn and pnpm lockfiles."""

    name = "node"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if is_installed_manifest(path):
            return True
        if ctx.mode is not ScanMode.FILESYSTEM:
            return False
        if is_project_manifest(path):
            return True
        return path.rpartition("/")[2] in LOCKFILES and "node_modules/" not in path

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        packages: list[Package]
        basename = file.path.rpartition("/")[2]
        if basename in NPM_LOCKFILES:
            packages = parse_package_lock(file.read(), where=file.path)
        elif basename == YARN_LOCKFILE:
            lock = read_yarn_lock(file.text(), where=file.path)
            return CatalogResult(
                packages=[replace(p, cataloger=self.name) for p in lock.packages],
                facts={_YARN_GRAPH: lock.entries},
            )
        elif is_project_manifest(file.path):
            manifest = parse_project_manifest(file.read(), where=file.path)
            return CatalogResult(facts={_PROJECT_MANIFEST: manifest})
        elif basename == PNPM_LOCKFILE:
            packages = parse_pnpm_lock(file.text(), where=file.path)
        else:
            installed = parse_installed_manifest(file.read(), where=file.path)
            packages = [installed] if installed else []
        if not packages:
            return EMPTY
        return CatalogResult(packages=[replace(p, cataloger=self.name) for p in packages])

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        final = dict(results)
        for path, result in results.items():
            entries = result.facts.get(_YARN_GRAPH)
            if not isinstance(entries, tuple):
                continue
            beside = results.get(posixpath.join(posixpath.dirname(path), MANIFEST))
            manifest = beside.facts.get(_PROJECT_MANIFEST) if beside else None
            if isinstance(manifest, ProjectManifest):
                final[path] = replace(result, packages=_yarn_dev_marked(result, entries, manifest))
        return final


def _yarn_dev_marked(
    result: CatalogResult, entries: tuple[YarnEntry, ...], manifest: ProjectManifest
) -> tuple[Package, ...]:
    if manifest.workspaces:
        return tuple(result.packages)
    dev = dev_only_releases(entries, manifest.production, manifest.development)
    if not dev:
        return tuple(result.packages)
    return tuple(replace(p, dev=True) if (p.name, p.version) in dev else p for p in result.packages)
