"""The small text formats inside a Java archive: ``pom.properties`` and ``MANIFEST.MF``.

Both are parsed from bytes already bounded by the caller, and both parsers are total:
any input gives a (possibly empty) result, because a jar with a garbled manifest is
still a jar whose other metadata may name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MAVEN_ROOT = "META-INF/maven/"
_POM_PROPERTIES = "/pom.properties"
_POM_XML = "/pom.xml"

_REVERSE_DOMAIN = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")
_MAX_FILE_NAME = 255
"""Longer names are not file names a build tool wrote; they are not split."""
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._+-]*[A-Za-z0-9_+])?")
_VERSION_START = re.compile(r"-(?=\d)")


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Maven coordinates; ``group`` is None when the source does not say."""

    group: str | None
    artifact: str
    version: str


def is_pom_properties(member: str) -> bool:
    """Whether ``member`` is ``META-INF/maven/GROUP/ARTIFACT/pom.properties``."""
    return member.startswith(_MAVEN_ROOT) and member.endswith(_POM_PROPERTIES)


def embedded_pom_path(properties_member: str) -> str:
    """The ``pom.xml`` that Maven writes next to a ``pom.properties``."""
    return properties_member[: -len(_POM_PROPERTIES)] + _POM_XML


def parse_pom_properties(data: bytes) -> Coordinates | None:
    """groupId, artifactId and version from a ``pom.properties``; None if one is missing.

    The file is a Java properties file; Maven writes plain ``key=value`` lines, but the
    format also allows ``key: value`` and ``key value``, and ``#``/``!`` comments.
    """
    values: dict[str, str] = {}
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, value = _split_property(line)
        values.setdefault(key, value)
    group = values.get("groupId", "")
    artifact = values.get("artifactId", "")
    version = values.get("version", "")
    if not (group and artifact and version) or "${" in version:
        # An unresolved property is what a broken build leaves: it names no release.
        return None
    return Coordinates(group=group, artifact=artifact, version=version)


def _split_property(line: str) -> tuple[str, str]:
    # The key ends at the first '=', ':' or blank; one '=' or ':' after it (blanks
    # around it allowed) is the separator. Maven never escapes keys, so escapes are not read.
    for index, char in enumerate(line):
        if char in "=:" or char.isspace():
            rest = line[index:].lstrip()
            if rest[:1] in ("=", ":"):
                rest = rest[1:]
            return line[:index], rest.strip()
    return line, ""


def parse_manifest(data: bytes) -> dict[str, str]:
    """The main section of a ``MANIFEST.MF`` as attribute → value.

    The main section ends at the first empty line; later sections describe single
    entries of the archive and must not be taken for the archive's own identity. Long
    values are folded onto continuation lines that start with one space; lines end in
    CRLF, LF or a lone CR (the JAR specification allows all three).
    """
    text = data.decode("utf-8", errors="replace")
    attributes: dict[str, str] = {}
    current: list[str] = []

    def flush() -> None:
        if current:
            name, sep, value = "".join(current).partition(":")
            if sep and name.strip():
                attributes.setdefault(name.strip(), value.strip())
            current.clear()

    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            break
        if line.startswith(" "):
            current.append(line[1:])
            continue
        flush()
        current.append(line)
    flush()
    return attributes


def file_name_splits(file_name: str) -> list[tuple[str, str]]:
    """Every ``(artifactId, version)`` reading of an archive's file name, best guess first.

    Maven and Gradle name artifacts ``artifactId-version[-classifier].jar``, and both
    parts may contain ``-<digit>``: ``log4j-1.2-api-2.17.1.jar`` is ``log4j-1.2-api`` at
    ``2.17.1`` but ``zstd-jni-1.5.7-4.jar`` is ``zstd-jni`` at ``1.5.7-4``. The split at the
    last ``-<digit>`` comes first (right far more often); the manifest settles the rest.
    """
    stem, dot, _suffix = file_name.rpartition(".")
    if not dot or len(stem) > _MAX_FILE_NAME:
        return []
    splits = []
    for match in _VERSION_START.finditer(stem):
        name, version = stem[: match.start()], stem[match.end() :]
        if _ARTIFACT_ID.fullmatch(name) and not any(ch.isspace() for ch in version):
            splits.append((name, version))
    return splits[::-1]


