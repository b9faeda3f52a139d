"""Ruby gems: installed specifications in every scan, Bundler lock files in filesystem scans.

One module per format: :mod:`.gemspec` and :mod:`.gemfile_lock`.
"""

from __future__ import annotations

from typing import ClassVar

from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.ruby.gemfile_lock import parse_gemfile_lock
from stockade.inventory.ruby.gemspec import parse_gemspec

__all__ = ["RubyCataloger", "parse_gemfile_lock", "parse_gemspec"]

_LOCK_FILES = frozenset({"Gemfile.lock", "gems.locked"})


class RubyCataloger(Cataloger):
    name: ClassVar[str] = "ruby"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if path.endswith(".gemspec"):
            # RubyGems keeps installed specs in …/specifications/ (default gems in
            # …/specifications/default/); a .gemspec elsewhere is a gem's source.
            return "/specifications/" in "/" + path
        if ctx.mode is not ScanMode.FILESYSTEM:
            return False
        return path.rsplit("/", 1)[-1] in _LOCK_FILES

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        if file.path.endswith(".gemspec"):
            package = parse_gemspec(file.text(), cataloger=self.name)
            return CatalogResult(packages=[package])
        return CatalogResult(packages=parse_gemfile_lock(file.text(), cataloger=self.name))
