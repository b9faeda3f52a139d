"""``packages.lock.json``: NuGet's lock file, one resolved set per target framework.

``dependencies`` maps each target framework to packages by id, each with a ``type``
(``Direct``, ``Transitive``, ``CentralTransitive`` or ``Project``) and the ``resolved``
version. Every package of every framework is reported once; ``Project`` entries are the
solution's own projects and are skipped, as Trivy does. NuGet records nothing that marks
a package as development-only.
"""

from __future__ import annotations

import json
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType


def parse_nuget_lock(text: str, *, cataloger: str) -> list[Package]:
    """Packages of a ``packages.lock.json``; CatalogError if it is not one."""
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"packages.lock.json is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise CatalogError("packages.lock.json is not a JSON object")
    frameworks = document.get("dependencies", {})
    if not isinstance(frameworks, dict):
        raise CatalogError("packages.lock.json: 'dependencies' is not an object")
    packages: dict[tuple[str, str], Package] = {}
    for framework, entries in frameworks.items():
        if not isinstance(entries, dict):
            raise CatalogError(f"packages.lock.json: framework {framework!r} is not an object")
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise CatalogError(f"packages.lock.json: package {name!r} is not an object")
            kind = entry.get("type")
            if isinstance(kind, str) and kind.lower() == "project":
                continue
            version = entry.get("resolved")
            if not isinstance(version, str) or not version or not name:
                continue  # nothing resolved: NuGet could not restore it
            packages.setdefault(
                (name, version),
                Package(name=name, version=version, type=PackageType.NUGET, cataloger=cataloger),
            )
    return list(packages.values())