def _usable(value: str | None) -> str | None:
    # ``%bundleName`` is a key into a localisation file, not a value; titles with
    # spaces ("Apache Commons IO") are prose, not artifact ids.
    if not value or value.startswith("%") or any(ch.isspace() for ch in value):
        return None
    return value


def manifest_title(attributes: dict[str, str]) -> str | None:
    """The artifact id a manifest gives, if one of its titles is a single word."""
    return (
        _usable(attributes.get("Implementation-Title"))
        or _usable(attributes.get("Bundle-Name"))
        or _usable(attributes.get("Specification-Title"))
    )


def manifest_coordinates(attributes: dict[str, str], file_name: str) -> Coordinates | None:
    """The archive's own coordinates from its file name and manifest.

    A file name of the ``artifactId-version.jar`` shape is what Maven, Gradle and the
    war/ear/Spring Boot packagers write, and it is the better source of artifact id and
    version: manifest titles are often prose or Java package names
    (``org.objectweb.asm.commons`` for ``asm-commons``), and OSGi versions carry build
    qualifiers (``3.22.0.v20241030-2121`` for ``3.22.0``). The manifest picks between
    readings of an ambiguous name (:func:`file_name_splits`) and strips a classifier
    (``sisu-guice-3.1.0-no_aop.jar`` at Bundle-Version ``3.1.0`` is ``3.1.0``).

    When the name has no version, the artifact id comes from Implementation-Title,
    Bundle-Name or Specification-Title (the first that is one word), else the last part
    of Bundle-SymbolicName; the version from Implementation-Version, Bundle-Version or
    Specification-Version.

    The group is only ever a hint (Maven Central, which could confirm it, is not asked):
    Implementation-Vendor-Id, else Bundle-SymbolicName (whole when it has two parts,
    else without the artifact id or its last part), else a vendor written as a reverse
    domain name.
    """
    symbolic = _usable(attributes.get("Bundle-SymbolicName", "").split(";")[0].strip())
    title = manifest_title(attributes)
    versions = [
        version
        for key in ("Implementation-Version", "Bundle-Version", "Specification-Version")
        if (version := _usable(attributes.get(key)))
    ]
    splits = file_name_splits(file_name)
    if splits:
        artifact, version = next(
            (split for split in splits if split[0] == title),
            next((split for split in splits if split[1] in versions), splits[0]),
        )
        version = next((v for v in versions if version.startswith(v + "-")), version)
    else:
        artifact = title or (symbolic.rsplit(".", 1)[-1] if symbolic else "")
        version = versions[0] if versions else ""
    if not artifact or not version:
        return None
    group = _manifest_group(attributes, symbolic, artifact)
    return Coordinates(group=group, artifact=artifact, version=version)


def _manifest_group(attributes: dict[str, str], symbolic: str | None, artifact: str) -> str | None:
    group = _usable(attributes.get("Implementation-Vendor-Id"))
    if group:
        return group
    if symbolic and _REVERSE_DOMAIN.fullmatch(symbolic):
        parts = symbolic.split(".")
        if len(parts) == 2:  # "org.objenesis": cutting a part would leave a bare TLD
            return symbolic
        if symbolic.endswith("." + artifact):
            return symbolic[: -len(artifact) - 1]
        return symbolic.rsplit(".", 1)[0]
    for vendor_key in ("Implementation-Vendor", "Specification-Vendor"):
        vendor = _usable(attributes.get(vendor_key))
        if vendor and _REVERSE_DOMAIN.fullmatch(vendor):
            return vendor
    return None


def manifest_licenses(attributes: dict[str, str]) -> tuple[str, ...]:
    """License names a manifest declares (OSGi Bundle-License, Jenkins Plugin-License-Name).

    URLs are left out: they point at a text rather than name a license.
    """
    names: list[str] = []
    for key, value in attributes.items():
        plugin_license = key == "Plugin-License-Name" or key.startswith("Plugin-License-Name-")
        if plugin_license and value:
            names.append(value)
    if not names:
        for entry in _split_unquoted(attributes.get("Bundle-License", ""), ","):
            name = entry.split(";")[0].strip().strip('"').strip()
            if name and "://" not in name and name != "<<EXTERNAL>>":
                names.append(name)
    return tuple(dict.fromkeys(names))


def _split_unquoted(text: str, separator: str) -> list[str]:
    # Header values quote descriptions that contain commas ("Apache License, Version 2.0").
    parts: list[str] = []
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts
