"""``pyproject.toml`` of a Poetry project: which dependencies are for development.

Poetry 1.x declares the project's dependencies under ``[tool.poetry.dependencies]``
(``python`` there is the interpreter, not a package) and each group's under
``[tool.poetry.group.<name>.dependencies]``; the group ``main`` is the project's own
dependencies, every other group (``dev``, ``test``, ``docs``, …) is installed for
development only. ``[tool.poetry.dev-dependencies]`` is the spelling before groups.
Only the names are read: the lock says which versions they resolved to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stockade.inventory.python._formats import load_toml

MAIN_GROUP = "main"


@dataclass(frozen=True, slots=True)
class PoetryProject:
    production: tuple[str, ...]
    development: tuple[str, ...]


def parse_poetry_project(data: bytes, *, where: str) -> PoetryProject | None:
    """The dependency names a Poetry ``pyproject.toml`` declares; None if not Poetry's."""
    document = load_toml(data, where=where, what="pyproject.toml")
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if not isinstance(poetry, dict):
        return None
    production = _names(poetry.get("dependencies"))
    development = _names(poetry.get("dev-dependencies"))
    groups = poetry.get("group")
    for group, table in groups.items() if isinstance(groups, dict) else ():
        declared = _names(table.get("dependencies") if isinstance(table, dict) else None)
        if group == MAIN_GROUP:
            production += declared
        else:
            development += declared
    return PoetryProject(production=production, development=development)


def _names(table: Any) -> tuple[str, ...]:
    if not isinstance(table, dict):
        return ()
    return tuple(name for name in table if isinstance(name, str) and name and name != "python")
