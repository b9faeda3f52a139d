"""npm's ``package-lock.json`` and ``npm-shrinkwrap.json``, lock format versions 1 to 3.

Version 1 (npm 5 and 6) nests a ``dependencies`` tree: each key is a package name, each
value has its ``version``, a ``dev`` flag and nested ``dependencies`` installed below it.

Versions 2 and 3 (npm 7 on) have a flat ``packages`` map keyed by install path: ``""``
is the project itself, ``node_modules/a/node_modules/b`` is ``b`` installed inside
``a``. Paths outside any ``node_modules`` are workspace folders; they are installed
through a ``node_modules/<name>`` entry with ``"link": true`` whose ``resolved`` names
the folder, so a workspace appears under its link name with the folder's version. A link
to a folder the lock does not describe is broken and gives nothing. Version 2 also keeps
the version-1 tree for old npm; the flat map is read when present.

``dev: true`` marks packages only development dependencies need. ``peer`` and
``optional`` packages are installed and listed like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory.node._formats import load_json_object, manifest_licenses, npm_packages

NODE_MODULES = "node_modules/"
Found = tuple[str, str, bool, tuple[str, ...]]


def parse_package_lock(data: bytes, *, where: str) -> list[Package]:
    return package_lock_packages(
        load_json_object(data, where=where, what="package-lock.json"), where=where
    )


def package_lock_packages(lock: dict[str, Any], *, where: str) -> list[Package]:
    packages = lock.get("packages")
    if packages is not None:
        if not isinstance(packages, dict):
            raise CatalogError(f"{where}: 'packages' must be an object")
        return npm_packages(_flat_packages(packages, where=where))
    dependencies = lock.get("dependencies", {})
    if not isinstance(dependencies, dict):
        raise CatalogError(f"{where}: 'dependencies' must be an object")
    return npm_packages(_dependency_tree(dependencies, where=where))


def name_from_path(path: str) -> str:
    """``node_modules/a/node_modules/@s/b`` → ``@s/b``."""
    return path[path.rfind(NODE_MODULES) + len(NODE_MODULES) :]


def _flat_packages(packages: dict[str, Any], *, where: str) -> Iterator[Found]:
    for path, entry in packages.items():
        if NODE_MODULES not in path:
            continue  # the project itself, or a workspace folder reached through its link
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: packages[{path!r}] must be an object")
        dev = entry.get("dev") is True
        if entry.get("link") is True:
            target_path = entry.get("resolved")
            target = packages.get(target_path) if isinstance(target_path, str) else None
            if not target_path or not isinstance(target, dict):
                continue
            version = _string(target, "version", where=f"{where}: packages[{target_path!r}]")
            yield name_from_path(path), version, dev, manifest_licenses(target)
            continue
        here = f"{where}: packages[{path!r}]"
        version = _string(entry, "version", where=here)
        if not version:
            continue
        # An aliased install (`"foo": "npm:bar@1"`) records the real name in "name".
        name = _string(entry, "name", where=here) or name_from_path(path)
        if name:
            yield name, version, dev, manifest_licenses(entry)


def _dependency_tree(dependencies: dict[str, Any], *, where: str) -> Iterator[Found]:
    # Walked with an explicit stack: nesting depth is the attacker's choice.
    stack: list[tuple[str, dict[str, Any]]] = [("dependencies", dependencies)]
    while stack:
        trail, level = stack.pop()
        for name, entry in level.items():
            here = f"{where}: {trail}.{name}"
            if not isinstance(entry, dict):
                raise CatalogError(f"{here} must be an object")
            nested = entry.get("dependencies", {})
            if not isinstance(nested, dict):
                raise CatalogError(f"{here}.dependencies must be an object")
            if nested:
                stack.append((f"{trail}.{name}.dependencies", nested))
            resolved = _release(name, _string(entry, "version", where=here))
            if resolved is not None:
                yield resolved[0], resolved[1], entry.get("dev") is True, ()


def _release(name: str, version: str) -> tuple[str, str] | None:
    """(name, version) of a v1 entry; None for local folders, git and tarball URLs.

    Those carry a location instead of a version (``file:../lib``, ``github:u/r#sha``) and
    name no release a registry or an advisory could know.
    """
    if version.startswith("npm:"):
        alias = version[len("npm:") :]
        at = alias.rfind("@")
        if at > 0:
            return alias[:at], alias[at + 1 :]
        return None
    if not version or ":" in version or "/" in version:
        return None
    return name, version


def _string(entry: dict[str, Any], key: str, *, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string")
    return value.strip()
