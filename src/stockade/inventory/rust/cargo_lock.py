"""``Cargo.lock``: every crate a Rust workspace resolved, lock format v1 to v4.

All versions share the ``[[package]]`` array with ``name`` and ``version``; they differ
in where checksums live (v1 in ``[metadata]``) and in how dependencies are written:
``"name version (source)"`` in v1, and from v2 on the shortest of ``"name"``,
``"name version"`` and ``"name version (source)"`` that is unambiguous in the lock. The
workspace's own crates are listed too (no ``source``), as Trivy reports them.

Which crates are development-only is not in the lock: :func:`dev_only_crates` works it
out from the dependency graph kept here and the ``Cargo.toml`` manifests of the
workspace's own crates.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

CrateId = tuple[str, str]
"""(name, version): how a crate is told apart from the others of one lock."""


@dataclass(frozen=True, slots=True)
class LockedCrate:
    name: str
    version: str
    local: bool
    """No ``source``: one of the workspace's own crates, or a path dependency."""
    dependencies: tuple[CrateId, ...]
    """The crates this one was resolved to depend on (dev-dependencies included, for the
    workspace's own crates; a registry crate's dev-dependencies are never resolved)."""


@dataclass(frozen=True, slots=True)
class CargoLock:
    packages: tuple[Package, ...]
    crates: tuple[LockedCrate, ...]


def parse_cargo_lock(text: str, *, cataloger: str) -> list[Package]:
    """The crates of a ``Cargo.lock``; CatalogError if it is not one."""
    return list(read_cargo_lock(text, cataloger=cataloger).packages)


def read_cargo_lock(text: str, *, cataloger: str) -> CargoLock:
    """The crates of a ``Cargo.lock`` and how they depend on each other."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"Cargo.lock is not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise CatalogError("Cargo.lock nests too deeply to be real") from exc
    entries = document.get("package", [])
    if not isinstance(entries, list):
        raise CatalogError("Cargo.lock: 'package' is not an array of tables")
    packages: dict[CrateId, Package] = {}
    raw: list[tuple[CrateId, str | None, list[str]]] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CatalogError(f"Cargo.lock: package #{number} is not a table")
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name:
            raise CatalogError(f"Cargo.lock: package #{number} lacks a name or a version")
        packages.setdefault(
            (name, version),
            Package(name=name, version=version, type=PackageType.CARGO, cataloger=cataloger),
        )
        source = entry.get("source")
        dependencies = entry.get("dependencies", [])
        if not isinstance(dependencies, list):
            dependencies = []
        raw.append(
            (
                (name, version),
                source if isinstance(source, str) else None,
                [d for d in dependencies if isinstance(d, str)],
            )
        )
    resolve = _resolver([crate for crate, _, _ in raw])
    crates = tuple(
        LockedCrate(
            name=name,
            version=version,
            local=source is None,
            dependencies=tuple(target for dep in deps for target in resolve(dep)),
        )
        for (name, version), source, deps in raw
    )
    return CargoLock(packages=tuple(packages.values()), crates=crates)


def _resolver(crates: list[CrateId]) -> Callable[[str], list[CrateId]]:
    by_name: dict[str, list[CrateId]] = {}
    for crate in crates:
        if crate not in by_name.setdefault(crate[0], []):
            by_name[crate[0]].append(crate)

    def resolve(reference: str) -> list[CrateId]:
        # "name", "name version" or "name version (source)"; the source only tells
        # apart crates of the same name and version, which are one package here.
        # A name the lock does not list (a hand-edited or truncated file) leads nowhere.
        parts = reference.split()
        candidates = by_name.get(parts[0], []) if parts else []
        if len(parts) >= 2:
            return [c for c in candidates if c[1] == parts[1]]
        return candidates

    return resolve


def dev_only_crates(
    crates: Iterable[LockedCrate], dev_only_edges: Callable[[LockedCrate], frozenset[str]]
) -> set[CrateId]:
    """Crates reached from the workspace's own crates only through dev-dependencies.

    ``dev_only_edges`` names, for one of the workspace's own crates, the dependencies its
    manifest declares only under ``[dev-dependencies]`` (an empty set where the manifest
    is unknown, so nothing is dropped on a guess). Every crate of the workspace counts
    as needed; crates no local crate reaches at all are left alone.
    """
    by_id: dict[CrateId, list[LockedCrate]] = {}
    for crate in crates:
        by_id.setdefault((crate.name, crate.version), []).append(crate)
    roots = [(c.name, c.version) for group in by_id.values() for c in group if c.local]

    def needed_edges(crate: LockedCrate) -> Iterator[CrateId]:
        skip = dev_only_edges(crate) if crate.local else frozenset()
        return (dep for dep in crate.dependencies if dep[0] not in skip)

    def any_edges(crate: LockedCrate) -> Iterator[CrateId]:
        return iter(crate.dependencies)

    needed = _reachable(roots, by_id, needed_edges)
    return _reachable(roots, by_id, any_edges) - needed


def _reachable(
    start: list[CrateId],
    by_id: dict[CrateId, list[LockedCrate]],
    edges: Callable[[LockedCrate], Iterator[CrateId]],
) -> set[CrateId]:
    seen = set(start)
    todo = list(start)
    while todo:
        for crate in by_id.get(todo.pop(), ()):
            for dep in edges(crate):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
    return seen
