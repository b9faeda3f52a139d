"""pnpm's ``pnpm-lock.yaml``: lock formats 5.x, 6.x and 9.x.

* 5.x keys packages by path, ``/name/1.2.3`` (``/name/1.2.3_peer+dep@2.0.0`` for a peer
  variant), 6.x by ``/name@1.2.3(peer@2.0.0)``; a key without the leading ``/`` starts
  with a registry host. Each package carries ``dev: true`` (development only),
  ``dev: false`` (production), or no flag when both kinds of dependencies need it.
* 9.x splits ``packages`` (metadata keyed ``name@1.2.3``) from ``snapshots`` (each
  installed variant, ``name@1.2.3(peer@2.0.0)``, with its dependencies) and drops the
  dev flag: a package is development-only when it is reached from some importer's
  ``devDependencies`` and from no ``dependencies``/``optionalDependencies``.

Packages from tarballs, folders or git carry their real name and version in ``name`` /
``version`` fields; a local folder without a ``version`` is listed with an empty one.
pnpm 11 may put a first YAML document describing pnpm's own installation before the
project's lockfile; the project's lockfile is the last document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory.node._formats import load_yaml_documents, npm_packages

Found = tuple[str, str, bool, tuple[str, ...]]

# `string-width@4.2.3` (an alias's target) as opposed to `4.2.3(peer@1.0.0)` or a URL.
_NAMED_REF = re.compile(r"^@?[^@/:(]+(?:/[^@/:(]+)?@")
_PROD_SECTIONS = ("dependencies", "optionalDependencies")
_DEV_SECTIONS = ("devDependencies",)


def parse_pnpm_lock(text: str, *, where: str) -> list[Package]:
    return pnpm_lock_packages(
        load_yaml_documents(text, where=where, what="pnpm-lock.yaml"), where=where
    )


def pnpm_lock_packages(stream: list[Any], *, where: str) -> list[Package]:
    """Packages of a parsed pnpm lockfile stream (one or more YAML documents)."""
    documents = [doc for doc in stream if doc not in (None, "")]
    if not documents:
        return []
    lock = documents[-1]
    if not isinstance(lock, dict):
        raise CatalogError(f"{where}: a pnpm lockfile is a YAML mapping")
    major = _major_version(lock.get("lockfileVersion"), where=where)
    if major >= 9 or "snapshots" in lock:
        return npm_packages(_v9_packages(lock, where=where))
    return npm_packages(_legacy_packages(lock, major, where=where))


def _major_version(value: Any, *, where: str) -> int:
    if not isinstance(value, str) or not value.strip():
        return 0
    try:
        return int(float(value.strip().strip("'\"")))
    except (ValueError, OverflowError) as exc:
        raise CatalogError(f"{where}: lockfileVersion {value[:20]!r} is not a number") from exc


def _mapping(value: Any, *, where: str) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{where} must be a mapping")
    return value


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_legacy_key(key: str, major: int) -> tuple[str, str]:
    """(name, version) from a 5.x or 6.x package key."""
    relative = key.startswith("/")
    path = key.removeprefix("/")
    if not relative and not path.startswith("@") and "/" in path:
        path = path.split("/", 1)[1]  # registry.npmjs.org/lodash/4.17.10
    path = path.split("(", 1)[0]
    # An unknown version is told by the key's shape: 6.x puts the version after an "@".
    at_style = major >= 6 or (major == 0 and path.rfind("@") > max(path.rfind("/"), 0))
    if at_style:
        at = path.rfind("@")
        return (path[:at], path[at + 1 :]) if at > 0 else ("", "")
    name, _, version = path.rpartition("/")
    return name, version.split("_", 1)[0]


def _legacy_packages(lock: dict[str, Any], major: int, *, where: str) -> Iterator[Found]:
    packages = _mapping(lock.get("packages"), where=f"{where}: 'packages'")
    for key, raw in packages.items():
        entry = _mapping(raw, where=f"{where}: packages[{key!r}]")
        name, version = parse_legacy_key(str(key), major)
        name = _text(entry, "name") or name
        version = _text(entry, "version") or version
        if name and version:
            yield name, version, _text(entry, "dev") == "true", ()


def snapshot_key(name: str, ref: str) -> str | None:
    """The ``snapshots`` key a dependency ``name: ref`` points at; None for links."""
    ref = ref.strip()
    if not ref or ref.startswith("link:"):
        return None
    return ref if _NAMED_REF.match(ref) else f"{name}@{ref}"


def split_v9_key(key: str) -> tuple[str, str]:
    """``@s/n@1.0.0(peer@2)`` → (``@s/n``, ``1.0.0``); the version part may be a URL."""
    base = key.split("(", 1)[0]
    at = base.find("@", 1)
    return (base[:at], base[at + 1 :]) if at > 0 else (base, "")


def _v9_packages(lock: dict[str, Any], *, where: str) -> Iterator[Found]:
    packages = _mapping(lock.get("packages"), where=f"{where}: 'packages'")
    snapshots = _mapping(lock.get("snapshots"), where=f"{where}: 'snapshots'")
    importers = _mapping(lock.get("importers"), where=f"{where}: 'importers'")
    edges = {
        key: _dependency_keys(_mapping(raw, where=f"{where}: snapshots[{key!r}]"), _PROD_SECTIONS)
        for key, raw in snapshots.items()
    }
    production: list[str] = []
    development: list[str] = []
    for path, raw in importers.items():
        importer = _mapping(raw, where=f"{where}: importers[{path!r}]")
        production.extend(_dependency_keys(importer, _PROD_SECTIONS))
        development.extend(_dependency_keys(importer, _DEV_SECTIONS))
    in_production = _reachable(production, edges)
    in_development = _reachable(development, edges)

    for key in snapshots or packages:
        name, ref = split_v9_key(key)
        meta = _mapping(packages.get(key.split("(", 1)[0]), where=f"{where}: packages[{key!r}]")
        name = _text(meta, "name") or name
        version = _text(meta, "version") or ("" if ":" in ref or "/" in ref else ref)
        if not name:
            continue
        dev = key in in_development and key not in in_production
        yield name, version, dev, ()


def _dependency_keys(entry: dict[str, Any], sections: tuple[str, ...]) -> list[str]:
    keys: list[str] = []
    for section in sections:
        dependencies = entry.get(section)
        if not isinstance(dependencies, dict):
            continue
        for name, spec in dependencies.items():
            ref = spec.get("version") if isinstance(spec, dict) else spec
            if isinstance(ref, str) and isinstance(name, str):
                key = snapshot_key(name, ref)
                if key is not None:
                    keys.append(key)
    return keys


def _reachable(roots: list[str], edges: dict[str, list[str]]) -> set[str]:
    reached: set[str] = set()
    stack = list(roots)
    while stack:
        key = stack.pop()
        if key in reached:
            continue
        reached.add(key)
        stack.extend(edges.get(key, ()))
    return reached
