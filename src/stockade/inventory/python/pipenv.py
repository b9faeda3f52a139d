"""Pipenv's ``Pipfile.lock``: a JSON object with a ``default`` and a ``develop`` section.

Each section maps a project name to ``{"version": "==1.2.3", "hashes": […], …}``.
``develop`` holds what ``pipenv install --dev`` adds, so its packages are development
dependencies, unless the same pin is also in ``default``. Entries without a version
(VCS checkouts, local paths, editable installs) name no release and are skipped.
"""

from __future__ import annotations

from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.python._formats import load_json_object

SECTIONS = (("default", False), ("develop", True))


def parse_pipfile_lock(data: bytes, *, where: str) -> list[Package]:
    return pipfile_lock_packages(
        load_json_object(data, where=where, what="Pipfile.lock"), where=where
    )


def pipfile_lock_packages(document: dict[str, Any], *, where: str) -> list[Package]:
    found: dict[tuple[str, str], bool] = {}
    for section, dev in SECTIONS:
        for name, version in _pins(document.get(section), section, where=where):
            key = (name, version)
            found[key] = found.get(key, True) and dev
    return [
        Package(name=name, version=version, type=PackageType.PYPI, dev=dev)
        for (name, version), dev in found.items()
    ]


def _pins(section: Any, section_name: str, *, where: str) -> list[tuple[str, str]]:
    if section is None:
        return []
    if not isinstance(section, dict):
        raise CatalogError(f"{where}: '{section_name}' must be an object")
    pins: list[tuple[str, str]] = []
    for name, entry in section.items():
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: '{section_name}.{name}' must be an object")
        version = entry.get("version")
        if version is None:
            continue
        if not isinstance(version, str):
            raise CatalogError(f"{where}: '{section_name}.{name}.version' must be a string")
        version = version.strip().removeprefix("===").removeprefix("==").strip()
        if name.strip() and version:
            pins.append((name.strip(), version))
    return pins
