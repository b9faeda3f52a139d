"""Gradle dependency lock files (``gradle.lockfile``, ``buildscript-gradle.lockfile``).

Gradle writes one line per resolved module, ``group:artifact:version=conf1,conf2``, a
final ``empty=…`` line naming configurations that resolved nothing, and ``#`` comments.
A module locked only in test configurations (``testCompileClasspath``,
``testRuntimeClasspath``, …) is a development dependency.
"""

from __future__ import annotations

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

_COORDINATE_PARTS = 3


def parse_gradle_lockfile(text: str, *, cataloger: str) -> list[Package]:
    """Packages locked in a Gradle lock file; a line of another shape is an error."""
    packages: dict[tuple[str, str, str], Package] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        coordinates, _, configurations = line.partition("=")
        if coordinates == "empty":
            continue
        parts = coordinates.split(":")
        if len(parts) != _COORDINATE_PARTS or not all(part.strip() for part in parts):
            raise CatalogError(
                f"line {number}: expected group:artifact:version=configurations, got {line[:80]!r}",
                hint="is this a Gradle dependency lock file?",
            )
        group, artifact, version = (part.strip() for part in parts)
        names = [name.strip() for name in configurations.split(",") if name.strip()]
        dev = bool(names) and all(name.startswith("test") for name in names)
        key = (group, artifact, version)
        if key in packages:
            dev = dev and packages[key].dev
        packages[key] = Package(
            name=artifact,
            version=version,
            type=PackageType.MAVEN,
            namespace=group,
            dev=dev,
            cataloger=cataloger,
        )
    return list(packages.values())
