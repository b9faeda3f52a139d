"""Domain records shared by every capability.

Records are frozen, slotted dataclasses; change them with :func:`dataclasses.replace`.
A package's identity is its Package URL (purl).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

Digest = NewType("Digest", str)
"""A content digest such as ``sha256:…``."""


class PackageType(enum.StrEnum):
    """The ecosystem a package belongs to; the values are purl types."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"
    GEM = "gem"
    COMPOSER = "composer"
    CARGO = "cargo"
    NUGET = "nuget"
    HEX = "hex"

    @property
    def is_os(self) -> bool:
        return self in (PackageType.DEB, PackageType.APK, PackageType.RPM)


def pep503_name(name: str) -> str:
    """A Python distribution name normalised as PEP 503 says: ``Foo.Bar_baz`` is ``foo-bar-baz``."""
    return _PEP503_SEPARATORS.sub("-", name).lower()


_PEP503_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a package was found: the file, and the layer that introduced it."""

    path: str
    layer: Digest | None = None


@dataclass(frozen=True, slots=True)
class Package:
    """One installed or declared package.

    ``version`` is the ecosystem's own version string (for dpkg it includes the epoch,
    ``1:2.3-4``; for rpm it is ``version-release`` with the epoch kept in ``epoch``).
    ``purl`` is filled in by the inventory engine once the OS is known, because OS
    packages carry a ``distro`` qualifier.
    """

    name: str
    version: str
    type: PackageType
    purl: str = ""
    namespace: str | None = None
    arch: str | None = None
    epoch: int | None = None
    source_name: str | None = None
    source_version: str | None = None
    licenses: tuple[str, ...] = ()
    locations: tuple[Location, ...] = ()
    dev: bool = False
    cataloger: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Identity used to de-duplicate: the same package found twice is one package.

        Python distribution names compare as PEP 503 says (``PyYAML`` is ``pyyaml``,
        ``zope.interface`` is ``zope-interface``). OS packages of two architectures
        (multi-arch ``libc6:amd64`` and ``libc6:i386``) are two packages.
        """
        name = pep503_name(self.name) if self.type is PackageType.PYPI else self.name
        arch = (self.arch or "") if self.type.is_os else ""
        return (self.type.value, self.namespace or "", name, self.version, arch)


@dataclass(frozen=True, slots=True)
class OSInfo:
    """The operating system of an image or host, read from ``os-release`` and friends."""

    family: str
    """The ``ID`` field: debian, ubuntu, alpine, rhel, centos, rocky, amzn, …"""
    version: str
    """The ``VERSION_ID`` field (for Debian testing/sid, the codename)."""
    name: str = ""
    pretty_name: str = ""
    codename: str = ""

    @property
    def distro_qualifier(self) -> str:
        """The purl ``distro`` qualifier, e.g. ``debian-12``."""
        return f"{self.family}-{self.version}" if self.version else self.family


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One filesystem layer of an image, in application order."""

    diff_id: Digest | None
    """Digest of the uncompressed layer tar: what locations refer to."""
    digest: Digest | None = None
    """Digest of the blob as stored (compressed)."""
    size: int | None = None
    media_type: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What was scanned."""

    name: str
    kind: str
    """One of ``docker-archive``, ``oci``, ``rootfs``, ``zip``, ``registry``."""
    digest: Digest | None = None
    """The image id (config digest) for images; None for directories."""
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    layers: tuple[LayerInfo, ...] = ()
    architecture: str | None = None
    os: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The image configuration document as the image carries it (empty for non-images)."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every package found in one artifact."""

    artifact: ArtifactInfo
    os: OSInfo | None
    packages: tuple[Package, ...]
