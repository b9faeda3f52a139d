"""Elixir and Erlang packages from Hex, as pinned in ``mix.lock`` (filesystem scans).

``mix.lock`` is an Elixir map literal: one entry per dependency,
``"name": {:hex, :package, "version", "checksum", [:mix], [deps...], "hexpm", "checksum"}``.
Only ``:hex`` entries are packages from the registry; ``:git`` and ``:path`` entries
have no version to match and are left out. The file is read line by line with a
pattern for the entry's head, never evaluated.
"""

from __future__ import annotations

import re
from typing import ClassVar

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)

__all__ = ["HexCataloger", "parse_mix_lock"]

_MAX_MIX_LOCK_BYTES = 16 * 1024**2
_ENTRY = re.compile(
    r'^\s*"(?P<key>[^"]+)"\s*:\s*\{\s*:hex\s*,\s*:"?(?P<name>[A-Za-z0-9_.]+)"?\s*,'
    r'\s*"(?P<version>[^"]+)"'
)


def parse_mix_lock(text: str) -> tuple[list[Package], list[str]]:
    """The Hex packages a ``mix.lock`` pins, and a warning per entry it could not read."""
    stripped = text.lstrip()
    if not stripped.startswith("%{"):
        raise CatalogError("not a mix.lock: it does not start with an Elixir map (%{)")
    packages: dict[tuple[str, str], Package] = {}
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ":hex" not in line:
            continue
        match = _ENTRY.match(line)
        if match is None:
            warnings.append(f"line {number}: a :hex entry that could not be read")
            continue
        name, version = match["name"], match["version"]
        packages.setdefault(
            (name, version),
            Package(name=name, version=version, type=PackageType.HEX, cataloger="hex"),
        )
    return list(packages.values()), warnings


class HexCataloger(Cataloger):
    name: ClassVar[str] = "hex"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return ctx.mode is ScanMode.FILESYSTEM and (
            path == "mix.lock" or path.endswith("/mix.lock")
        )

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        if file.size > _MAX_MIX_LOCK_BYTES:
            raise CatalogError(f"mix.lock of {file.size} bytes is too large to be real")
        packages, warnings = parse_mix_lock(file.text())
        return CatalogResult(packages=packages, warnings=warnings)
