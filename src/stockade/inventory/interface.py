"""The plug-in point for catalogers: one module per package database or ecosystem.

A cataloger says which files it wants (:meth:`Cataloger.wants`, called for every entry,
so it must be cheap) and turns one such file into packages (:meth:`Cataloger.parse`).
It never sees the layer or the network; the engine records where each package was found
and fills in purls once the OS is known.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, ClassVar

from stockade.core.models import OSInfo, Package


class ScanMode(enum.Enum):
    IMAGE = "image"
    """Installed packages only (container images)."""
    FILESYSTEM = "filesystem"
    """Installed packages and lockfiles/manifests (directories, repositories, zips)."""


@dataclass(frozen=True, slots=True)
class CatalogContext:
    mode: ScanMode = ScanMode.IMAGE


class FileContent:
    """One wanted file handed to a cataloger: read it whole, or stream it."""

    def __init__(self, path: str, size: int, stream: IO[bytes], max_bytes: int) -> None:
        self.path = path
        self.size = size
        self.stream = stream
        self._max_bytes = max_bytes
        self._data: bytes | None = None

    def read(self) -> bytes:
        """The whole content (at most the configured per-file limit; see Limits)."""
        if self._data is None:
            self._data = self.stream.read(self._max_bytes)
        return self._data

    def text(self) -> str:
        """The content decoded as UTF-8 (a BOM is dropped; bad bytes become U+FFFD)."""
        return self.read().decode("utf-8-sig", errors="replace")


@dataclass(frozen=True, slots=True)
class CatalogResult:
    packages: Sequence[Package] = ()
    os: OSInfo | None = None


EMPTY = CatalogResult()


class Cataloger(abc.ABC):
    """Finds packages of one kind. Instances must be picklable and stateless."""

    name: ClassVar[str]

    @abc.abstractmethod
    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        """Whether the file at ``path`` (normalised, no leading slash) is for us."""

    @abc.abstractmethod
    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        """Packages in one file. Malformed input raises CatalogError."""
