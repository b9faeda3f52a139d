"""Dependency trees that ``cargo auditable`` embeds in Rust executables.

The ``.dep-v0`` ELF section holds zlib-compressed JSON: ``{"packages": [{"name",
"version", "source", "kind", "dependencies", "root"}, …]}`` (the schema is published as
``cargo-auditable.schema.json``). ``kind`` is ``build`` for crates only build scripts and
proc-macros used, absent or ``runtime`` otherwise; ``root`` marks the executable's own
crate.

Reported, as Trivy does: every runtime crate, the root one included; build-only crates
are not in the executable and are skipped. Only ELF executables are read (the section
has other names in PE and Mach-O files).
"""

from __future__ import annotations

import json
import zlib

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.binary import (
    RandomAccess,
    find_section,
    is_elf,
    read_elf_sections,
    read_section,
)

SECTION = ".dep-v0"
_MAX_COMPRESSED_BYTES = 8 << 20
_MAX_JSON_BYTES = 64 << 20
"""Decompression stops here: a few thousand crates take well under a megabyte."""


def dependencies_from_file(reader: RandomAccess, *, cataloger: str) -> list[Package] | None:
    """Crates recorded in an auditable ELF executable; None if it carries no record."""
    if not is_elf(reader.read_at(0, 4)):
        return None
    section = find_section(read_elf_sections(reader), SECTION)
    if section is None:
        return None
    compressed = read_section(reader, section, _MAX_COMPRESSED_BYTES)
    if compressed is None:
        raise CatalogError(
            f"{SECTION} section is unreadable or larger than {_MAX_COMPRESSED_BYTES} bytes"
        )
    return parse_audit_data(decompress(compressed), cataloger=cataloger)


def decompress(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, _MAX_JSON_BYTES)
    except zlib.error as exc:
        raise CatalogError(f"{SECTION} section is not zlib data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise CatalogError(
            f"{SECTION} section inflates past {_MAX_JSON_BYTES} bytes",
            hint="real dependency records are far smaller; the binary may be hostile",
        )
    if not inflater.eof:
        raise CatalogError(f"{SECTION} section is truncated zlib data")
    return data


def parse_audit_data(data: bytes, *, cataloger: str) -> list[Package]:
    """Runtime crates of a decompressed cargo-auditable record."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"{SECTION} section is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("packages"), list):
        raise CatalogError(f"{SECTION} section has no 'packages' array")
    packages: dict[tuple[str, str], Package] = {}
    for number, entry in enumerate(document["packages"], start=1):
        if not isinstance(entry, dict):
            raise CatalogError(f"{SECTION}: package #{number} is not an object")
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name:
            raise CatalogError(f"{SECTION}: package #{number} lacks a name or a version")
        kind = entry.get("kind", "runtime")
        if kind == "build":
            continue  # build scripts and proc-macros: not part of the executable
        packages.setdefault(
            (name, version),
            Package(name=name, version=version, type=PackageType.CARGO, cataloger=cataloger),
        )
    return list(packages.values())
