"""A zip archive (an AWS Lambda or other serverless function package) as a one-layer source.

Members are listed from the central directory and read in place; nothing is extracted.
Zip bombs are stopped three ways: the entry count the end-of-central-directory record
declares is checked before :mod:`zipfile` builds its member list, declared sizes count
against :class:`~stockade.artifact.interface.Limits` (total bytes, and the
uncompressed/compressed ratio of each member), and every read is counted so a member that
inflates past what it declared is refused. Symlinks (a Unix mode in the external
attributes) are reported with their target, never followed. Encrypted members and ones
with compression methods Python cannot inflate are listed as OTHER: they cannot be read.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Final

from stockade.artifact.interface import Entry, EntryType, Layer, Limits, Source
from stockade.artifact.paths import clean_member_path
from stockade.artifact.tarlayer import check_not_below_link
from stockade.core.errors import ArtifactError, StockadeError, UnsafeArtifactError
from stockade.core.models import ArtifactInfo, LayerInfo

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_EOCD: Final = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE: Final = b"PK\x05\x06"
_ZIP64_LOCATOR: Final = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE: Final = b"PK\x06\x07"
_ZIP64_EOCD: Final = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE: Final = b"PK\x06\x06"
_MAX_COMMENT: Final = 0xFFFF
_MAX_SYMLINK_TARGET: Final = 4096
_READABLE_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_ENCRYPTED_FLAG: Final = 0x1

# What zipfile and its decompressors raise on damaged archives and members.
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
    KeyError,
    IndexError,
    struct.error,
)


def declared_entry_count(fh: IO[bytes]) -> int | None:
    """Entries the end-of-central-directory record declares, or None when it has none."""
    try:
        fh.seek(0, io.SEEK_END)
        file_size = fh.tell()
        tail_size = min(file_size, _EOCD.size + _MAX_COMMENT)
        fh.seek(file_size - tail_size)
        tail = fh.read(tail_size)
    except OSError:
        return None
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    fields = _EOCD.unpack_from(tail, at)
    total = int(fields[4])
    if total != 0xFFFF:
        return total
    # A Zip64 archive: the real count is in the Zip64 end record the locator points to.
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at < 0:
        return total
    signature, _, zip64_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
    if signature != _ZIP64_LOCATOR_SIGNATURE:
        return total
    try:
        fh.seek(zip64_offset)
        record = fh.read(_ZIP64_EOCD.size)
    except (OSError, ValueError):
        return total
    if len(record) < _ZIP64_EOCD.size or not record.startswith(_ZIP64_EOCD_SIGNATURE):
        return total
    return int(_ZIP64_EOCD.unpack(record)[7])


class ZipLayer(Layer):
    """The whole zip as one layer; holds only the path, so it pickles."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.info = LayerInfo(diff_id=None)

    def walk(self, limits: Limits) -> Iterator[Entry]:
        where = self.path
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - handed to ZipFile, closed below
        except OSError as exc:
            raise ArtifactError(f"{where}: cannot open: {exc.strerror}") from exc
        with fh:
            declared = declared_entry_count(fh)
            if declared is not None and declared > limits.max_entries:
                raise UnsafeArtifactError(
                    f"{where}: the zip declares {declared} entries, more than the limit of "
                    f"{limits.max_entries} (zip bomb?)",
                    hint="raise --max-entries if this archive is trusted",
                )
            try:
                archive = zipfile.ZipFile(fh)
                members = archive.infolist()
            except _ZIP_ERRORS as exc:
                raise ArtifactError(
                    f"{where}: not a readable zip archive ({exc})",
                    hint="the archive is damaged or not a zip",
                ) from exc
            with archive:
                yield from self._entries(archive, members, limits, where=where)

    def _entries(
        self,
        archive: zipfile.ZipFile,
        members: Sequence[zipfile.ZipInfo],
        limits: Limits,
        *,
        where: str,
    ) -> Iterator[Entry]:
        total = 0
        links: set[str] = set()
        for count, info in enumerate(members, start=1):
            if count > limits.max_entries:
                raise UnsafeArtifactError(
                    f"{where}: more than {limits.max_entries} entries (zip bomb?)",
                    hint="raise --max-entries if this archive is trusted",
                )
            path = clean_member_path(info.filename, where=where)
            if links:
                check_not_below_link(path, links, where=where)
            unix_mode = info.external_attr >> 16
            kind = stat.S_IFMT(unix_mode)
            permissions = stat.S_IMODE(unix_mode)
            # Not ZipInfo.is_dir(): it indexes the name's last character, and a hostile
            # central directory can hold an empty name.
            if info.filename.endswith("/") or kind == stat.S_IFDIR:
                if path:
                    yield Entry(path, EntryType.DIR, mode=permissions or 0o755)
                continue
            if not path:
                raise ArtifactError(f"{where}: a member has an empty name")
            readable = (
                not info.flag_bits & _ENCRYPTED_FLAG and info.compress_type in _READABLE_METHODS
            )
            if kind not in (0, stat.S_IFREG, stat.S_IFLNK) or not readable:
                yield Entry(path, EntryType.OTHER, mode=permissions)
                continue
            _check_ratio(info, limits, where=where)
            total += info.file_size
            if total > limits.max_total_bytes:
                raise UnsafeArtifactError(
                    f"{where}: more than {limits.max_total_bytes} bytes uncompressed (zip bomb?)",
                    hint="raise --max-size if this archive is trusted",
                )
            opener = _MemberOpener(archive, info, limits, where=where)
            if kind == stat.S_IFLNK:
                links.add(path)
                yield Entry(
                    path, EntryType.SYMLINK, mode=permissions, linkname=_link_target(opener)
                )
                continue
            yield Entry(
                path,
                EntryType.FILE,
                size=info.file_size,
                mode=permissions or 0o644,
                opener=opener,
            )


