"""``*.deps.json``: what a built .NET application loads at run time.

The SDK writes it next to the application's main assembly. ``libraries`` lists every
library by ``Name/Version`` with a ``type`` (``package`` from NuGet, ``project`` from
the solution, ``runtimepack`` for the runtime bundled into a self-contained app);
``targets[runtimeTarget.name]`` says what each one contributes.

Reported, following Trivy: packages, projects and runtime packs (their synthetic
``runtimepack.`` prefix dropped, so ``Microsoft.NETCore.App.Runtime.linux-x64`` matches
advisories); a library that the runtime target lists without any ``runtime``,
``runtimeTargets`` or ``native`` assets is skipped (it is compile-time only); when the
runtime target is missing every library is kept.
"""

from __future__ import annotations

import json
from typing import Any

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

_REPORTED_TYPES = frozenset({"package", "project", "runtimepack"})
_RUNTIME_PACK_PREFIX = "runtimepack."
_ASSET_GROUPS = ("runtime", "runtimeTargets", "native")


def parse_deps_json(text: str, *, cataloger: str) -> list[Package]:
    """Libraries an application loads; CatalogError if ``text`` is not a deps.json."""
    document = _load_object(text, "deps.json")
    libraries = document.get("libraries", {})
    if not isinstance(libraries, dict):
        raise CatalogError("deps.json: 'libraries' is not an object")
    targets = document.get("targets", {})
    runtime_target = document.get("runtimeTarget", {})
    target_name = runtime_target.get("name") if isinstance(runtime_target, dict) else None
    target = targets.get(target_name) if isinstance(targets, dict) and target_name else None
    if target is not None and not isinstance(target, dict):
        raise CatalogError(f"deps.json: target {target_name!r} is not an object")
    packages: dict[tuple[str, str], Package] = {}
    for key, library in libraries.items():
        name, sep, version = key.partition("/")
        if not sep or not name or not isinstance(library, dict):
            continue
        lib_type = library.get("type")
        if not isinstance(lib_type, str) or lib_type.lower() not in _REPORTED_TYPES:
            continue
        if target is not None and not _is_runtime(target.get(key)):
            continue
        if lib_type.lower() == "runtimepack":
            name = name.removeprefix(_RUNTIME_PACK_PREFIX)
        packages.setdefault(
            (name, version),
            Package(name=name, version=version, type=PackageType.NUGET, cataloger=cataloger),
        )
    return list(packages.values())


def _is_runtime(entry: Any) -> bool:
    # A library the target does not list is kept rather than silently dropped.
    if not isinstance(entry, dict):
        return True
    return any(entry.get(group) is not None for group in _ASSET_GROUPS)


def _load_object(text: str, what: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise CatalogError(f"{what} is not a JSON object")
    return document
