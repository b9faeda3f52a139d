"""Installed npm packages: the ``package.json`` at the top of each ``node_modules`` entry.

Every package npm, yarn or pnpm installs lands in a ``node_modules/<name>`` or
``node_modules/@scope/<name>`` directory with its manifest at the top (pnpm's store
under ``node_modules/.pnpm/…/node_modules/<name>`` has the same shape). Only that
manifest identifies the package: other ``package.json`` files deeper inside a package
(``lib/package.json``, test fixtures) describe nothing installed.

A manifest without a name or a version is not an installed release (private or
workspace packages are linked in without one) and gives no package.

A ``package.json`` outside any ``node_modules`` is the project's own: it gives no
package, but says which dependencies are for development (:class:`ProjectManifest`),
which a ``yarn.lock`` beside it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.node._formats import load_json_object, manifest_licenses

NODE_MODULES = "node_modules"


def is_installed_manifest(path: str) -> bool:
    """Whether ``path`` is ``…/node_modules/[@scope/]name/package.json``."""
    if not path.endswith("package.json"):
        return False
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    package_dir, parent = parts[-2], parts[-3]
    if package_dir.startswith("."):
        return False  # .bin, .pnpm, .cache: npm's own directories
    if parent == NODE_MODULES:
        return not package_dir.startswith("@")
    return len(parts) >= 4 and parent.startswith("@") and parts[-4] == NODE_MODULES


def parse_installed_manifest(data: bytes, *, where: str) -> Package | None:
    return manifest_package(load_json_object(data, where=where, what="package.json"), where=where)


def manifest_package(manifest: dict[str, Any], *, where: str) -> Package | None:
    """The package an installed manifest describes; None when it has no name or version."""
    name = manifest.get("name")
    version = manifest.get("version")
    if name is None or version is None:
        return None
    if not isinstance(name, str) or not isinstance(version, str):
        raise CatalogError(f"{where}: 'name' and 'version' of a package.json must be strings")
    if not name.strip() or not version.strip():
        return None
    return Package(
        name=name.strip(),
        version=version.strip(),
        type=PackageType.NPM,
        licenses=manifest_licenses(manifest),
    )


@dataclass(frozen=True, slots=True)
class ProjectManifest:
    """What a project's own ``package.json`` (outside ``node_modules``) asks to install."""

    production: tuple[str, ...]
    """Patterns (``name@range``) of ``dependencies`` and ``optionalDependencies``."""
    development: tuple[str, ...]
    """Patterns of ``devDependencies``."""
    workspaces: bool
    """Whether it declares workspaces, whose own manifests add dependencies of their own."""


_PRODUCTION_SECTIONS = ("dependencies", "optionalDependencies")
_DEVELOPMENT_SECTIONS = ("devDependencies",)


def is_project_manifest(path: str) -> bool:
    """Whether ``path`` is a ``package.json`` of the scanned project, not an installed one."""
    return path.rpartition("/")[2] == "package.json" and NODE_MODULES not in path.split("/")


def parse_project_manifest(data: bytes, *, where: str) -> ProjectManifest:
    manifest = load_json_object(data, where=where, what="package.json")
    return ProjectManifest(
        production=_patterns(manifest, _PRODUCTION_SECTIONS),
        development=_patterns(manifest, _DEVELOPMENT_SECTIONS),
        workspaces=bool(manifest.get("workspaces")),
    )


def _patterns(manifest: dict[str, Any], sections: tuple[str, ...]) -> tuple[str, ...]:
    # A section of the wrong shape asks for nothing; npm itself ignores such entries.
    found: list[str] = []
    for section in sections:
        declared = manifest.get(section)
        if isinstance(declared, dict):
            found.extend(
                f"{name}@{spec}"
                for name, spec in declared.items()
                if isinstance(name, str) and name and isinstance(spec, str)
            )
    return tuple(found)
