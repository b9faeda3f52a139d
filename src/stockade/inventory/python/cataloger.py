"""The Python cataloger: installed distributions everywhere, lockfiles in file systems.

Installed metadata (``*.dist-info/METADATA``, ``*.egg-info``) is what is really there,
so it is read in every scan mode. Requirement files and lockfiles describe what a
project *would* install; they are read only when scanning a directory or an archive
(:attr:`ScanMode.FILESYSTEM`), where they are the only record of the dependencies.
Lockfiles that belong to an already installed distribution (inside ``site-packages``)
are its authors' development files, not what this system installs, and are skipped.

A ``poetry.lock`` written by Poetry 1.5 to 1.8 does not say which packages are for
development; the ``pyproject.toml`` beside it does. In filesystem scans project files
are read too, and once every file is known (:meth:`PythonCataloger.finalize`) such a
lock's packages that only the project's non-main groups reach are marked ``dev``. A
lock whose ``pyproject.toml`` is missing, or names dependencies it does not lock, is
left unmarked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from stockade.core.models import Package, pep503_name
from stockade.inventory.interface import (
    EMPTY,
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.python.metadata import is_metadata_path, parse_metadata
from stockade.inventory.python.pipenv import parse_pipfile_lock
from stockade.inventory.python.poetry import (
    PoetryGraph,
    dev_only_names,
    parse_poetry_lock,
    read_poetry_lock,
)
from stockade.inventory.python.pyproject import PoetryProject, parse_poetry_project
from stockade.inventory.python.requirements import is_requirements_path, parse_requirements
from stockade.inventory.python.uv import parse_uv_lock


class LockfileParser(Protocol):
    def __call__(self, data: bytes, *, where: str) -> list[Package]: ...


LOCKFILE_PARSERS: dict[str, LockfileParser] = {
    "Pipfile.lock": parse_pipfile_lock,
    "poetry.lock": parse_poetry_lock,
    "uv.lock": parse_uv_lock,
}
_INSTALLED_TREES = ("site-packages/", "dist-packages/")
POETRY_LOCK = "poetry.lock"
PYPROJECT = "pyproject.toml"
_POETRY_GRAPH = "poetry.lock.graph"
_POETRY_PROJECT = "pyproject.toml.poetry"


class PythonCataloger(Cataloger):
    """PyPI packages: installed distributions, requirement files, Pipenv/Poetry/uv locks."""

    name = "python"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if is_metadata_path(path):
            return True
        if ctx.mode is not ScanMode.FILESYSTEM:
            return False
        basename = path.rpartition("/")[2]
        if (
            basename not in LOCKFILE_PARSERS
            and basename != PYPROJECT
            and not is_requirements_path(basename)
        ):
            return False
        return not any(tree in path for tree in _INSTALLED_TREES)

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        basename = file.path.rpartition("/")[2]
        if is_metadata_path(file.path):
            packages = [parse_metadata(file.read(), where=file.path)]
        elif basename == POETRY_LOCK:
            lock = read_poetry_lock(file.read(), where=file.path)
            return CatalogResult(
                packages=[replace(p, cataloger=self.name) for p in lock.packages],
                facts={_POETRY_GRAPH: lock.graph} if lock.graph else {},
            )
        elif basename == PYPROJECT:
            project = parse_poetry_project(file.read(), where=file.path)
            return CatalogResult(facts={_POETRY_PROJECT: project}) if project else EMPTY
        else:
            parser = LOCKFILE_PARSERS.get(basename, parse_requirements)
            packages = parser(file.read(), where=file.path)
        if not packages:
            return EMPTY
        return CatalogResult(packages=[replace(p, cataloger=self.name) for p in packages])

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        final = dict(results)
        for path, result in results.items():
            graph = result.facts.get(_POETRY_GRAPH)
            if not isinstance(graph, PoetryGraph):
                continue
            beside = results.get(posixpath.join(posixpath.dirname(path), PYPROJECT))
            project = beside.facts.get(_POETRY_PROJECT) if beside else None
            if not isinstance(project, PoetryProject):
                continue
            dev = dev_only_names(graph, project.production, project.development)
            if dev:
                final[path] = replace(
                    result,
                    packages=[
                        replace(p, dev=True) if pep503_name(p.name) in dev else p
                        for p in result.packages
                    ],
                )
        return final
