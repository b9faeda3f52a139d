"""Module build information embedded in Go executables (what ``go version -m`` prints).

Since Go 1.13 the linker writes a ``.go.buildinfo`` blob that starts, 16-byte aligned,
with the magic ``\\xff Go buildinf:``, then the pointer size and a flags byte, padded to
32 bytes. From Go 1.18 (flags bit 2) the Go version and the module information follow as
two strings, each prefixed with its length as an unsigned varint. Before that, the header
holds two pointers to Go string headers in the program's memory, which are resolved here
through the ELF section table (this needs random access to the file).

The module information is text between two 16-byte sentinels: one line per ``path``,
``mod`` (main module), ``dep`` (dependency), ``=>`` (replacement of the previous dep) and
``build`` (a build setting), fields separated by tabs.
"""

from __future__ import annotations

import re
import shlex
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.core.errors import CatalogError
from stockade.inventory.binary import (
    ElfSection,
    RandomAccess,
    Readable,
    find_section,
    is_elf,
    read_elf_sections,
    read_section,
    scan_aligned,
)

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_BYTES = 32
_ALIGNMENT = 16
_FLAG_BIG_ENDIAN = 0x1
_FLAG_INLINE_STRINGS = 0x2
_MAX_STRING_BYTES = 1 << 20
"""The Go toolchain's own limit when it reads these strings back."""
_MAX_SECTION_BYTES = 4 << 20
_SENTINEL_BYTES = 16

# Executable formats worth scanning when the section table cannot be used: ELF, PE, Mach-O.
_EXECUTABLE_MAGICS = (
    b"\x7fELF",
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)

