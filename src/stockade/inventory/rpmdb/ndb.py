"""rpm's ndb package database (``Packages.db``, used by SUSE), read without librpm.

The layout, all integers little-endian 32-bit (rpm's lib/backend/ndb/rpmpkg.c):

* a 32-byte file header: magic ``RpmP``, format version 0, generation, the number of
  4096-byte slot pages, the next package index;
* the slot pages, after the header: 16-byte slots of magic ``Slot``, package index,
  block offset and block count, where a block is 16 bytes and offset 0 marks a free slot;
* for each used slot, a blob at ``offset * 16``: a 16-byte head (magic ``BlbS``,
  package index, timestamp, length), the header blob, zero padding to the block, and a
  12-byte tail (Adler-32 of head, blob and padding; length; magic ``BlbE``).
"""

from __future__ import annotations

import struct
import zlib

from stockade.core.errors import CatalogError

NDB_MAGIC = b"RpmP"
_SLOT_MAGIC = b"Slot"
_BLOB_HEAD_MAGIC = b"BlbS"
_BLOB_TAIL_MAGIC = b"BlbE"
_FORMAT_VERSION = 0

_HEADER_BYTES = 32
_SLOT_PAGE_BYTES = 4096
_SLOT_BYTES = 16
_BLOCK_BYTES = 16
_BLOB_HEAD_BYTES = 16
_BLOB_TAIL_BYTES = 12

_HINT = "the rpm database is corrupt or not rpm's; `rpm --rebuilddb` on the host may repair it"


def read_ndb_blobs(data: bytes, *, where: str = "Packages.db") -> list[tuple[int, bytes]]:
    """``(package index, header blob)`` for every package in an ndb ``Packages.db``."""
    if len(data) < _HEADER_BYTES or not data.startswith(NDB_MAGIC):
        raise _error(where, "not an rpm ndb database")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != _FORMAT_VERSION:
        raise _error(where, f"unsupported ndb format version {version}")
    if slot_pages == 0 or slot_pages * _SLOT_PAGE_BYTES > len(data):
        raise _error(where, f"{slot_pages} slot pages do not fit in {len(data)} bytes")
    file_blocks = len(data) // _BLOCK_BYTES
    first_data_block = slot_pages * (_SLOT_PAGE_BYTES // _BLOCK_BYTES)

    slots: list[tuple[int, int, int]] = []
    seen_indexes: set[int] = set()
    for slot_offset in range(_HEADER_BYTES, slot_pages * _SLOT_PAGE_BYTES, _SLOT_BYTES):
        magic = data[slot_offset : slot_offset + 4]
        package_index, block_offset, block_count = struct.unpack_from("<III", data, slot_offset + 4)
        if magic != _SLOT_MAGIC:
            raise _error(where, f"slot at byte {slot_offset} has no slot magic")
        if block_offset == 0:
            continue  # a free slot
        if not package_index or not block_count or block_offset < first_data_block:
            raise _error(where, f"slot at byte {slot_offset} is malformed")
        if block_offset + block_count > file_blocks:
            raise _error(where, f"package {package_index} lies past the end of the file")
        if package_index in seen_indexes:
            raise _error(where, f"package {package_index} has two slots")
        seen_indexes.add(package_index)
        slots.append((block_offset, block_count, package_index))

    # Blobs never share blocks; refusing overlaps also bounds the work by the file size.
    slots.sort()
    blobs: list[tuple[int, bytes]] = []
    previous_end = first_data_block
    for block_offset, block_count, package_index in slots:
        if block_offset < previous_end:
            raise _error(where, f"package {package_index} overlaps another package's blob")
        previous_end = block_offset + block_count
        blobs.append(
            (package_index, _read_blob(data, package_index, block_offset, block_count, where))
        )
    return sorted(blobs)


def _read_blob(
    data: bytes, package_index: int, block_offset: int, block_count: int, where: str
) -> bytes:
    start = block_offset * _BLOCK_BYTES
    end = start + block_count * _BLOCK_BYTES
    if block_count * _BLOCK_BYTES < _BLOB_HEAD_BYTES + _BLOB_TAIL_BYTES:
        raise _error(where, f"package {package_index}: blob too small")
    head_magic = data[start : start + 4]
    stored_index, _timestamp, length = struct.unpack_from("<III", data, start + 4)
    if head_magic != _BLOB_HEAD_MAGIC or stored_index != package_index:
        raise _error(where, f"package {package_index}: blob head does not match its slot")
    needed = -(-(_BLOB_HEAD_BYTES + length + _BLOB_TAIL_BYTES) // _BLOCK_BYTES)
    if needed != block_count:
        raise _error(where, f"package {package_index}: blob length disagrees with its slot")
    tail = end - _BLOB_TAIL_BYTES
    checksum, tail_length = struct.unpack_from("<II", data, tail)
    if data[tail + 8 : end] != _BLOB_TAIL_MAGIC or tail_length != length:
        raise _error(where, f"package {package_index}: blob tail is damaged")
    if zlib.adler32(data[start:tail]) != checksum:
        raise _error(where, f"package {package_index}: blob checksum mismatch")
    return data[start + _BLOB_HEAD_BYTES : start + _BLOB_HEAD_BYTES + length]


def _error(where: str, detail: str) -> CatalogError:
    return CatalogError(f"{where}: {detail}", hint=_HINT)
