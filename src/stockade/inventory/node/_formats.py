"""Shared helpers of the Node parsers: decoding documents, licences, merging duplicates.

Every helper raises :class:`CatalogError` for input it cannot read, so a parser built on
them lets nothing else escape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

# The base loader keeps every scalar a string: `version: 1.10` must stay "1.10", not
# the float 1.1, and `dev: false` is compared as text.
_YAML_LOADER: type[yaml.BaseLoader] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def load_json_object(data: bytes, *, where: str, what: str) -> dict[str, Any]:
    """A JSON document that must be an object at the top."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError of the raw bytes.
        raise CatalogError(
            f"{where}: not a valid {what}: {first_line(exc)}",
            hint=f"the {what} is corrupt or truncated; regenerate it",
        ) from exc
    if not isinstance(document, dict):
        raise CatalogError(f"{where}: a {what} is a JSON object, found {type(document).__name__}")
    return document


def load_yaml_documents(text: str, *, where: str, what: str) -> list[Any]:
    """Every document of a YAML stream, scalars as strings."""
    # BaseLoader builds only str/list/dict: no object construction, no tags.
    try:
        return list(yaml.load_all(text, Loader=_YAML_LOADER))
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise CatalogError(
            f"{where}: not a valid {what}: {first_line(exc)}",
            hint=f"the {what} is corrupt or truncated; regenerate it",
        ) from exc


def licenses_from(value: Any) -> tuple[str, ...]:
    """Licences as npm manifests declare them, in each of the spellings seen in the wild.

    ``"MIT"`` (an SPDX expression), ``{"type": "MIT", "url": …}`` (deprecated), and
    arrays of either (``"licenses": [...]``, deprecated but common in old packages).
    Anything else (numbers, nulls, objects without a type) declares nothing.
    """
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        text = item.get("type") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip() and text.strip() not in found:
            found.append(text.strip())
    return tuple(found)


def manifest_licenses(manifest: dict[str, Any]) -> tuple[str, ...]:
    """Licences of a package.json or lock entry: ``license``, else legacy ``licenses``."""
    return licenses_from(manifest.get("license")) or licenses_from(manifest.get("licenses"))


@dataclass(slots=True)
class _Merged:
    dev: bool
    licenses: list[str]


def npm_packages(found: Iterable[tuple[str, str, bool, tuple[str, ...]]]) -> list[Package]:
    """Packages from (name, version, dev, licences), one per name and version.

    A release installed in several places (nested ``node_modules``, pnpm peer variants)
    is one package; it is development-only if every place it is installed is.
    """
    merged: dict[tuple[str, str], _Merged] = {}
    for name, version, dev, licenses in found:
        entry = merged.get((name, version))
        if entry is None:
            merged[(name, version)] = _Merged(dev=dev, licenses=list(licenses))
            continue
        entry.dev = entry.dev and dev
        entry.licenses.extend(lic for lic in licenses if lic not in entry.licenses)
    return [
        Package(
            name=name,
            version=version,
            type=PackageType.NPM,
            dev=entry.dev,
            licenses=tuple(entry.licenses),
        )
        for (name, version), entry in merged.items()
    ]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
