"""Rust crates: ``Cargo.lock`` (filesystem scans) and cargo-auditable executables (any scan).

``Cargo.lock`` does not say which crates are development-only; the ``Cargo.toml``
manifests of the workspace's own crates do. Both are read in filesystem scans, and once
every file is known (:meth:`RustCataloger.finalize`) a crate that the workspace reaches
only through ``[dev-dependencies]`` is marked ``dev``, as Trivy leaves such crates out
of its report. A lock whose crates' manifests are not in the scan is reported as it is.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from stockade.core.models import Package
from stockade.inventory.binary import (
    ELF_MAGIC,
    is_candidate_executable,
    memory_access,
    random_access,
)
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.rust.auditable import dependencies_from_file, parse_audit_data
from stockade.inventory.rust.cargo_lock import (
    CargoLock,
    LockedCrate,
    dev_only_crates,
    parse_cargo_lock,
    read_cargo_lock,
)
from stockade.inventory.rust.cargo_toml import CargoManifest, parse_cargo_toml

__all__ = ["RustCataloger", "parse_audit_data", "parse_cargo_lock", "parse_cargo_toml"]

CATALOGER_NAME = "rust"
LOCK = "Cargo.lock"
MANIFEST = "Cargo.toml"
_LOCK_FACT = "cargo.lock"
_MANIFEST_FACT = "cargo.manifest"


class RustCataloger(Cataloger):
    name: ClassVar[str] = CATALOGER_NAME

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if posixpath.basename(path) in (LOCK, MANIFEST):
            return ctx.mode is ScanMode.FILESYSTEM
        return is_candidate_executable(size, mode)

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        base = posixpath.basename(file.path)
        if base == LOCK:
            lock = read_cargo_lock(file.text(), cataloger=self.name)
            return CatalogResult(lock.packages, facts={_LOCK_FACT: lock})
        if base == MANIFEST:
            return CatalogResult(facts={_MANIFEST_FACT: parse_cargo_toml(file.text())})
        reader = random_access(file)
        if reader is None:
            # A forward-only stream: the section table sits at the end of the file and
            # names where the section is, so a non-ELF file is dropped after 4 bytes and
            # an ELF one is read whole (the engine has already bounded its size).
            head = file.stream.read(len(ELF_MAGIC))
            if head != ELF_MAGIC:
                return EMPTY
            reader = memory_access(head + file.stream.read(max(0, file.size - len(head))))
        packages = dependencies_from_file(reader, cataloger=self.name)
        return CatalogResult(packages) if packages else EMPTY

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        manifests = {
            path: fact
            for path, result in results.items()
            if isinstance(fact := result.facts.get(_MANIFEST_FACT), CargoManifest)
        }
        if not manifests:
            return results
        final = dict(results)
        for path, result in results.items():
            lock = result.facts.get(_LOCK_FACT)
            if isinstance(lock, CargoLock):
                final[path] = replace(result, packages=_with_dev_marked(path, lock, manifests))
        return final


def _with_dev_marked(
    lock_path: str, lock: CargoLock, manifests: Mapping[str, CargoManifest]
) -> tuple[Package, ...]:
    workspace = _manifests_below(posixpath.dirname(lock_path), manifests)

    def dev_only_edges(crate: LockedCrate) -> frozenset[str]:
        manifest = _manifest_of(crate, workspace)
        return manifest.dev_only if manifest else frozenset()

    dev = dev_only_crates(lock.crates, dev_only_edges)
    return tuple(
        replace(pkg, dev=True) if (pkg.name, pkg.version) in dev else pkg for pkg in lock.packages
    )


def _manifests_below(
    directory: str, manifests: Mapping[str, CargoManifest]
) -> list[tuple[int, CargoManifest]]:
    """The manifests in ``directory`` or below it, each with how deep it lies there."""
    prefix = directory + "/" if directory else ""
    return [
        (path.count("/") - prefix.count("/"), manifest)
        for path, manifest in manifests.items()
        if path.startswith(prefix) and manifest.name is not None
    ]


def _manifest_of(
    crate: LockedCrate, workspace: list[tuple[int, CargoManifest]]
) -> CargoManifest | None:
    # A workspace member's version may be inherited (not a string); a manifest of the
    # same name with another version is some other copy of the crate. The nearest of
    # the rest is the one this lock was resolved for.
    candidates = [
        (depth, manifest)
        for depth, manifest in workspace
        if manifest.name == crate.name and manifest.version in (None, crate.version)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c[1].version is None, c[0]))[1]
