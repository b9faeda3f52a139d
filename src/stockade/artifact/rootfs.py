"""A root filesystem directory (``/`` included: the host) as a one-layer source.

The walk never follows symlinks and never leaves the directory: mount points of other
filesystems below the root (``/proc``, ``/sys``, network mounts) are skipped, as are
files that vanish or cannot be read while we walk.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from stockade.artifact.interface import Entry, EntryType, Layer, Limits, Source
from stockade.core.errors import ArtifactError, UnsafeArtifactError
from stockade.core.models import ArtifactInfo, LayerInfo

# Virtual and volatile filesystems that never hold packages.
_SKIP_TOP = frozenset({"proc", "sys", "dev", "run"})


class DirectoryLayer(Layer):
    def __init__(self, root: Path, *, skip_virtual: bool) -> None:
        self.root = root
        self.skip_virtual = skip_virtual
        self.info = LayerInfo(diff_id=None)

    def walk(self, limits: Limits) -> Iterator[Entry]:
        root = str(self.root)
        try:
            root_dev = os.lstat(root).st_dev
        except OSError as exc:
            raise ArtifactError(f"cannot read {root}: {exc.strerror}") from exc
        seen = 0
        total = 0
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            abs_dir = os.path.join(root, rel_dir) if rel_dir else root
            try:
                with os.scandir(abs_dir) as it:
                    children = sorted(it, key=lambda d: d.name)
            except OSError:
                continue  # unreadable or vanished directory: nothing to catalogue there
            for child in children:
                rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
                if self.skip_virtual and not rel_dir and child.name in _SKIP_TOP:
                    continue
                try:
                    st = child.stat(follow_symlinks=False)
                except OSError:
                    continue
                seen += 1
                if seen > limits.max_entries:
                    raise UnsafeArtifactError(
                        f"{root}: more than {limits.max_entries} entries",
                        hint="raise --max-entries if this directory is trusted",
                    )
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    if st.st_dev != root_dev and self.skip_virtual:
                        continue  # another filesystem mounted below the host root
                    yield Entry(rel, EntryType.DIR, mode=stat.S_IMODE(mode))
                    stack.append(rel)
                elif stat.S_ISLNK(mode):
                    try:
                        target = os.readlink(child.path)
                    except OSError:
                        continue
                    yield Entry(rel, EntryType.SYMLINK, mode=stat.S_IMODE(mode), linkname=target)
                elif stat.S_ISREG(mode):
                    total += st.st_size
                    if total > limits.max_total_bytes:
                        raise UnsafeArtifactError(
                            f"{root}: more than {limits.max_total_bytes} bytes of files",
                            hint="raise --max-size if this directory is trusted",
                        )
                    yield Entry(
                        rel,
                        EntryType.FILE,
                        size=st.st_size,
                        mode=stat.S_IMODE(mode),
                        opener=_opener(child.path),
                    )
                else:
                    yield Entry(rel, EntryType.OTHER, mode=stat.S_IMODE(mode))


def _opener(path: str) -> _Opener:
    return _Opener(path)


class _Opener:
    """Opens a regular file without following a symlink swapped in since the walk."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self) -> IO[bytes]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return io.BytesIO(b"")  # vanished or became a link: treat as empty
        return os.fdopen(fd, "rb")


class DirectorySource(Source):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ArtifactError(f"{self.path} is not a directory")
        self._skip_virtual = self.path.resolve() == Path("/")

    def info(self) -> ArtifactInfo:
        return ArtifactInfo(name=str(self.path), kind="rootfs")

    def layers(self) -> Sequence[Layer]:
        return [DirectoryLayer(self.path, skip_virtual=self._skip_virtual)]
