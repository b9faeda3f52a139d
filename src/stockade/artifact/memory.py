"""An in-memory source, shipped so library users and tests can build artifacts in code.

``MemorySource([{"etc/os-release": b"ID=debian\\n"}, {"etc/os-release": None}])`` is a
two-layer image whose second layer deletes the file; ``{"dir/": OPAQUE}`` marks ``dir``
opaque. Layers are plain data, so they pickle into worker processes like real ones.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from stockade.artifact.interface import Entry, EntryType, Layer, Limits, Source
from stockade.core.errors import UnsafeArtifactError
from stockade.core.models import ArtifactInfo, Digest, LayerInfo

OPAQUE: Final = "opaque"
"""Value marking a directory opaque in a :class:`MemoryLayer` mapping."""

LayerContent = Mapping[str, bytes | str | None]
"""path → file bytes; ``None`` is a whiteout; ``OPAQUE`` marks an opaque directory."""


class MemoryLayer(Layer):
    def __init__(self, files: LayerContent, *, mode: int = 0o644) -> None:
        self.files = dict(files)
        self.mode = mode
        digest = hashlib.sha256(repr(sorted(self.files.items())).encode()).hexdigest()
        self.info = LayerInfo(diff_id=Digest(f"sha256:{digest}"))

    def walk(self, limits: Limits) -> Iterator[Entry]:
        total = 0
        for count, (path, content) in enumerate(self.files.items(), start=1):
            if count > limits.max_entries:
                raise UnsafeArtifactError(f"more than {limits.max_entries} entries")
            clean = path.strip("/")
            if content is None:
                yield Entry(clean, EntryType.WHITEOUT)
            elif content == OPAQUE:
                yield Entry(clean, EntryType.OPAQUE)
            else:
                data = content.encode() if isinstance(content, str) else content
                total += len(data)
                if total > limits.max_total_bytes:
                    raise UnsafeArtifactError(f"more than {limits.max_total_bytes} bytes")
                yield Entry(
                    clean,
                    EntryType.FILE,
                    size=len(data),
                    mode=self.mode,
                    opener=functools.partial(io.BytesIO, data),
                )


class MemorySource(Source):
    def __init__(self, layers: Sequence[LayerContent], *, name: str = "memory") -> None:
        self._layers = [MemoryLayer(files) for files in layers]
        self.name = name

    def info(self) -> ArtifactInfo:
        return ArtifactInfo(
            name=self.name,
            kind="memory",
            layers=tuple(layer.info for layer in self._layers),
        )

    def layers(self) -> Sequence[Layer]:
        return self._layers