def _check_ratio(info: zipfile.ZipInfo, limits: Limits, *, where: str) -> None:
    if info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise UnsafeArtifactError(
            f"{where}: member {info.filename!r} declares {info.file_size} bytes from "
            f"{info.compress_size} compressed, a ratio over {limits.max_ratio} (zip bomb?)",
            hint="the archive is hostile; it was not read further",
        )


def _link_target(opener: _MemberOpener) -> str:
    with opener() as stream:
        target = stream.read(_MAX_SYMLINK_TARGET + 1)
    if len(target) > _MAX_SYMLINK_TARGET:
        raise ArtifactError(f"{opener.where}: symlink {opener.info.filename!r} is too long")
    return target.decode("utf-8", errors="replace")


class _MemberOpener:
    __slots__ = ("archive", "info", "limits", "where")

    def __init__(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, *, where: str
    ) -> None:
        self.archive = archive
        self.info = info
        self.limits = limits
        self.where = where

    def __call__(self) -> IO[bytes]:
        try:
            stream = self.archive.open(self.info)
        except _ZIP_ERRORS as exc:
            raise ArtifactError(
                f"{self.where}: cannot open member {self.info.filename!r} ({exc})",
                hint="the archive is damaged",
            ) from exc
        return io.BufferedReader(_CountedMember(stream, self.info, self.limits, self.where))


class _CountedMember(io.RawIOBase):
    """A member's content, counted: more bytes than declared is a lie, and refused."""

    def __init__(
        self, stream: IO[bytes], info: zipfile.ZipInfo, limits: Limits, where: str
    ) -> None:
        super().__init__()
        self._stream = stream
        self._info = info
        self._where = where
        self._allowed = min(info.file_size, limits.max_ratio * max(info.compress_size, 1))
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._stream.read(len(view))
        except StockadeError:
            raise
        except zipfile.BadZipFile as exc:
            # zipfile stops at the declared size; a CRC mismatch there means the content
            # is not what the archive claims (corruption, or a bomb lying about its size).
            raise UnsafeArtifactError(
                f"{self._where}: member {self._info.filename!r} does not match its declared "
                f"size and CRC-32 ({exc})",
                hint="the archive is corrupt or hostile",
            ) from exc
        except _ZIP_ERRORS as exc:
            raise ArtifactError(
                f"{self._where}: cannot read member {self._info.filename!r} ({exc})",
                hint="the archive is damaged",
            ) from exc
        self._read += len(data)
        if self._read > self._allowed:
            raise UnsafeArtifactError(
                f"{self._where}: member {self._info.filename!r} inflates past its declared "
                f"{self._info.file_size} bytes (zip bomb?)",
                hint="the archive is hostile; it was not read further",
            )
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class ZipSource(Source):
    """A zip file as one layer (kind ``zip``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as fh:
                found = declared_entry_count(fh)
        except OSError as exc:
            raise ArtifactError(f"{self.path}: cannot open: {exc.strerror}") from exc
        if found is None:
            raise ArtifactError(
                f"{self.path}: not a zip archive (no end-of-central-directory record)",
                hint="name a .zip function package, or use --type for other archives",
            )
        self._layer = ZipLayer(self.path)

    def info(self) -> ArtifactInfo:
        return ArtifactInfo(name=self.path, kind="zip", layers=(self._layer.info,))

    def layers(self) -> Sequence[Layer]:
        return [self._layer]
