"""Reading executables without holding them whole: ELF section lookup and aligned scans.

Catalogers of compiled languages (Go build info, Rust's cargo-auditable data) need a few
hundred bytes out of binaries that weigh megabytes. When the stream can seek, only the
ELF header, the section header table, the section-name table and the wanted section are
read. When it cannot (a compressed layer read as a stream), :func:`scan_aligned` walks it
in fixed-size chunks, so memory stays bounded either way.

Everything here reads untrusted bytes: offsets and sizes are checked against the file
size and against fixed caps before anything is read, and malformed headers mean "no
sections", never an exception — whether that is an error is the caller's call.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from stockade.inventory.interface import FileContent

ELF_MAGIC = b"\x7fELF"
SHT_NOBITS = 8
"""Section type of ``.bss``-like sections: they take no bytes in the file."""

_ELFCLASS32 = 1
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_ELFDATA2MSB = 2
_MAX_SECTIONS = 0xFF00
"""Below SHN_LORESERVE: larger counts use extended numbering, which we do not follow."""
_MAX_SHSTRTAB_BYTES = 1 << 20
SCAN_CHUNK_BYTES = 1 << 20
MIN_EXECUTABLE_BYTES = 4096
"""Smaller executables are scripts or stubs: no compiler-embedded metadata to find."""


def is_candidate_executable(size: int, mode: int) -> bool:
    """The cheap test catalogers of compiled binaries run in ``wants()``."""
    return bool(mode & 0o111) and size >= MIN_EXECUTABLE_BYTES


class Readable(Protocol):
    """Anything with a forward ``read``: a file, a tar member, a decompressing stream."""

    def read(self, size: int = -1, /) -> bytes: ...


def is_seekable(stream: IO[bytes]) -> bool:
    """Whether ``stream`` supports random access (a tar member read as a stream does not)."""
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        # tarfile's stream mode wraps an object without seekable(): reading it is fine,
        # asking it to seek is not.
        return False


class RandomAccess:
    """Positioned reads over a seekable stream of known size."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self.size = size

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; fewer at end of file, none past it."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        try:
            self._stream.seek(offset)
            return self._stream.read(length)
        except (OSError, ValueError):
            return b""


def random_access(file: FileContent) -> RandomAccess | None:
    """A positioned reader over ``file``, or None when its stream can only be read forward."""
    if not is_seekable(file.stream):
        return None
    return RandomAccess(file.stream, file.size)


def memory_access(data: bytes) -> RandomAccess:
    """A positioned reader over bytes already in memory."""
    return RandomAccess(io.BytesIO(data), len(data))


@dataclass(frozen=True, slots=True)
class ElfSection:
    name: str
    type: int
    addr: int
    offset: int
    size: int

    @property
    def in_file(self) -> bool:
        return self.type != SHT_NOBITS

    def file_offset(self, address: int) -> int | None:
        """Where virtual ``address`` lies in the file, if this section holds it."""
        if self.in_file and self.addr <= address < self.addr + self.size:
            return self.offset + (address - self.addr)
        return None


@dataclass(frozen=True, slots=True)
class ElfHeader:
    is_64: bool
    byte_order: str
    """``<`` or ``>``, for :mod:`struct`."""
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int


def is_elf(head: bytes) -> bool:
    return head.startswith(ELF_MAGIC)


