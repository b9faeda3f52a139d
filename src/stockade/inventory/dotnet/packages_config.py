"""``packages.config``: the NuGet manifest of .NET Framework projects.

``<packages><package id="…" version="…" developmentDependency="true"/></packages>``.
Development dependencies are kept and marked ``dev`` (Trivy drops them instead).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType


def _parse_xml(data: bytes) -> ET.Element:
    # A DTD is how XML bombs and external entities get in, and NuGet never writes one;
    # refusing it up front makes the stdlib parser safe for untrusted input. NUL bytes
    # mean UTF-16/32, where the check below would not see "<!DOCTYPE".
    if b"\x00" in data:
        raise CatalogError("packages.config is not UTF-8 or a single-byte encoding")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CatalogError("packages.config declares a DTD, which NuGet never writes")
    try:
        return ET.fromstring(data)  # noqa: S314 - no DTD reaches the parser (checked above)
    except (ET.ParseError, ValueError) as exc:
        raise CatalogError(f"packages.config is not well-formed XML: {exc}") from exc


def parse_packages_config(data: bytes, *, cataloger: str) -> list[Package]:
    """Packages of a ``packages.config``; CatalogError if it is not one."""
    root = _parse_xml(data)
    if root.tag != "packages":
        raise CatalogError(f"packages.config: root element is <{root.tag}>, not <packages>")
    packages: dict[tuple[str, str], Package] = {}
    for element in root.iter("package"):
        name = (element.get("id") or "").strip()
        version = (element.get("version") or "").strip()
        if not name:
            continue
        dev = (element.get("developmentDependency") or "").strip().lower() == "true"
        previous = packages.get((name, version))
        if previous is not None and not previous.dev:
            continue  # listed twice: a real use wins over a development-only one
        packages[(name, version)] = Package(
            name=name, version=version, type=PackageType.NUGET, dev=dev, cataloger=cataloger
        )
    return list(packages.values())
