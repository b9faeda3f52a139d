""".NET packages: ``*.deps.json`` (any scan); ``packages.lock.json`` and
``packages.config`` (filesystem scans).
"""

from __future__ import annotations

import posixpath
from typing import ClassVar

from stockade.inventory.dotnet.deps_json import parse_deps_json
from stockade.inventory.dotnet.nuget_lock import parse_nuget_lock
from stockade.inventory.dotnet.packages_config import parse_packages_config
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)

__all__ = ["DotnetCataloger", "parse_deps_json", "parse_nuget_lock", "parse_packages_config"]

CATALOGER_NAME = "dotnet"
_DEPS_SUFFIX = ".deps.json"
_LOCK_FILE = "packages.lock.json"
_CONFIG_FILE = "packages.config"


class DotnetCataloger(Cataloger):
    name: ClassVar[str] = CATALOGER_NAME

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        base = path.rsplit("/", 1)[-1]
        if base.endswith(_DEPS_SUFFIX) and len(base) > len(_DEPS_SUFFIX):
            return True
        return ctx.mode is ScanMode.FILESYSTEM and base in (_LOCK_FILE, _CONFIG_FILE)

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        base = posixpath.basename(file.path)
        if base == _LOCK_FILE:
            return CatalogResult(parse_nuget_lock(file.text(), cataloger=self.name))
        if base == _CONFIG_FILE:
            return CatalogResult(parse_packages_config(file.read(), cataloger=self.name))
        return CatalogResult(parse_deps_json(file.text(), cataloger=self.name))
