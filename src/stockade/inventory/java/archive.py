"""Java archives (jar, war, ear, Jenkins plugins, …) read from memory, nested ones included.

An archive names the packages inside it in three ways:

1. ``META-INF/maven/GROUP/ARTIFACT/pom.properties``, one per Maven artifact built into
   it (a shaded jar carries one for each artifact it swallowed): exact coordinates;
2. the file name, ``artifactId-version.jar``, as build tools write it;
3. ``META-INF/MANIFEST.MF`` (Implementation-*, Bundle-*, Specification-* attributes).

Every ``pom.properties`` gives a package. The archive's own identity comes from the
file name and manifest (see :func:`~stockade.inventory.java.metadata.manifest_coordinates`
for which wins where) only when none of its ``pom.properties`` describes the archive
itself — recognised by an artifactId equal to one the file name or the manifest title
gives, or, when neither gives one, by there being any ``pom.properties`` at all.

Archives inside the archive (``WEB-INF/lib/*.jar``, ``BOOT-INF/lib/*.jar``, modules and
``lib/*.jar`` of an ear) are read the same way, recursively, in memory: nothing is ever
extracted to disk. Depth, size and compression ratio of nested archives are bounded
(:class:`ArchiveLimits`); one that breaks a bound or is corrupt is skipped with a warning,
the rest of the archive is still catalogued. Only the outermost archive being unreadable
is an error.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field

from stockade.core.errors import CatalogError
from stockade.core.models import Location, Package, PackageType
from stockade.inventory.java.metadata import (
    Coordinates,
    embedded_pom_path,
    file_name_splits,
    is_pom_properties,
    manifest_coordinates,
    manifest_licenses,
    manifest_title,
    parse_manifest,
    parse_pom_properties,
)
from stockade.inventory.java.pom import pom_licenses

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar")
"""File name endings of Java archives (compared in lower case)."""

NESTED_SEPARATOR = "!/"
"""Joins an archive's path and a member's name, as ``java.net.JarURLConnection`` does."""

_MANIFEST = "META-INF/MANIFEST.MF"
_MAX_METADATA_BYTES = 1024 * 1024
"""MANIFEST.MF, pom.properties and embedded pom.xml are a few KiB; more is not read."""

# Raised by zipfile and zlib on damaged or unsupported members and central directories.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,  # an encrypted member
    UnicodeDecodeError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds on what one scanned archive may make us read (zip-bomb guards)."""

    max_depth: int = 4
    """Levels of archives inside archives that are opened."""
    max_nested_bytes: int = 256 * 1024**2
    """Largest single nested archive read into memory (uncompressed)."""
    max_total_nested_bytes: int = 1024**3
    """All nested archives of one scanned file together (uncompressed)."""
    max_ratio: int = 2_000
    """Largest uncompressed/compressed ratio accepted for a nested archive."""
    max_entries: int = 500_000
    """Most central-directory entries of one archive (each costs memory to list)."""


@dataclass(frozen=True, slots=True)
class ArchiveScan:
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


@dataclass(slots=True)
class _Budget:
    """What is left to read across one scan; shared by every nesting level."""

    limits: ArchiveLimits
    nested_bytes_left: int
    warnings: list[str] = field(default_factory=list)


def is_java_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def scan_archive(
    data: bytes,
    path: str,
    *,
    cataloger: str,
    limits: ArchiveLimits | None = None,
) -> ArchiveScan:
    """Packages in the Java archive ``data`` found at ``path``.

    Packages of the archive itself carry no location (the caller knows where the file
    is); packages of nested archives are located at ``path!/member[!/member…]``.
    Raises :class:`CatalogError` if ``data`` is not a readable zip archive.
    """
    limits = limits or ArchiveLimits()
    budget = _Budget(limits=limits, nested_bytes_left=limits.max_total_nested_bytes)
    try:
        archive = _open_zip(data, path, limits)
    except _ZipProblem as exc:
        raise CatalogError(
            f"not a readable Java archive ({exc})",
            hint="the file is truncated or corrupt, or is not a zip despite its name",
        ) from exc
    with archive:
        packages = _scan(archive, path, 0, budget, cataloger)
    return ArchiveScan(packages=tuple(packages), warnings=tuple(budget.warnings))


class _ZipProblem(Exception):
    """An archive (or one of its members) that cannot be read; carries the reason."""


def _open_zip(data: bytes, path: str, limits: ArchiveLimits) -> zipfile.ZipFile:
    entries = _declared_entries(data)
    if entries is not None and entries > limits.max_entries:
        raise _ZipProblem(f"{entries} entries, over the limit of {limits.max_entries}")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise _ZipProblem(str(exc) or type(exc).__name__) from exc


def _declared_entries(data: bytes) -> int | None:
    """The entry count the end-of-central-directory record declares, before listing.

    zipfile builds an object per entry; a hostile central directory declaring millions
    of entries would exhaust memory before any other bound applies.
    """
    # The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    start = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if start < 0 or start + 22 > len(data):
        return None
    count = int.from_bytes(data[start + 10 : start + 12], "little")
    if count != 0xFFFF:
        return count
    # ZIP64: the real count is in the ZIP64 record, 56 bytes long, which is followed by
    # its 20-byte locator right before the classic record.
    record = start - 20 - 56
    if record >= 0 and data[record : record + 4] == b"PK\x06\x06":
        return int.from_bytes(data[record + 32 : record + 40], "little")
    return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
    """At most ``limit`` bytes of a member; None when it holds more (or lies about it)."""
    if info.file_size > limit:
        return None
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except _ZIP_ERRORS as exc:
        raise _ZipProblem(str(exc) or type(exc).__name__) from exc
    return None if len(data) > limit else data


