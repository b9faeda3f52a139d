"""One rpm header blob, as the rpm databases store it, decoded into the fields we need.

The stored form is rpm's "header blob" without the lead and magic of a package file:

* ``il`` and ``dl``, two big-endian 32-bit counts: index entries and data bytes;
* ``il`` index entries of 16 bytes, each ``tag``, ``type``, ``offset``, ``count``
  (big-endian 32-bit), ``offset`` being relative to the data store;
* the data store, ``dl`` bytes: strings NUL-terminated, integers big-endian and aligned
  to their size.

The first entry is usually a region tag (63, "immutable") whose data is a trailer for
signature checking; it is not needed to read the fields and is skipped like any tag
we do not ask for.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from stockade.core.errors import CatalogError

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

# rpm's own limits on a header (HEADER_TAGS_MAX, HEADER_DATA_MAX in header_internal.h):
# bigger counts are corrupt or hostile, and bounding them keeps the parser linear.
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_BYTES = 0x0FFFFFFF

_PREAMBLE = struct.Struct(">II")
_ENTRY = struct.Struct(">iIiI")
_INT32 = struct.Struct(">i")

_STRING_TAGS = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM})


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """The fields of an installed package's header the inventory uses."""

    name: str
    version: str
    release: str
    epoch: int | None = None
    arch: str | None = None
    license: str | None = None
    source_rpm: str | None = None
    """``name-version-release.src.rpm`` of the source package, when recorded."""


def parse_header_blob(blob: bytes, *, where: str = "rpm header") -> RpmHeader:
    """Decode one stored header blob. Malformed blobs raise CatalogError."""
    if len(blob) < _PREAMBLE.size:
        raise _corrupt(where, f"{len(blob)} bytes is too short for a header")
    index_count, data_length = _PREAMBLE.unpack_from(blob, 0)
    if not 0 < index_count <= MAX_INDEX_ENTRIES:
        raise _corrupt(where, f"implausible index entry count {index_count}")
    if data_length > MAX_DATA_BYTES:
        raise _corrupt(where, f"implausible data length {data_length}")
    data_start = _PREAMBLE.size + index_count * _ENTRY.size
    if data_start + data_length > len(blob):
        raise _corrupt(
            where,
            f"header declares {index_count} entries and {data_length} data bytes, "
            f"but the blob has only {len(blob)} bytes",
        )
    store = _DataStore(blob, data_start, data_start + data_length, where)

    strings: dict[int, str] = {}
    epoch: int | None = None
    for position in range(index_count):
        tag, kind, offset, count = _ENTRY.unpack_from(blob, _PREAMBLE.size + position * 16)
        if tag in _STRING_TAGS and tag not in strings:
            strings[tag] = store.string(tag, kind, offset, count)
        elif tag == TAG_EPOCH and epoch is None:
            epoch = store.int32(kind, offset, count)

    name = strings.get(TAG_NAME)
    version = strings.get(TAG_VERSION)
    if not name or version is None:
        raise _corrupt(where, "header has no package name or version")
    return RpmHeader(
        name=name,
        version=version,
        release=strings.get(TAG_RELEASE, ""),
        epoch=epoch,
        arch=strings.get(TAG_ARCH) or None,
        license=strings.get(TAG_LICENSE) or None,
        source_rpm=strings.get(TAG_SOURCERPM) or None,
    )


class _DataStore:
    """The data store of one blob: reads values by their index entry, bounds-checked."""

    __slots__ = ("_blob", "_end", "_start", "_where")

    def __init__(self, blob: bytes, start: int, end: int, where: str) -> None:
        self._blob = blob
        self._start = start
        self._end = end
        self._where = where

    def string(self, tag: int, kind: int, offset: int, count: int) -> str:
        # I18NSTRING and STRING_ARRAY hold `count` strings back to back; the first one
        # is the untranslated value (for LICENSE, SUMMARY, …) that rpm itself prints.
        if kind not in (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING) or count < 1:
            raise _corrupt(self._where, f"tag {tag} has type {kind}, expected a string")
        begin = self._start + offset
        if offset < 0 or begin >= self._end:
            raise _corrupt(self._where, f"tag {tag} points outside the data store")
        nul = self._blob.find(b"\x00", begin, self._end)
        if nul < 0:
            raise _corrupt(self._where, f"tag {tag} string is not terminated")
        return self._blob[begin:nul].decode("utf-8", errors="replace")

    def int32(self, kind: int, offset: int, count: int) -> int:
        if kind != TYPE_INT32 or count < 1:
            raise _corrupt(self._where, f"epoch has type {kind}, expected a 32-bit integer")
        begin = self._start + offset
        if offset < 0 or offset % 4 or begin + 4 > self._end:
            raise _corrupt(self._where, "epoch points outside the data store or is misaligned")
        (value,) = _INT32.unpack_from(self._blob, begin)
        if value < 0:
            raise _corrupt(self._where, f"negative epoch {value}")
        return int(value)


def _corrupt(where: str, detail: str) -> CatalogError:
    return CatalogError(
        f"{where}: malformed rpm header: {detail}",
        hint="the rpm database is corrupt; `rpm --rebuilddb` on the host may repair it",
    )
