"""uv's ``uv.lock``: TOML with one ``[[package]]`` table per locked distribution.

The project itself is locked too, as the package whose source is the lock's own
directory (``source = { virtual = "." }`` or ``{ editable = "." }``); it is listed like
any other package. A lockfile must have exactly one such root: without it there is no
project the lock belongs to, and with several it is not one uv wrote.

Development-only packages are those reached from the root's ``[package.dev-dependencies]``
groups and not from its dependencies or optional dependencies (extras are installed by
choice, they are not development tooling). Edges are followed through ``dependencies``
and, where an edge asks for extras (``{ name = "httpx", extra = ["socks"] }``), through
those extras of the target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.python._formats import load_toml, table_list, text_field

ROOT_SOURCES = ("virtual", "editable")


@dataclass(frozen=True, slots=True)
class _Edge:
    name: str
    version: str
    extras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Locked:
    name: str
    version: str
    is_root: bool
    dependencies: tuple[_Edge, ...]
    optional: dict[str, tuple[_Edge, ...]]
    dev_groups: tuple[_Edge, ...]


def parse_uv_lock(data: bytes, *, where: str) -> list[Package]:
    return uv_lock_packages(load_toml(data, where=where, what="uv.lock"), where=where)


def uv_lock_packages(document: dict[str, Any], *, where: str) -> list[Package]:
    locked = [
        _read_package(table, where=f"{where}: package #{number}")
        for number, table in enumerate(table_list(document, "package", where=where), start=1)
    ]
    roots = [i for i, pkg in enumerate(locked) if pkg.is_root]
    if len(roots) != 1:
        raise CatalogError(
            f"{where}: a uv lockfile must contain exactly 1 root package (source at '.'), "
            f"found {len(roots)}",
            hint="regenerate it with `uv lock`",
        )
    root = locked[roots[0]]
    by_name: dict[str, list[int]] = {}
    for index, pkg in enumerate(locked):
        by_name.setdefault(pkg.name, []).append(index)
    prod_edges = list(root.dependencies)
    for group in root.optional.values():
        prod_edges.extend(group)
    production = _reachable(prod_edges, locked, by_name) | {roots[0]}
    development = _reachable(root.dev_groups, locked, by_name)

    found: dict[tuple[str, str], bool] = {}
    for index, pkg in enumerate(locked):
        dev = index in development and index not in production
        key = (pkg.name, pkg.version)
        found[key] = found.get(key, True) and dev
    return [
        Package(name=name, version=version, type=PackageType.PYPI, dev=dev)
        for (name, version), dev in found.items()
    ]


def _reachable(
    start: Iterable[_Edge], locked: list[_Locked], by_name: dict[str, list[int]]
) -> set[int]:
    reached: set[int] = set()
    extras_done: set[tuple[int, str]] = set()
    stack = list(start)
    while stack:
        edge = stack.pop()
        for index in _targets(edge, locked, by_name):
            if index not in reached:
                reached.add(index)
                stack.extend(locked[index].dependencies)
            for extra in edge.extras:
                if (index, extra) not in extras_done:
                    extras_done.add((index, extra))
                    stack.extend(locked[index].optional.get(extra, ()))
    return reached


def _targets(edge: _Edge, locked: list[_Locked], by_name: dict[str, list[int]]) -> list[int]:
    candidates = by_name.get(edge.name, [])
    if edge.version and len(candidates) > 1:
        return [i for i in candidates if locked[i].version == edge.version]
    return candidates


def _read_package(table: dict[str, Any], *, where: str) -> _Locked:
    name = text_field(table, "name", where=where)
    version = text_field(table, "version", where=where)
    source = table.get("source", {})
    if not isinstance(source, dict):
        raise CatalogError(f"{where}: 'source' must be a table")
    is_root = any(source.get(kind) == "." for kind in ROOT_SOURCES)
    if not name or (not version and not is_root):
        raise CatalogError(f"{where} has no name or no version")
    return _Locked(
        name=name,
        version=version,
        is_root=is_root,
        dependencies=_edges(table.get("dependencies", []), where=where),
        optional=_groups(table.get("optional-dependencies", {}), where=where),
        dev_groups=tuple(
            edge
            for group in _groups(table.get("dev-dependencies", {}), where=where).values()
            for edge in group
        ),
    )


def _groups(value: Any, *, where: str) -> dict[str, tuple[_Edge, ...]]:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: dependency groups must be a table")
    return {str(group): _edges(edges, where=where) for group, edges in value.items()}


def _edges(value: Any, *, where: str) -> tuple[_Edge, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"{where}: dependencies must be an array")
    edges: list[_Edge] = []
    for item in value:
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: a dependency must be a table")
        extras = item.get("extra", [])
        if not isinstance(extras, list) or not all(isinstance(e, str) for e in extras):
            raise CatalogError(f"{where}: a dependency's 'extra' must be a list of strings")
        edges.append(
            _Edge(
                name=text_field(item, "name", where=where),
                version=text_field(item, "version", where=where),
                extras=tuple(extras),
            )
        )
    return tuple(edges)
