"""Poetry's ``poetry.lock``: TOML with one ``[[package]]`` table per locked release.

Which packages are development-only depends on the lock format version:

* lock format 1.x and 2.0 written by Poetry < 1.5 carry ``category = "dev"``;
* lock format 2.1 (Poetry 2) carries ``groups = ["main", "dev", …]``: a package only in
  groups other than ``main`` is installed for development, testing or docs only;
* lock format 2.0 written by Poetry 1.5 to 1.8 carries neither, and the lock alone cannot
  tell. The ``pyproject.toml`` beside it can: such a lock keeps its dependency graph
  (:class:`PoetryGraph`), and :func:`dev_only_names` follows it from the project's
  groups once both files are known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType, pep503_name
from stockade.inventory.python._formats import load_toml, table_list, text_field

MAIN_GROUP = "main"


@dataclass(frozen=True, slots=True)
class PoetryGraph:
    """Which locked distributions each one depends on, by PEP 503 name."""

    dependencies: dict[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class PoetryLock:
    packages: list[Package]
    graph: PoetryGraph | None
    """None when the lock marks development packages itself (or locks nothing)."""


def parse_poetry_lock(data: bytes, *, where: str) -> list[Package]:
    return read_poetry_lock(data, where=where).packages


def read_poetry_lock(data: bytes, *, where: str) -> PoetryLock:
    document = load_toml(data, where=where, what="poetry.lock")
    packages = poetry_lock_packages(document, where=where)
    tables = table_list(document, "package", where=where)
    if not tables or any("groups" in t or "category" in t for t in tables):
        return PoetryLock(packages, None)
    dependencies: dict[str, frozenset[str]] = {}
    for table in tables:
        name = pep503_name(str(table.get("name", "")))
        declared = table.get("dependencies")
        needs = {pep503_name(dep) for dep in declared} if isinstance(declared, dict) else set()
        dependencies[name] = dependencies.get(name, frozenset()) | needs
    return PoetryLock(packages, PoetryGraph(dependencies))


def dev_only_names(
    graph: PoetryGraph, production: Iterable[str], development: Iterable[str]
) -> set[str] | None:
    """PEP 503 names reached from ``development`` roots and not from ``production`` ones.

    None when a production root is not locked: the two files disagree, and what is only
    needed for development cannot be told.
    """
    needed = [pep503_name(name) for name in production]
    if any(name not in graph.dependencies for name in needed):
        return None

    def reach(roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = [name for name in roots if name in graph.dependencies]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(dep for dep in graph.dependencies[name] if dep in graph.dependencies)
        return seen

    return reach(pep503_name(name) for name in development) - reach(needed)


def poetry_lock_packages(document: dict[str, Any], *, where: str) -> list[Package]:
    found: dict[tuple[str, str], bool] = {}
    for number, table in enumerate(table_list(document, "package", where=where), start=1):
        here = f"{where}: package #{number}"
        name = text_field(table, "name", where=here)
        version = text_field(table, "version", where=here)
        if not name or not version:
            raise CatalogError(f"{here} has no name or no version")
        key = (name, version)
        found[key] = found.get(key, True) and _is_dev(table, where=here)
    return [
        Package(name=name, version=version, type=PackageType.PYPI, dev=dev)
        for (name, version), dev in found.items()
    ]


def _is_dev(table: dict[str, object], *, where: str) -> bool:
    groups = table.get("groups")
    if groups is not None:
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise CatalogError(f"{where}: 'groups' must be a list of strings")
        return bool(groups) and MAIN_GROUP not in groups
    category = table.get("category")
    if category is not None and not isinstance(category, str):
        raise CatalogError(f"{where}: 'category' must be a string")
    return category == "dev"
