"""rpm's Berkeley DB ``Packages`` file (hash access method), read without libdb.

The layout, as Berkeley DB 4.x-5.x write it (hash version 8 to 10):

* the file is a sequence of pages of ``pagesize`` bytes; page 0 is the hash metadata
  page: magic ``0x061561`` at byte 12 (its byte order is the file's byte order),
  version at 16, page size at 20, encryption algorithm at 24, flags byte at 26, last
  page number at 32, then the hash fields: highest bucket at 72, high and low masks at
  76 and 80, and 32 "spares" at 96 that map a bucket number to its page
  (``page = bucket + spares[bit length of bucket]``);
* every page starts with a 26-byte header: its own number at 8, previous and next page
  at 12 and 16, entry count at 20, high-free offset at 22, type at 25; an array of 16-bit
  item offsets follows;
* a bucket is a chain of hash pages (type 13, or 2 when unsorted) linked by "next
  page"; their items alternate key, value. An item is one type byte then either its
  bytes inline (type 1) or, for big items (type 3), a 4-byte pad, the first overflow
  page and the total length; overflow pages (type 7) carry ``high-free`` bytes of the
  item each, from byte 26, and link by "next page".

rpm stores each header blob under its instance number (4 bytes, in the file's byte
order); instance 0 holds rpm's counter of instance numbers, not a package.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from stockade.core.errors import CatalogError

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162
SUPPORTED_HASH_VERSIONS = range(8, 11)

_META_MAGIC_OFFSET = 12
_META_MIN_BYTES = 512
_PAGE_HEADER_BYTES = 26
_SPARES_COUNT = 32

PAGE_HASH_UNSORTED = 2
PAGE_OVERFLOW = 7
PAGE_HASH = 13

ITEM_KEYDATA = 1
ITEM_DUPLICATE = 2
ITEM_OFFPAGE = 3
ITEM_OFFDUP = 4
_OFFPAGE_ITEM_BYTES = 12

_METAFLAG_CHECKSUM = 0x01

_HINT = "the rpm database is corrupt or not rpm's; `rpm --rebuilddb` on the host may repair it"


def byte_order_of(data: bytes) -> str | None:
    """``"<"`` or ``">"`` when ``data`` starts with a Berkeley DB hash meta page."""
    if len(data) < _META_MAGIC_OFFSET + 4:
        return None
    for order in "<>":
        (magic,) = struct.unpack_from(order + "I", data, _META_MAGIC_OFFSET)
        if magic == HASH_MAGIC:
            return order
    return None


def is_berkeley_db(data: bytes) -> bool:
    """Whether ``data`` starts with a Berkeley DB hash or btree metadata page."""
    if len(data) < _META_MAGIC_OFFSET + 4:
        return False
    return any(
        struct.unpack_from(order + "I", data, _META_MAGIC_OFFSET)[0] in (HASH_MAGIC, BTREE_MAGIC)
        for order in "<>"
    )


def read_bdb_hash_blobs(data: bytes, *, where: str = "Packages") -> list[tuple[int, bytes]]:
    """``(instance, header blob)`` for every package in a Berkeley DB ``Packages`` file."""
    reader = _HashFile(data, where)
    blobs: list[tuple[int, bytes]] = []
    for key, value in reader.items():
        if len(key) != 4:
            raise CatalogError(
                f"{where}: key of {len(key)} bytes; rpm's Packages keys are 4 bytes",
                hint=_HINT,
            )
        (instance,) = struct.unpack(reader.order + "I", key)
        if instance == 0:
            continue
        blobs.append((instance, value))
    blobs.sort()
    return blobs


class _HashFile:
    """Walks the buckets of one hash database held in memory."""

    def __init__(self, data: bytes, where: str) -> None:
        self.where = where
        self.data = data
        order = byte_order_of(data)
        if order is None:
            if is_berkeley_db(data):
                raise self._error("a Berkeley DB btree, not the hash database rpm uses")
            raise self._error("not a Berkeley DB hash database")
        if len(data) < _META_MIN_BYTES:
            raise self._error(f"{len(data)} bytes is too short for a metadata page")
        self.order = order
        version, pagesize = struct.unpack_from(order + "II", data, 16)
        if version not in SUPPORTED_HASH_VERSIONS:
            raise self._error(f"unsupported hash version {version}")
        if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
            raise self._error(f"invalid page size {pagesize}")
        if data[24] != 0:
            raise self._error("the database is encrypted")
        if data[26] & _METAFLAG_CHECKSUM:
            raise self._error("pages carry checksums, a layout rpm never writes")
        self.pagesize = pagesize
        self.page_count = len(data) // pagesize
        (last_page,) = struct.unpack_from(order + "I", data, 32)
        if last_page >= self.page_count:
            raise self._error(
                f"metadata names page {last_page} but the file has {self.page_count} pages"
            )
        (self.max_bucket,) = struct.unpack_from(order + "I", data, 72)
        # Each bucket is a page, and the spares table maps 32 bit lengths of buckets.
        if self.max_bucket >= self.page_count or self.max_bucket.bit_length() >= _SPARES_COUNT:
            raise self._error(f"implausible highest bucket {self.max_bucket}")
        self.spares = struct.unpack_from(f"{order}{_SPARES_COUNT}I", data, 96)
        self._u16 = struct.Struct(order + "H")
        self._u32 = struct.Struct(order + "I")
        self._visited: set[int] = set()

    def _error(self, detail: str) -> CatalogError:
        return CatalogError(f"{self.where}: {detail}", hint=_HINT)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for bucket in range(self.max_bucket + 1):
            page_number = bucket + self.spares[bucket.bit_length()]
            while page_number:
                page = self._page(page_number, (PAGE_HASH, PAGE_HASH_UNSORTED))
                yield from self._page_items(page, page_number)
                (page_number,) = self._u32.unpack_from(page, 16)

    def _page(self, number: int, types: tuple[int, ...]) -> bytes:
        # Every page belongs to one bucket chain or one big item: seeing a page twice
        # means a cycle (or items sharing pages), which would otherwise loop or blow up.
        if number in self._visited:
            raise self._error(f"page {number} is reached twice (a loop in the page chain)")
        if not 0 < number < self.page_count:
            raise self._error(f"page {number} is outside the file")
        self._visited.add(number)
        start = number * self.pagesize
        page = self.data[start : start + self.pagesize]
        (stored_number,) = self._u32.unpack_from(page, 8)
        if stored_number != number or page[25] not in types:
            raise self._error(f"page {number} is not the page its link expects")
        return page

    def _page_items(self, page: bytes, number: int) -> Iterator[tuple[bytes, bytes]]:
        (entries,) = self._u16.unpack_from(page, 20)
        index_end = _PAGE_HEADER_BYTES + 2 * entries
        if index_end > self.pagesize:
            raise self._error(f"page {number} claims {entries} entries")
        offsets = [
            self._u16.unpack_from(page, _PAGE_HEADER_BYTES + 2 * i)[0] for i in range(entries)
        ]
        # Items are packed from the end of the page down: each one ends where the one
        # before it in the index starts.
        ends = [self.pagesize, *offsets[:-1]][: len(offsets)]  # none on an empty page
        for offset, end in zip(offsets, ends, strict=True):
            if not index_end <= offset < end <= self.pagesize:
                raise self._error(f"page {number} has an item outside the page")
        for i in range(0, entries - 1, 2):
            key = self._item(page, offsets[i], ends[i], number)
            value = self._item(page, offsets[i + 1], ends[i + 1], number)
            yield key, value

    def _item(self, page: bytes, start: int, end: int, number: int) -> bytes:
        kind = page[start]
        if kind == ITEM_KEYDATA:
            return page[start + 1 : end]
        if kind == ITEM_OFFPAGE:
            if end - start != _OFFPAGE_ITEM_BYTES:
                raise self._error(f"page {number} has a malformed big-item reference")
            first_page, total = struct.unpack_from(self.order + "II", page, start + 4)
            return self._overflow(first_page, total)
        if kind in (ITEM_DUPLICATE, ITEM_OFFDUP):
            raise self._error("duplicate keys, which rpm's Packages never has")
        raise self._error(f"page {number} has an item of unknown type {kind}")

    def _overflow(self, page_number: int, total: int) -> bytes:
        if total == 0 or total > len(self.data):
            raise self._error(f"big item of implausible length {total}")
        chunks: list[bytes] = []
        remaining = total
        while remaining:
            if not page_number:
                raise self._error("big item ends before its stated length")
            page = self._page(page_number, (PAGE_OVERFLOW,))
            (length,) = self._u16.unpack_from(page, 22)
            if length == 0 or length > remaining or _PAGE_HEADER_BYTES + length > self.pagesize:
                raise self._error(f"overflow page {page_number} has a bad length {length}")
            chunks.append(page[_PAGE_HEADER_BYTES : _PAGE_HEADER_BYTES + length])
            remaining -= length
            (page_number,) = self._u32.unpack_from(page, 16)
        return b"".join(chunks)