def parse_elf_header(head: bytes) -> ElfHeader | None:
    """The fields of an ELF file header needed to find sections; None if not usable."""
    if len(head) < 52 or not is_elf(head):
        return None
    elf_class, data = head[4], head[5]
    if elf_class not in (_ELFCLASS32, _ELFCLASS64) or data not in (_ELFDATA2LSB, _ELFDATA2MSB):
        return None
    order = "<" if data == _ELFDATA2LSB else ">"
    if elf_class == _ELFCLASS64:
        if len(head) < 64:
            return None
        shoff = struct.unpack_from(order + "Q", head, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", head, 0x3A)
        return ElfHeader(True, order, shoff, shentsize, shnum, shstrndx)
    shoff = struct.unpack_from(order + "I", head, 0x20)[0]
    shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", head, 0x2E)
    return ElfHeader(False, order, shoff, shentsize, shnum, shstrndx)


def read_elf_sections(reader: RandomAccess) -> list[ElfSection]:
    """The sections of an ELF file, named; empty when it has none or they are unreadable."""
    header = parse_elf_header(reader.read_at(0, 64))
    if header is None:
        return []
    entry_size = 64 if header.is_64 else 40
    if (
        header.shentsize != entry_size
        or not 0 < header.shnum <= _MAX_SECTIONS
        or header.shstrndx >= header.shnum
    ):
        return []
    table_size = header.shnum * entry_size
    if header.shoff <= 0 or header.shoff + table_size > reader.size:
        return []
    table = reader.read_at(header.shoff, table_size)
    if len(table) != table_size:
        return []
    raw = [
        _section_fields(table, i * entry_size, header.is_64, header.byte_order)
        for i in range(header.shnum)
    ]
    names_type, _, names_offset, names_size, _ = raw[header.shstrndx]
    names = b""
    if names_type != SHT_NOBITS and 0 < names_size <= _MAX_SHSTRTAB_BYTES:
        names = reader.read_at(names_offset, names_size)
    sections = []
    for name_index, sh_type, offset, size, addr in raw:
        sections.append(
            ElfSection(
                name=_c_string(names, name_index),
                type=sh_type,
                addr=addr,
                offset=offset,
                size=size,
            )
        )
    return sections


def _section_fields(
    table: bytes, at: int, is_64: bool, order: str
) -> tuple[int, int, int, int, int]:
    """(name index, type, file offset, size, address) of one section header."""
    if is_64:
        name, sh_type, _flags, addr, offset, size = struct.unpack_from(order + "IIQQQQ", table, at)
    else:
        name, sh_type, _flags, addr, offset, size = struct.unpack_from(order + "IIIIII", table, at)
    return name, sh_type, offset, size, addr


def _c_string(table: bytes, index: int) -> str:
    if index >= len(table):
        return ""
    end = table.find(b"\x00", index)
    raw = table[index:] if end < 0 else table[index:end]
    return raw.decode("ascii", errors="replace")


def find_section(sections: list[ElfSection], name: str) -> ElfSection | None:
    return next((s for s in sections if s.name == name), None)


def read_section(reader: RandomAccess, section: ElfSection, max_bytes: int) -> bytes | None:
    """The bytes of ``section``; None if it has none in the file or is over ``max_bytes``."""
    if not section.in_file or section.size > max_bytes:
        return None
    if section.offset + section.size > reader.size:
        return None
    return reader.read_at(section.offset, section.size)


@dataclass(slots=True)
class ScanWindow:
    """What :func:`scan_aligned` found: the buffer holding a match, and where it is.

    ``data[index:]`` starts with the magic; ``extend`` reads more of the stream onto the
    end of ``data`` when a parser needs bytes past the current chunk.
    """

    data: bytearray
    index: int
    offset: int
    """Position of the match in the file."""
    _stream: Readable

    def extend(self, want: int) -> bool:
        """Make ``data[index:]`` at least ``want`` bytes long; False at end of stream."""
        while len(self.data) - self.index < want:
            more = self._stream.read(max(SCAN_CHUNK_BYTES, want - (len(self.data) - self.index)))
            if not more:
                return False
            self.data += more
        return True


def scan_aligned(
    stream: Readable,
    magic: bytes,
    alignment: int,
    *,
    already_read: bytes = b"",
    chunk: int = SCAN_CHUNK_BYTES,
) -> Iterator[ScanWindow]:
    """Every occurrence of ``magic`` at a file offset that is a multiple of ``alignment``.

    The stream is read forward once, a chunk at a time; ``already_read`` is what the
    caller consumed from its start before (a header it looked at). A consumer may grow
    the window it is given (:meth:`ScanWindow.extend`); the scan then resumes after the
    match.
    """
    data = bytearray(already_read)
    base = 0
    position = 0
    while True:
        block = stream.read(chunk)
        at_end = not block
        data += block
        while True:
            index = data.find(magic, position)
            if index < 0:
                break
            position = index + 1
            if (base + index) % alignment:
                continue
            window = ScanWindow(data, index, base + index, stream)
            yield window
            data = window.data  # the consumer may have read more into it
        if at_end:
            return
        # Keep just enough of the tail for a match that straddles two chunks.
        drop = max(0, len(data) - (len(magic) - 1))
        position = max(position, drop) - drop
        base += drop
        del data[:drop]
