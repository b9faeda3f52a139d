"""``Cargo.toml``: what a crate's manifest says about which dependencies are for development.

Only the parts the inventory needs are read: the crate's ``[package]`` name and version
(to find it in ``Cargo.lock``) and the names in its dependency tables. Dependencies are
declared under ``[dependencies]``, ``[build-dependencies]`` and ``[dev-dependencies]``
(also spelt with underscores, as older manifests do), each also per target
(``[target.'cfg(unix)'.dev-dependencies]``). A key may name the crate differently from
the lock (``alias = { package = "real", … }``); the lock writes the real name.

A crate named both as a development dependency and as a normal or build one is needed
to build the crate, so it is not development-only. A dependency inherited from the
workspace (``foo.workspace = true``) is taken by its key: a rename made in the
workspace's ``[workspace.dependencies]`` is not followed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stockade.core.errors import CatalogError

_NEEDED_TABLES = ("dependencies", "build-dependencies", "build_dependencies")
_DEV_TABLES = ("dev-dependencies", "dev_dependencies")


@dataclass(frozen=True, slots=True)
class CargoManifest:
    name: str | None
    """None for a virtual manifest (a workspace root without a crate of its own)."""
    version: str | None
    """None when not written as a string (inherited from the workspace, or absent)."""
    dev_only: frozenset[str]
    """Crates, by the name the lock uses, declared only as development dependencies."""


def parse_cargo_toml(text: str) -> CargoManifest:
    """The parts of a ``Cargo.toml`` that say which dependencies are for development."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"Cargo.toml is not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise CatalogError("Cargo.toml nests too deeply to be real") from exc
    package = document.get("package")
    name = version = None
    if isinstance(package, dict):
        name = _string(package.get("name"))
        version = _string(package.get("version"))
    scopes = [document]
    targets = document.get("target")
    if isinstance(targets, dict):
        scopes.extend(t for t in targets.values() if isinstance(t, dict))
    needed = {dep for scope in scopes for dep in _declared(scope, _NEEDED_TABLES)}
    dev = {dep for scope in scopes for dep in _declared(scope, _DEV_TABLES)}
    return CargoManifest(name=name, version=version, dev_only=frozenset(dev - needed))


def _declared(scope: dict[str, Any], tables: tuple[str, ...]) -> Iterator[str]:
    for table_name in tables:
        table = scope.get(table_name)
        if not isinstance(table, dict):
            continue
        for key, spec in table.items():
            renamed = spec.get("package") if isinstance(spec, dict) else None
            yield renamed if isinstance(renamed, str) and renamed else key


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
