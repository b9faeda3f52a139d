"""Maven ``pom.xml``: the licenses of an embedded pom, the declared dependencies of a project.

Resolving a pom fully needs its parents, imported BOMs and every transitive pom from a
repository; Stockade never goes to the network while cataloguing. So a project's
``pom.xml`` yields only the dependencies it declares itself with a version that the
file itself settles: a literal, or a ``${property}`` defined in the same file (its
``<properties>``, ``project.version``, ``project.parent.version``, …). Dependencies
whose version comes from a parent or a BOM, and version ranges, are left out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

_PROPERTY = re.compile(r"\$\{([^}]*)\}")
_MAX_SUBSTITUTIONS = 10
"""Rounds of ``${…}`` expansion: properties may refer to properties, not endlessly."""
_MAX_VALUE = 1024
"""Longer expansions are not coordinates but properties doubling themselves (a bomb)."""


def _parse_xml(data: bytes) -> ET.Element:
    # A DTD is how XML bombs and external entities get in, and a pom never needs one;
    # refusing it up front makes the stdlib parser safe for untrusted input. The text is
    # decoded here and handed over as str, so the parser reads exactly what was checked
    # (it then ignores the encoding the XML declaration names).
    if b"\x00" in data:  # UTF-16/32: not what Maven writes
        raise CatalogError("not UTF-8 or a single-byte encoding; not parsed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the other encoding poms are found in
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CatalogError("declares a DTD, which a pom never does; not parsed")
    try:
        return ET.fromstring(text)  # noqa: S314 - no DTD reaches the parser (checked above)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise CatalogError(f"not well-formed XML ({exc})") from exc


def _local(tag: object) -> str:
    # Tags come as "{http://maven.apache.org/POM/4.0.0}artifactId"; comments have a
    # callable tag and never match.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ET.Element | None, name: str) -> Iterator[ET.Element]:
    if element is None:
        return
    for child in element:
        if _local(child.tag) == name:
            yield child


def _text(element: ET.Element | None, name: str) -> str:
    child = None if element is None else _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def pom_licenses(data: bytes) -> tuple[str, ...]:
    """License names an embedded ``pom.xml`` declares; nothing if it cannot be read."""
    try:
        root = _parse_xml(data)
    except CatalogError:
        return ()
    names = [_text(lic, "name") for lic in _children(_child(root, "licenses"), "license")]
    return tuple(dict.fromkeys(name for name in names if name))


def parse_pom(data: bytes, *, cataloger: str) -> list[Package]:
    """Dependencies a project's ``pom.xml`` declares with versions it settles itself."""
    root = _parse_xml(data)
    if _local(root.tag) != "project":
        raise CatalogError(
            f"the root element is <{_local(root.tag)}>, not <project>",
            hint="only Maven project files named pom.xml are read",
        )
    properties = _properties(root)
    packages: list[Package] = []
    for dependency in _children(_child(root, "dependencies"), "dependency"):
        group = _resolve(_text(dependency, "groupId"), properties)
        artifact = _resolve(_text(dependency, "artifactId"), properties)
        version = _resolve(_text(dependency, "version"), properties)
        if not (group and artifact and version) or version[0] in "[(":
            continue  # managed elsewhere, unresolvable offline, or a range: not a release
        packages.append(
            Package(
                name=artifact,
                version=version,
                type=PackageType.MAVEN,
                namespace=group,
                dev=_text(dependency, "scope") == "test",
                cataloger=cataloger,
            )
        )
    return packages


def _properties(root: ET.Element) -> dict[str, str]:
    values: dict[str, str] = {}
    declared = _child(root, "properties")
    for prop in () if declared is None else declared:
        key = _local(prop.tag)
        if key:
            values[key] = (prop.text or "").strip()
    parent = _child(root, "parent")
    parent_version = _text(parent, "version")
    parent_group = _text(parent, "groupId")
    project = {
        "groupId": _text(root, "groupId") or parent_group,
        "artifactId": _text(root, "artifactId"),
        "version": _text(root, "version") or parent_version,
    }
    for key, value in project.items():
        if value:
            values[f"project.{key}"] = value
            values[f"pom.{key}"] = value  # Maven 2 spelling, still accepted
    if parent_version:
        values["project.parent.version"] = parent_version
    if parent_group:
        values["project.parent.groupId"] = parent_group
    return values


def _resolve(value: str, properties: dict[str, str]) -> str | None:
    """``value`` with its ``${…}`` expanded, or None if one is not defined here."""
    for _ in range(_MAX_SUBSTITUTIONS):
        if "${" not in value:
            return value
        unknown = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal unknown
            if match.group(1) in properties:
                return properties[match.group(1)]
            unknown = True
            return match.group(0)

        value = _PROPERTY.sub(substitute, value)
        if unknown or len(value) > _MAX_VALUE:
            return None
    return None if "${" in value else value