Extender = Callable[[int], bool]
"""Makes at least N bytes available from the start of the build info; False if it cannot."""


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str
    replaced_by: Module | None = None


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str
    """As the toolchain wrote it: ``go1.22.5``, ``go1.22.3 X:boringcrypto``, ``devel …``."""
    main: Module | None = None
    deps: tuple[Module, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _PointerHeader:
    """A pre-Go 1.18 header: where the version and modinfo string headers are in memory."""

    pointer_size: int
    big_endian: bool
    version_address: int
    modinfo_address: int


def build_info_from_file(reader: RandomAccess) -> BuildInfo | None:
    """Build info of a seekable file, or None if it is not a Go executable."""
    head = reader.read_at(0, 64)
    if not head.startswith(_EXECUTABLE_MAGICS):
        return None
    if is_elf(head):
        sections = read_elf_sections(reader)
        if sections:
            section = find_section(sections, ".go.buildinfo")
            if section is None:
                return None  # an ELF file with a section table and no build info
            data = read_section(reader, section, _MAX_SECTION_BYTES)
            if data is None:
                raise CatalogError(
                    f".go.buildinfo section is unreadable ({section.size} bytes "
                    f"at offset {section.offset})"
                )
            index = _aligned_magic(data)
            if index < 0:
                raise CatalogError(".go.buildinfo section does not start with Go build info")
            found = _decode(data, index, lambda n: len(data) - index >= n)
            if isinstance(found, _PointerHeader):
                return _resolve_pointers(found, reader, sections)
            return found
    # No usable section table (PE, Mach-O, or an ELF stripped of sections): scan the file.
    return _scan(_ReaderStream(reader), b"")


def build_info_from_stream(stream: Readable) -> BuildInfo | None:
    """Build info from a forward-only stream, scanned in bounded chunks."""
    head = stream.read(64)
    if not head.startswith(_EXECUTABLE_MAGICS):
        return None
    return _scan(stream, head)


class _ReaderStream:
    """A forward stream over a :class:`RandomAccess`, for scanning big seekable files."""

    def __init__(self, reader: RandomAccess) -> None:
        self._reader = reader
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self._reader.size - self._position
        data = self._reader.read_at(self._position, size)
        self._position += len(data)
        return data


def _scan(stream: Readable, head: bytes) -> BuildInfo | None:
    old_format_seen = False
    for window in scan_aligned(stream, BUILDINFO_MAGIC, _ALIGNMENT, already_read=head):
        try:
            found = _decode(window.data, window.index, window.extend)
        except CatalogError:
            continue  # the magic bytes by coincidence (e.g. a string constant): keep looking
        if isinstance(found, _PointerHeader):
            old_format_seen = True
            continue
        return found
    if old_format_seen:
        raise CatalogError(
            "Go build info in the pre-Go 1.18 format could not be resolved",
            hint="this format points into the program's memory; it is read from ELF "
            "files whose content can be read at random, which this one could not",
        )
    return None


def _aligned_magic(data: bytes) -> int:
    index = data.find(BUILDINFO_MAGIC)
    while index >= 0 and index % _ALIGNMENT:
        index = data.find(BUILDINFO_MAGIC, index + 1)
    return index


def _decode(data: bytes | bytearray, index: int, extend: Extender) -> BuildInfo | _PointerHeader:
    """Decode the header at ``data[index]``; raise CatalogError if it is not build info."""
    if not extend(_HEADER_BYTES):
        raise CatalogError("Go build info header is truncated")
    pointer_size = data[index + 14]
    flags = data[index + 15]
    if pointer_size not in (4, 8):
        raise CatalogError(f"Go build info has an invalid pointer size {pointer_size}")
    if flags & _FLAG_INLINE_STRINGS:
        position = _HEADER_BYTES
        version, position = _varint_string(data, index, position, extend)
        modinfo, _ = _varint_string(data, index, position, extend)
        return _build_info(version, modinfo)
    order = ">" if flags & _FLAG_BIG_ENDIAN else "<"
    fmt = order + ("Q" if pointer_size == 8 else "I")
    start = index + 16
    version_address = struct.unpack_from(fmt, data, start)[0]
    modinfo_address = struct.unpack_from(fmt, data, start + pointer_size)[0]
    return _PointerHeader(
        pointer_size, bool(flags & _FLAG_BIG_ENDIAN), version_address, modinfo_address
    )


def _varint_string(
    data: bytes | bytearray, index: int, position: int, extend: Extender
) -> tuple[bytes, int]:
    length = 0
    shift = 0
    for _ in range(10):
        if not extend(position + 1):
            raise CatalogError("Go build info string length is truncated")
        byte = data[index + position]
        position += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    else:
        raise CatalogError("Go build info string length is not a valid varint")
    if length > _MAX_STRING_BYTES:
        raise CatalogError(f"Go build info string of {length} bytes is over the 1 MiB limit")
    if not extend(position + length):
        raise CatalogError("Go build info string is truncated")
    start = index + position
    return bytes(data[start : start + length]), position + length


def _resolve_pointers(
    header: _PointerHeader, reader: RandomAccess, sections: list[ElfSection]
) -> BuildInfo:
    mapped = [s for s in sections if s.in_file and s.addr]
    fmt = (">" if header.big_endian else "<") + ("Q" if header.pointer_size == 8 else "I")

    def read_memory(address: int, length: int) -> bytes:
        for section in mapped:
            offset = section.file_offset(address)
            if offset is not None and address + length <= section.addr + section.size:
                data = reader.read_at(offset, length)
                if len(data) == length:
                    return data
        raise CatalogError(f"Go build info points to unmapped address {address:#x}")

    def read_string(address: int) -> bytes:
        string_header = read_memory(address, 2 * header.pointer_size)
        data_address = struct.unpack_from(fmt, string_header, 0)[0]
        length = struct.unpack_from(fmt, string_header, header.pointer_size)[0]
        if length > _MAX_STRING_BYTES:
            raise CatalogError(f"Go build info string of {length} bytes is over the 1 MiB limit")
        return read_memory(data_address, length) if length else b""

    return _build_info(read_string(header.version_address), read_string(header.modinfo_address))


_GO_VERSION = re.compile(r"^(go\d|devel )[\x20-\x7e]*$")


def _build_info(raw_version: bytes, raw_modinfo: bytes) -> BuildInfo:
    version = raw_version.decode("utf-8", errors="replace")
    if not _GO_VERSION.match(version):
        raise CatalogError(f"Go build info has an unexpected Go version {version[:40]!r}")
    modinfo = ""
    # The module text sits between two 16-byte sentinels; without them (a binary built
    # outside module mode) there is no module information.
    if len(raw_modinfo) >= 2 * _SENTINEL_BYTES + 1 and raw_modinfo[-_SENTINEL_BYTES - 1] == 0x0A:
        modinfo = raw_modinfo[_SENTINEL_BYTES:-_SENTINEL_BYTES].decode("utf-8", errors="replace")
    return parse_modinfo(version, modinfo)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """Parse module information text as ``runtime/debug.ParseBuildInfo`` does."""
    main: Module | None = None
    main_path = ""
    deps: list[Module] = []
    settings: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        if kind == "path":
            main_path = rest
        elif kind in ("mod", "dep"):
            fields = rest.split("\t")
            if len(fields) not in (2, 3) or not fields[0]:
                raise CatalogError(f"Go module information line {number}: malformed {kind} line")
            module = Module(path=fields[0], version=fields[1])
            if kind == "mod":
                main = module
            else:
                deps.append(module)
        elif kind == "=>":
            fields = rest.split("\t")
            if len(fields) not in (2, 3) or not deps:
                raise CatalogError(f"Go module information line {number}: malformed => line")
            last = deps[-1]
            deps[-1] = Module(last.path, last.version, Module(fields[0], fields[1]))
        elif kind == "build":
            key, _, value = rest.partition("=")
            if key:
                settings[key] = _unquote(value)
    if main is None and main_path:
        main = Module(path=main_path, version="")
    return BuildInfo(go_version=go_version, main=main, deps=tuple(deps), settings=settings)


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(value: str) -> str:
    """Undo the Go string quoting of a build setting's value (``"-s -w"`` → ``-s -w``)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    out: list[str] = []
    body = value[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out.append(ch)
            i += 1
            continue
        code = body[i + 1]
        widths = {"x": 2, "u": 4, "U": 8}
        if code in widths:
            digits = body[i + 2 : i + 2 + widths[code]]
            try:
                out.append(chr(int(digits, 16)))
                i += 2 + widths[code]
                continue
            except (ValueError, OverflowError):
                pass
        out.append(_ESCAPES.get(code, code))
        i += 2
    return "".join(out)


# --- what the build info means as packages ---------------------------------------------

_SEMVER = re.compile(
    r"^v(0|[1-9]\d*)(\.(0|[1-9]\d*)(\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?)?$"
)
_DEFAULT_VERSION_PREFIXES = frozenset({"main", "common", "version", "cmd"})


def stdlib_version(go_version: str) -> str | None:
    """``go1.22.3 X:boringcrypto`` → ``v1.22.3``; None for development toolchains."""
    token = go_version.split(" ", 1)[0]
    if not token.startswith("go") or not token[2:3].isdigit():
        return None
    return "v" + token[2:]


def main_module_version(info: BuildInfo) -> str:
    """The main module's version, falling back to one stamped with ``-ldflags -X``.

    ``go build`` records ``(devel)`` for the main module (``go install mod@version`` records
    the real one), and Go 1.24+ may record a ``v0.0.0-…`` pseudo-version; release builds
    often stamp the version into a variable instead (``-X main.version=1.2.3``). Like
    Trivy, such a stamp is used when it is unambiguous.
    """
    if info.main is None:
        return ""
    version = "" if info.main.version == "(devel)" else info.main.version
    if version and not version.startswith("v0.0.0"):
        return version
    stamped = _ldflags_version(info.main.path, info.settings.get("-ldflags", ""))
    if stamped:
        return stamped if stamped.startswith("v") else "v" + stamped
    return version


def _ldflags_version(main_path: str, ldflags: str) -> str:
    try:
        args = shlex.split(ldflags)
    except ValueError:
        return ""
    assignments: dict[str, str] = {}
    pending_x = False
    for arg in args:
        if pending_x:
            value = arg
            pending_x = False
        elif arg in ("-X", "--X"):
            pending_x = True
            continue
        elif arg.startswith(("-X=", "--X=")):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-X"):
            value = arg[2:]
        else:
            continue
        key, sep, val = value.partition("=")
        if sep:
            assignments[key.lstrip("'")] = val.rstrip("'")
    # Most specific first: <main module>/cmd/…, then conventional package names, then any.
    ranked: list[list[str]] = [[], [], []]
    for key, val in assignments.items():
        if not key.lower().endswith((".version", ".ver")):
            continue
        if not (_SEMVER.match(val) or _SEMVER.match("v" + val)):
            continue
        if key.startswith(main_path + "/cmd/"):
            ranked[0].append(val)
        elif key.rsplit("/", 1)[-1].split(".", 1)[0].lower() in _DEFAULT_VERSION_PREFIXES:
            ranked[1].append(val)
        else:
            ranked[2].append(val)
    for versions in ranked:
        if versions:
            return versions[0] if len(versions) == 1 else ""
    return ""


def is_local_path(path: str) -> bool:
    """Whether a replacement names a directory rather than a module (``=> ../fork``)."""
    return path.startswith(("./", "../", "/")) or path in (".", "..") or "\\" in path
