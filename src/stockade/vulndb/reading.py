"""Reading advisory documents from files, gzip files and zip archives, within bounds.

Feeds are untrusted input: a document may be damaged, enormous, or built to hurt the
reader. Everything here reads at most a set number of bytes, parses JSON and YAML
without executing anything (``yaml`` safe loading, with anchors and aliases bounded so a
"billion laughs" document cannot expand), and reports trouble as
:class:`~stockade.vulndb.errors.InvalidAdvisory` naming the document.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Final

import yaml

from stockade.vulndb.errors import InvalidAdvisory, VulnDBError

Warn = Callable[[str], None]
"""Where importers report what they skipped: one line of text for a person."""

_MiB: Final = 1024 * 1024

DOCUMENT_SUFFIXES: Final = (".json", ".yaml", ".yml")
"""File name endings that may hold advisory documents (each also with ``.gz``)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much an import will read; larger input is skipped with a warning."""

    max_document_bytes: int = 512 * _MiB
    """One file (after gzip decompression); the Debian tracker JSON is the largest feed."""
    max_member_bytes: int = 64 * _MiB
    """One member of a zip archive (OSV's ``all.zip`` holds one small record per member)."""
    max_archive_bytes: int = 32 * 1024 * _MiB
    """All members of one zip archive together, inflated."""
    max_archive_entries: int = 2_000_000
    max_ratio: int = 200
    """Largest inflated/compressed ratio of a zip member over 1 MiB (JSON reaches ~20)."""
    max_depth: int = 64
    """Deepest nesting of lists and mappings in a document."""


DEFAULT_LIMITS: Final = Limits()


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else (a FIFO, a device) is refused.

    The file is opened non-blocking and checked after opening, so a FIFO cannot stall
    the import and nothing can be swapped in between a check and the open.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise InvalidAdvisory(f"{path}: not a regular file")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of one document file, gunzipped when its name ends in ``.gz``."""
    try:
        with open_regular(path) as handle:
            info = os.fstat(handle.fileno())
            if info.st_size > limits.max_document_bytes and path.suffix != ".gz":
                raise InvalidAdvisory(
                    f"{path}: {info.st_size} bytes is over the limit of {limits.max_document_bytes}"
                )
            raw = _read_at_most(handle, limits.max_document_bytes, str(path))
    except OSError as exc:
        raise InvalidAdvisory(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if path.suffix == ".gz":
        return gunzip(raw, limits.max_document_bytes, str(path))
    return raw


def gunzip(raw: bytes, limit: int, name: str) -> bytes:
    """Decompress gzip data, refusing to produce more than ``limit`` bytes."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            return _read_at_most(stream, limit, name)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidAdvisory(f"{name}: damaged gzip data: {exc}") from exc


def _read_at_most(stream: IO[bytes] | gzip.GzipFile, limit: int, name: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidAdvisory(f"{name}: larger than the limit of {limit} bytes")
    return data


def document_name(name: str) -> str:
    """The name with a trailing ``.gz`` removed, whose suffix tells the syntax."""
    return name[:-3] if name.endswith(".gz") else name


def is_document_name(name: str) -> bool:
    return document_name(name).lower().endswith(DOCUMENT_SUFFIXES)


def decode_document(raw: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> object:
    """Parse JSON (or YAML, for ``.yaml``/``.yml`` names) into plain Python values.

    Raises :class:`InvalidAdvisory` for anything that is not a well-formed document
    within the limits.
    """
    syntax = "yaml" if document_name(name).lower().endswith((".yaml", ".yml")) else "json"
    try:
        # Some editors save JSON with a UTF-8 byte order mark, which json refuses.
        text = raw.removeprefix(codecs.BOM_UTF8)
        document = json.loads(text) if syntax == "json" else _load_yaml(text)
    # json and PyYAML reject bad input with ValueError/YAMLError, and with RecursionError,
    # OverflowError or TypeError on pathological nesting, numbers or keys.
    except (ValueError, yaml.YAMLError, RecursionError, OverflowError, TypeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidAdvisory(f"{name}: not valid {syntax.upper()}: {detail[:200]}") from exc
    if syntax == "yaml":
        # YAML aliases share one object between several places, so a small file can
        # stand for an exponentially large tree; a plain document has fewer values than
        # bytes. (JSON has no aliases, and its parser bounds nesting itself.)
        check_bounded(document, max_nodes=len(raw) + 64, max_depth=limits.max_depth, name=name)
    return document


_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(raw: bytes) -> object:
    # _LOADER is PyYAML's SafeLoader (the libyaml one when present): it builds plain
    # values and never constructs arbitrary objects.
    return yaml.load(raw, Loader=_LOADER)  # noqa: S506


def check_bounded(document: object, *, max_nodes: int, max_depth: int, name: str) -> None:
    """Refuse a document with more than ``max_nodes`` values or deeper than ``max_depth``."""
    remaining = max_nodes
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        remaining -= 1
        if remaining < 0:
            raise InvalidAdvisory(f"{name}: document expands past {max_nodes} values")
        if isinstance(value, dict):
            children: list[object] = [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple):
            children = list(value)
        else:
            continue
        if depth >= max_depth and children:
            raise InvalidAdvisory(f"{name}: nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


# --- zip archives -----------------------------------------------------------------------

_EOCD: Final = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE: Final = b"PK\x05\x06"
_ZIP64_LOCATOR: Final = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE: Final = b"PK\x06\x07"
_ZIP64_EOCD: Final = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE: Final = b"PK\x06\x06"
_ZIP_ERRORS: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    struct.error,
)


def skipped(name: str, reason: str) -> str:
    """The warning for a skipped document: ``NAME: skipped: REASON``."""
    prefix = f"{name}: "
    if reason.startswith(prefix):
        reason = reason[len(prefix) :]
    return f"{name}: skipped: {reason}"


def is_zip(path: Path) -> bool:
    try:
        with open_regular(path) as handle:
            return handle.read(4) == b"PK\x03\x04"
    except (OSError, InvalidAdvisory):
        return False


def iter_zip_documents(
    path: Path, *, warn: Warn, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, bytes)`` for every document member of a zip archive.

    Members with unsafe names (absolute, ``..``, backslashes), links, encrypted members,
    and members over the size or ratio limits are skipped with a warning. An archive that
    cannot be read, declares too many entries or inflates past the total limit is
    reported through ``warn`` and yields nothing more.
    """
    try:
        with open_regular(path) as handle:
            _check_entry_count(handle, limits.max_archive_entries, path)
            archive = zipfile.ZipFile(handle)
            total = 0
            for info in archive.infolist():
                member = f"{path}!{info.filename}"
                if info.is_dir() or not is_document_name(info.filename):
                    continue
                problem = _unsafe_member(info, limits)
                if problem:
                    warn(skipped(member, problem))
                    continue
                total += info.file_size
                if total > limits.max_archive_bytes:
                    warn(
                        skipped(
                            str(path),
                            f"the rest of the archive: it inflates past the limit of "
                            f"{limits.max_archive_bytes} bytes",
                        )
                    )
                    return
                try:
                    with archive.open(info) as stream:
                        data = _read_at_most(stream, limits.max_member_bytes, member)
                    if info.filename.endswith(".gz"):
                        data = gunzip(data, limits.max_member_bytes, member)
                except InvalidAdvisory as exc:
                    warn(skipped(member, exc.message))
                    continue
                except _ZIP_ERRORS as exc:
                    warn(skipped(member, f"damaged member: {exc}"))
                    continue
                yield info.filename, data
    except VulnDBError as exc:
        warn(skipped(str(path), exc.message))
    except _ZIP_ERRORS as exc:
        warn(skipped(str(path), f"not a readable zip archive: {exc}"))


def _unsafe_member(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    name = info.filename
    parts = PurePosixPath(name).parts
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or ".." in parts
        or (len(name) > 1 and name[1] == ":")
    ):
        return "unsafe member name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.file_size > limits.max_member_bytes:
        return f"{info.file_size} bytes is over the limit of {limits.max_member_bytes}"
    if info.file_size > _MiB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        return "compression ratio too high (a zip bomb?)"
    return None


def _check_entry_count(handle: IO[bytes], limit: int, path: Path) -> None:
    # zipfile builds a ZipInfo for every central directory entry before we see any, so
    # the count the archive declares is checked first.
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_size = min(size, _EOCD.size + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or at + _EOCD.size > len(tail):
        raise VulnDBError(f"{path}: not a zip archive (no end of central directory)")
    entries = _EOCD.unpack_from(tail, at)[4]
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == _ZIP64_LOCATOR_SIGNATURE:
        eocd64_offset = _ZIP64_LOCATOR.unpack_from(tail, locator_at)[2]
        handle.seek(eocd64_offset)
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) == _ZIP64_EOCD.size and record[:4] == _ZIP64_EOCD_SIGNATURE:
            entries = max(entries, _ZIP64_EOCD.unpack(record)[7])
    if entries > limit:
        raise VulnDBError(f"{path}: declares {entries} entries, over the limit of {limit}")
    handle.seek(0)
