"""An SBOM as the inventory: read a CycloneDX JSON document back into packages.

``stockade scan sbom.cdx.json`` scans what an SBOM lists, so an SBOM made at build time
(by Stockade, Trivy, Syft or any CycloneDX producer) can be rescanned later without the
image. Packages are taken from components' purls; the OS from an ``operating-system``
component, or else from the ``distro`` qualifier of OS package purls. Source packages
come from the ``upstream`` purl qualifier or the producer's properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from stockade.core.errors import ArtifactError
from stockade.core.models import (
    ArtifactInfo,
    Inventory,
    Location,
    OSInfo,
    Package,
    PackageType,
)

MAX_SBOM_BYTES = 512 * 1024**2

_SOURCE_NAME_PROPERTIES = ("stockade:package:source-name", "aquasecurity:trivy:SrcName")
_SOURCE_VERSION_PROPERTIES = (
    "stockade:package:source-version",
    "aquasecurity:trivy:SrcVersion",
)
_PATH_PROPERTIES = ("stockade:location:path", "aquasecurity:trivy:FilePath")


def looks_like_cyclonedx(path: Path) -> bool:
    """Whether ``path`` is a JSON file that says it is a CycloneDX BOM (reads 4 KiB)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    text = head.lstrip()
    return text.startswith(b"{") and b'"bomFormat"' in head and b"CycloneDX" in head


def read_cyclonedx(path: Path) -> Inventory:
    """The packages a CycloneDX JSON SBOM lists. Raises ArtifactError for a bad document."""
    try:
        size = path.stat().st_size
        if size > MAX_SBOM_BYTES:
            raise ArtifactError(f"{path}: {size} bytes is too large for an SBOM")
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror})") from exc
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise ArtifactError(f"{path}: not a CycloneDX BOM (no bomFormat: CycloneDX)")
    components = list(_components(document))
    os_info = _os_of(components)
    packages: dict[tuple[str, str, str, str, str], Package] = {}
    for component in components:
        pkg = _package(component, os_info)
        if pkg is not None:
            packages.setdefault(pkg.key, pkg)
    metadata = document.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    name = root.get("name") if isinstance(root, dict) else None
    info = ArtifactInfo(name=str(name or path.name), kind="cyclonedx")
    return Inventory(artifact=info, os=os_info, packages=tuple(packages.values()))


def _components(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [document.get("components")]
    seen = 0
    while stack:
        items = stack.pop()
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, dict):
                continue
            seen += 1
            if seen > 2_000_000:
                raise ArtifactError("the SBOM lists more than 2,000,000 components")
            yield item
            stack.append(item.get("components"))


def _os_of(components: list[Mapping[str, Any]]) -> OSInfo | None:
    for component in components:
        if component.get("type") == "operating-system":
            family = str(component.get("name") or "").lower()
            version = str(component.get("version") or "")
            if family:
                return OSInfo(family=family, version=version)
    for component in components:
        purl = _purl(component)
        if purl is not None and purl.type in ("deb", "apk", "rpm"):
            distro = (purl.qualifiers or {}).get("distro")
            if isinstance(distro, str) and distro:
                family, _, version = distro.partition("-")
                return OSInfo(family=family, version=version)
    return None


def _purl(component: Mapping[str, Any]) -> PackageURL | None:
    text = component.get("purl")
    if not isinstance(text, str) or not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _properties(component: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    items = component.get("properties")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                name, value = item.get("name"), item.get("value")
                if isinstance(name, str) and isinstance(value, str):
                    found.setdefault(name, value)
    return found


def _first(properties: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if properties.get(name):
            return properties[name]
    return None


def _package(component: Mapping[str, Any], os_info: OSInfo | None) -> Package | None:
    purl = _purl(component)
    if purl is None or not purl.version:
        return None
    try:
        ptype = PackageType(purl.type)
    except ValueError:
        return None
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    props = _properties(component)
    name = purl.name
    namespace = purl.namespace or None
    if ptype in (PackageType.GOLANG, PackageType.NPM) and namespace:
        # Stockade keeps Go module paths and scoped npm names whole.
        name, namespace = f"{namespace}/{name}", None
    elif ptype.is_os:
        namespace = None
    source_name = _first(props, _SOURCE_NAME_PROPERTIES)
    source_version = _first(props, _SOURCE_VERSION_PROPERTIES)
    upstream = qualifiers.get("upstream")
    if ptype.is_os and upstream and not source_name:
        source_name, _, upstream_version = upstream.partition("@")
        source_version = source_version or upstream_version or None
    epoch_text = qualifiers.get("epoch")
    path = _first(props, _PATH_PROPERTIES)
    return Package(
        name=name,
        version=purl.version,
        type=ptype,
        purl=purl.to_string(),
        namespace=namespace,
        arch=qualifiers.get("arch"),
        epoch=int(epoch_text) if epoch_text and epoch_text.isdigit() else None,
        source_name=source_name if ptype.is_os else None,
        source_version=source_version if ptype.is_os else None,
        locations=(Location(path.lstrip("/")),) if path else (),
        cataloger="cyclonedx",
    )