def _scan(
    archive: zipfile.ZipFile,
    path: str,
    depth: int,
    budget: _Budget,
    cataloger: str,
) -> list[Package]:
    """Packages of one opened archive, ``depth`` levels below the scanned file."""
    # The scanned file's own packages are located by the engine (it knows the layer).
    location = path if depth else None
    file_name = posixpath.basename(path.rsplit(NESTED_SEPARATOR, 1)[-1])
    infos = {info.filename: info for info in archive.infolist()}
    own: list[Package] = []
    nested: list[Package] = []
    manifest: dict[str, str] = {}
    seen_properties: list[Coordinates] = []

    for name, info in infos.items():
        if not name or name.endswith("/"):  # directories (ZipInfo.is_dir fails on "")
            continue
        if is_pom_properties(name) or name == _MANIFEST:
            data = _read_metadata(archive, info, path, budget)
            if data is None:
                continue
            if name == _MANIFEST:
                manifest = parse_manifest(data)
                continue
            coordinates = parse_pom_properties(data)
            if coordinates is None:
                continue
            seen_properties.append(coordinates)
            licenses = _embedded_licenses(archive, infos.get(embedded_pom_path(name)), budget)
            own.append(_package(coordinates, licenses, location, cataloger))
        elif is_java_archive(name):
            nested.extend(
                _scan_nested(
                    archive, info, path=path, depth=depth, budget=budget, cataloger=cataloger
                )
            )

    if not _describes_itself(seen_properties, file_name, manifest):
        coordinates = manifest_coordinates(manifest, file_name)
        if coordinates is not None:
            own.append(_package(coordinates, manifest_licenses(manifest), location, cataloger))
    return own + nested


def _describes_itself(
    properties: list[Coordinates], file_name: str, manifest: dict[str, str]
) -> bool:
    """Whether one of the archive's pom.properties is about the archive itself."""
    if not properties:
        return False
    hints = {name for name, _version in file_name_splits(file_name)}
    title = manifest_title(manifest)
    if title:
        hints.add(title)
    if not hints:
        return True
    return any(props.artifact in hints for props in properties)


def _read_metadata(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, budget: _Budget
) -> bytes | None:
    try:
        data = _read_member(archive, info, _MAX_METADATA_BYTES)
    except _ZipProblem as exc:
        budget.warnings.append(f"{path}{NESTED_SEPARATOR}{info.filename}: unreadable ({exc})")
        return None
    if data is None:
        budget.warnings.append(
            f"{path}{NESTED_SEPARATOR}{info.filename}: larger than "
            f"{_MAX_METADATA_BYTES} bytes; not read"
        )
    return data


def _embedded_licenses(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo | None, budget: _Budget
) -> tuple[str, ...]:
    if info is None:
        return ()
    try:
        data = _read_member(archive, info, _MAX_METADATA_BYTES)
    except _ZipProblem:
        return ()  # licenses are a bonus; the package stands without them
    return pom_licenses(data) if data is not None else ()


def _package(
    coordinates: Coordinates,
    licenses: tuple[str, ...],
    location: str | None,
    cataloger: str,
) -> Package:
    return Package(
        name=coordinates.artifact,
        version=coordinates.version,
        type=PackageType.MAVEN,
        namespace=coordinates.group,
        licenses=licenses,
        locations=(Location(location),) if location else (),
        cataloger=cataloger,
    )


def _scan_nested(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    path: str,
    depth: int,
    budget: _Budget,
    cataloger: str,
) -> list[Package]:
    member = info.filename.lstrip("/")
    inner_path = f"{path}{NESTED_SEPARATOR}{member}"
    limits = budget.limits

    def skip(reason: str) -> list[Package]:
        budget.warnings.append(f"{inner_path}: {reason}; nested archive skipped")
        return []

    if depth + 1 > limits.max_depth:
        return skip(f"nested more than {limits.max_depth} levels deep")
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
        return skip(
            f"compression ratio {info.file_size // info.compress_size} is over "
            f"{limits.max_ratio} (a zip bomb?)"
        )
    limit = min(limits.max_nested_bytes, budget.nested_bytes_left)
    try:
        data = _read_member(archive, info, limit)
    except _ZipProblem as exc:
        return skip(f"unreadable ({exc})")
    if data is None:
        if limit < limits.max_nested_bytes:
            return skip(
                f"the nested archives of this file exceed {limits.max_total_nested_bytes} bytes"
            )
        return skip(f"larger than {limits.max_nested_bytes} bytes")
    budget.nested_bytes_left -= len(data)
    try:
        inner = _open_zip(data, inner_path, limits)
    except _ZipProblem as exc:
        return skip(f"not a readable archive ({exc})")
    with inner:
        try:
            return _scan(inner, inner_path, depth + 1, budget, cataloger)
        except _ZipProblem as exc:
            return skip(f"unreadable ({exc})")
