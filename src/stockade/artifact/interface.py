"""The plug-in point for artifact sources: a :class:`Source` yields :class:`Layer` s.

A layer is walked as a stream of :class:`Entry` records in archive order. Content is
only readable while its entry is the current one (tar layers are streamed, never
extracted), through :meth:`Entry.open`. Paths are normalised: relative to the artifact
root, ``/``-separated, no leading slash, never ``..`` — a layer that tries to escape
raises :class:`~stockade.core.errors.UnsafeArtifactError` instead.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from stockade.core.models import ArtifactInfo, LayerInfo


class EntryType(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"
    """Devices, FIFOs, sockets: listed, never read."""
    WHITEOUT = "whiteout"
    """``path`` was deleted by this layer (an AUFS/OCI ``.wh.`` file)."""
    OPAQUE = "opaque"
    """Everything below the directory ``path`` from earlier layers is hidden."""


@dataclass(slots=True)
class Entry:
    path: str
    type: EntryType
    size: int = 0
    mode: int = 0o644
    linkname: str = ""
    """Symlink target exactly as stored, or the normalised path a hard link points to."""
    opener: Callable[[], IO[bytes]] | None = None

    def open(self) -> IO[bytes]:
        """The entry's content; valid only until the walk moves to the next entry."""
        if self.opener is None:
            raise ValueError(f"{self.path} has no readable content")
        return self.opener()

    @property
    def is_executable(self) -> bool:
        return self.type is EntryType.FILE and bool(self.mode & 0o111)


DEFAULT_MAX_TOTAL_BYTES = 64 * 1024**3
DEFAULT_MAX_ENTRIES = 5_000_000
DEFAULT_MAX_FILE_BYTES = 512 * 1024**2
DEFAULT_MAX_RATIO = 2_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that stop tar and zip bombs. Every source enforces them while walking."""

    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    """Uncompressed bytes across all layers of one artifact."""
    max_entries: int = DEFAULT_MAX_ENTRIES
    """Entries across all layers of one artifact."""
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    """Largest single file a cataloger may read into memory."""
    max_ratio: int = DEFAULT_MAX_RATIO
    """Largest uncompressed/compressed ratio accepted for one zip member."""


class Layer(abc.ABC):
    """One filesystem layer. Must be picklable: layers are walked in worker processes."""

    info: LayerInfo

    @abc.abstractmethod
    def walk(self, limits: Limits) -> Iterator[Entry]:
        """Yield the layer's entries in order; whiteouts appear as WHITEOUT/OPAQUE."""


class Source(abc.ABC):
    """An artifact opened for reading: an image, a directory, an archive."""

    @abc.abstractmethod
    def info(self) -> ArtifactInfo:
        """Describe the artifact (name, digests, layers, image config)."""

    @abc.abstractmethod
    def layers(self) -> Sequence[Layer]:
        """The layers in application order (a directory or zip is one layer)."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing open
        """Release whatever the source holds open."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
