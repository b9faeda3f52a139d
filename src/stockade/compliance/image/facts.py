"""One walk over an image's layers, keeping only what image checks ask about.

Layers are applied in order as the engine squashes them: a whiteout deletes a path and
everything below it, an opaque directory hides what earlier layers put below it, and a
later entry at a path replaces the earlier one. Only paths of interest are remembered,
so memory grows with findings, not with the image.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from stockade.artifact.interface import EntryType, Layer, Limits

__all__ = ["FileFacts", "FileKind", "ImageFile", "classify", "collect_file_facts"]

SETID_BITS: Final = 0o6000


class FileKind(enum.Enum):
    SETID = "setid"
    """A regular file with the setuid or setgid bit."""
    APT_ARCHIVE = "apt-archive"
    APT_LISTS = "apt-lists"
    APK_CACHE = "apk-cache"
    SSH_SERVER = "ssh-server"


_SSH_SERVER_PATHS: Final = frozenset(
    {
        "usr/sbin/sshd",
        "sbin/sshd",
        "usr/bin/sshd",
        "usr/local/sbin/sshd",
        "usr/sbin/dropbear",
        "usr/bin/dropbear",
        "var/lib/dpkg/info/openssh-server.list",
        "var/lib/dpkg/info/dropbear-bin.list",
    }
)
_APT_ARCHIVE_RE: Final = re.compile(r"^var/cache/apt/archives/[^/]+\.deb$")
# ``lock`` and ``partial/`` are created by apt itself and are empty in a clean image.
_APT_LISTS_RE: Final = re.compile(r"^var/lib/apt/lists/(?!lock$|partial/|auxfiles/)[^/]+$")
_APK_CACHE_RE: Final = re.compile(r"^var/cache/apk/[^/]+$")


def classify(path: str, entry_type: EntryType, mode: int) -> FileKind | None:
    """What an entry is to the image checks, or None when nothing."""
    if entry_type is not EntryType.FILE and entry_type is not EntryType.HARDLINK:
        return None
    if path in _SSH_SERVER_PATHS:
        return FileKind.SSH_SERVER
    if mode & SETID_BITS and entry_type is EntryType.FILE:
        return FileKind.SETID
    if _APT_ARCHIVE_RE.match(path):
        return FileKind.APT_ARCHIVE
    if _APT_LISTS_RE.match(path):
        return FileKind.APT_LISTS
    if _APK_CACHE_RE.match(path):
        return FileKind.APK_CACHE
    return None


@dataclass(frozen=True, slots=True)
class ImageFile:
    path: str
    kind: FileKind
    mode: int
    layer: str | None
    """diff_id of the layer that put the file there."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    files: tuple[ImageFile, ...]

    def of_kind(self, kind: FileKind) -> list[ImageFile]:
        return [f for f in self.files if f.kind is kind]


def _drop_below(found: dict[str, ImageFile], directory: str) -> None:
    prefix = f"{directory}/" if directory else ""
    for path in [p for p in found if p.startswith(prefix)]:
        del found[path]


def collect_file_facts(layers: Sequence[Layer], limits: Limits | None = None) -> FileFacts:
    """Walk ``layers`` in order and return the interesting files of the squashed image."""
    limits = limits or Limits()
    found: dict[str, ImageFile] = {}
    for layer in layers:
        layer_id = layer.info.diff_id
        added: dict[str, ImageFile | None] = {}
        deleted: list[str] = []
        opaque: list[str] = []
        for entry in layer.walk(limits):
            if entry.type is EntryType.WHITEOUT:
                deleted.append(entry.path)
            elif entry.type is EntryType.OPAQUE:
                opaque.append(entry.path)
            else:
                kind = classify(entry.path, entry.type, entry.mode)
                added[entry.path] = (
                    None
                    if kind is None
                    else ImageFile(entry.path, kind, entry.mode & 0o7777, layer_id)
                )
        # Whiteouts and opaque markers act on the layers below, never on this one.
        for path in deleted:
            found.pop(path, None)
            _drop_below(found, path)
        for directory in opaque:
            _drop_below(found, directory)
        for path, image_file in added.items():
            if image_file is None:
                found.pop(path, None)
            else:
                found[path] = image_file
    return FileFacts(tuple(sorted(found.values(), key=lambda f: f.path)))
