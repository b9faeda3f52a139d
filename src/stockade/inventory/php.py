"""PHP packages installed by Composer.

``composer.lock`` (read in filesystem scans) pins the project's packages in
``packages`` and its development packages in ``packages-dev``.
``vendor/composer/installed.json`` (read in every scan) lists what Composer actually
installed: Composer 1 writes a JSON list of packages; Composer 2 writes
``{"packages": [...], "dev": bool, "dev-package-names": [...]}``.

Package names are ``vendor/project``; the vendor is the purl namespace. A license may be
one string or a list; several licenses in a list, like an "or" inside one string
(``"MIT or BSD-2-Clause"``), mean the user may choose, so both forms give one entry
per license.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)

__all__ = ["PhpCataloger", "parse_composer_lock", "parse_installed_json"]

_INSTALLED_JSON = "vendor/composer/installed.json"


class PhpCataloger(Cataloger):
    name: ClassVar[str] = "php"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        if path == _INSTALLED_JSON or path.endswith("/" + _INSTALLED_JSON):
            return True
        return ctx.mode is ScanMode.FILESYSTEM and path.rsplit("/", 1)[-1] == "composer.lock"

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        if file.path.endswith("composer.lock"):
            packages = parse_composer_lock(file.read(), cataloger=self.name)
        else:
            packages = parse_installed_json(file.read(), cataloger=self.name)
        return CatalogResult(packages=packages)


def parse_composer_lock(data: bytes, *, cataloger: str) -> list[Package]:
    """Packages pinned in a ``composer.lock``; ``packages-dev`` ones are dev."""
    document = _load(data)
    if not isinstance(document, dict):
        raise CatalogError("expected a JSON object at the top level")
    packages: list[Package] = []
    for key, dev in (("packages", False), ("packages-dev", True)):
        entries = document.get(key) or []
        if not isinstance(entries, list):
            raise CatalogError(f"'{key}' is not a list")
        packages.extend(
            _package(entry, dev, f"{key}[{i}]", cataloger) for i, entry in enumerate(entries)
        )
    return packages


def parse_installed_json(data: bytes, *, cataloger: str) -> list[Package]:
    """Packages in a ``vendor/composer/installed.json`` (Composer 1 or 2)."""
    document = _load(data)
    dev_names: set[str] = set()
    if isinstance(document, list):  # Composer 1
        entries: Any = document
    elif isinstance(document, dict):
        entries = document.get("packages") or []
        listed = document.get("dev-package-names") or []
        if not isinstance(listed, list):
            raise CatalogError("'dev-package-names' is not a list")
        dev_names = {name for name in listed if isinstance(name, str)}
    else:
        raise CatalogError("expected a JSON list or object at the top level")
    if not isinstance(entries, list):
        raise CatalogError("'packages' is not a list")
    packages = []
    for i, entry in enumerate(entries):
        package = _package(entry, False, f"packages[{i}]", cataloger)
        if entry["name"] in dev_names:  # _package checked that the name is a string
            package = replace(package, dev=True)
        packages.append(package)
    return packages


def _load(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and undecodable bytes; absurd nesting
        # exhausts the parser's recursion before anything else.
        raise CatalogError(f"not valid JSON ({exc})") from exc


def _package(entry: Any, dev: bool, where: str, cataloger: str) -> Package:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: not a JSON object")
    name = entry.get("name")
    version = entry.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
        raise CatalogError(f"{where}: a package without a name or version")
    vendor, slash, project = name.partition("/")
    return Package(
        name=project if slash else name,
        version=version,
        type=PackageType.COMPOSER,
        namespace=vendor if slash else None,
        licenses=_licenses(entry.get("license")),
        dev=dev,
        cataloger=cataloger,
    )


def _licenses(declared: Any) -> tuple[str, ...]:
    items = [declared] if isinstance(declared, str) else declared
    if not isinstance(items, list):
        return ()
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        words = item.replace("(", " ").replace(")", " ").split()
        lowered = [word.lower() for word in words]
        if "or" in lowered and "and" not in lowered:
            names.extend(_split_words(words, "or"))
        elif item.strip():
            names.append(item.strip())
    return tuple(dict.fromkeys(names))


def _split_words(words: list[str], separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    for word in [*words, separator]:
        if word.lower() == separator:
            if current:
                parts.append(" ".join(current))
            current = []
        else:
            current.append(word)
    return parts
