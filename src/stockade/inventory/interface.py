"""The plug-in point for catalogers: one module per package database or ecosystem.

A cataloger says which files it wants (:meth:`Cataloger.wants`, called for every entry,
so it must be cheap) and turns one such file into packages (:meth:`Cataloger.parse`).
It never sees the layer or the network; the engine records where each package was found
and fills in purls once the OS is known.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    """What one file gave one cataloger."""

    packages: Sequence[Package] = ()
    os: OSInfo | None = None
    warnings: Sequence[str] = ()
    """Problems worth telling the user that did not stop the file being read."""
    facts: Mapping[str, object] = field(default_factory=dict)
    """Things learnt from this file that only matter together with other files (a
    ``Cargo.toml``'s dev-dependencies, a ``go.sum``'s modules); see
    :meth:`Cataloger.finalize`. Values must be picklable."""
    producer: str = ""
    """The cataloger that gave this result (set by the engine)."""


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

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        """Adjust this cataloger's results once every layer has been applied.

        ``results`` maps each path (still present in the squashed artifact) to what
        :meth:`parse` gave for it. Override to combine files, e.g. to drop the crates a
        ``Cargo.lock`` lists only for the dev-dependencies of the ``Cargo.toml`` beside
        it. The default keeps everything as it is.
        """
        del ctx
        return results
