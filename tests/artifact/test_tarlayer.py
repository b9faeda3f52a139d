"""walk_tar streams a layer: right entry types, whiteouts, links, limits and damage."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import tarfile
from pathlib import Path
from typing import IO, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.artifact.imagebuilder import (
    DIR,
    OPAQUE,
    WHITEOUT,
    Compression,
    Hardlink,
    LayerSpec,
    Symlink,
    compress,
    layer_tar,
    raw_tar,
    rechecksum,
)

from stockade.artifact.interface import Entry, EntryType, Limits
from stockade.artifact.tarlayer import (
    BlobLayer,
    FileRangeLayer,
    TarIndex,
    _CountedTarInfo,
    walk_tar,
)
from stockade.core.errors import ArtifactError, UnsafeArtifactError
from stockade.core.models import LayerInfo

SPEC: LayerSpec = {
    "etc/": DIR,
    "etc/os-release": "ID=debian\nVERSION_ID=12\n",
    "etc/hosts-link": Hardlink("./etc/x/../os-release"),
    "etc/alt": Symlink("/etc/os-release"),
    "usr/bin/tool": b"\x7fELF" + bytes(20_000),
    "var/cache/": OPAQUE,
    "var/old-file": WHITEOUT,
    "removed": WHITEOUT,
}


def walk(blob: bytes, limits: Limits | None = None) -> list[Entry]:
    return list(walk_tar(io.BytesIO(blob), where="test layer", limits=limits or Limits()))


def by_path(entries: list[Entry]) -> dict[str, Entry]:
    return {e.path: e for e in entries}


@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_entries_have_types_paths_and_content(compression: Compression) -> None:
    entries = walk(compress(layer_tar(SPEC), compression))
    got = [(e.path, e.type) for e in entries]
    assert got == [
        ("etc", EntryType.DIR),
        ("etc/os-release", EntryType.FILE),
        ("etc/hosts-link", EntryType.HARDLINK),
        ("etc/alt", EntryType.SYMLINK),
        ("usr/bin/tool", EntryType.FILE),
        ("var/cache", EntryType.OPAQUE),
        ("var/old-file", EntryType.WHITEOUT),
        ("removed", EntryType.WHITEOUT),
    ]
    entry = by_path(entries)
    assert entry["etc/hosts-link"].linkname == "etc/os-release"  # normalised
    assert entry["etc/alt"].linkname == "/etc/os-release"  # as stored, never followed
    assert entry["usr/bin/tool"].size == 20_004
    assert entry["etc"].mode == 0o755


@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_content_is_readable_while_the_entry_is_current(compression: Compression) -> None:
    files = {f"f{i}": os.urandom(i * 1000) for i in range(12)}
    seen = {}
    for entry in walk_tar(
        io.BytesIO(compress(layer_tar(files), compression)), where="l", limits=Limits()
    ):
        if entry.path in ("f3", "f7"):
            with entry.open() as fh:
                seen[entry.path] = fh.read()
        elif entry.path == "f5":
            with entry.open() as fh:
                seen["f5-head"] = fh.read(10)  # partly read, the walk must still line up
    assert seen == {"f3": files["f3"], "f7": files["f7"], "f5-head": files["f5"][:10]}


def test_content_of_an_earlier_entry_cannot_be_read_after_the_walk_moved_on() -> None:
    walker = walk_tar(
        io.BytesIO(layer_tar({"a": b"A" * 2000, "b": b"B" * 2000})), where="l", limits=Limits()
    )
    first = next(walker)
    next(walker)
    with pytest.raises(ValueError, match="only while its entry is current"):
        first.open().read()


def test_opaque_marker_at_the_root_hides_everything() -> None:
    entries = walk(raw_tar([(tarfile.TarInfo(".wh..wh..opq"), b"")]))
    assert [(e.path, e.type) for e in entries] == [("", EntryType.OPAQUE)]


def test_aufs_bookkeeping_is_skipped_but_may_be_a_hard_link_target() -> None:
    plnk = tarfile.TarInfo(".wh..wh.plnk/123.456")
    plnk.size = 3
    link = tarfile.TarInfo("usr/lib/libx.so")
    link.type = tarfile.LNKTYPE
    link.linkname = ".wh..wh.plnk/123.456"
    entries = walk(raw_tar([(tarfile.TarInfo(".wh..wh.aufs"), b""), (plnk, b"abc"), (link, None)]))
    assert [(e.path, e.type) for e in entries] == [("usr/lib/libx.so", EntryType.HARDLINK)]


def test_long_and_non_ascii_names_survive_gnu_and_pax_formats() -> None:
    long_name = "opt/" + "d" * 150 + "/ünïcode-file.txt"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        info = tarfile.TarInfo(long_name)
        info.size = 2
        entries = walk(raw_tar([(info, b"ok")], fmt=fmt))
        assert [e.path for e in entries] == [long_name]


def test_names_that_are_not_utf8_are_replaced_not_fatal() -> None:
    info = tarfile.TarInfo("ax")
    info.size = 1
    data = bytearray(raw_tar([(info, b"1")], fmt=tarfile.USTAR_FORMAT))
    data[0] = 0xFF  # the name's first byte: not UTF-8
    entries = walk(rechecksum(data))
    assert [e.path for e in entries] == ["\ufffdx"]


def test_an_empty_stream_and_an_empty_archive_are_empty_layers() -> None:
    assert walk(b"") == []
    assert walk(bytes(1024)) == []
    assert walk(compress(bytes(1024), "gzip")) == []


def test_an_archive_without_end_marker_is_accepted_like_go_and_gnu_tar_do() -> None:
    blob = layer_tar({"a": "1", "b": "2"})
    without_marker = blob[: 4 * 512]  # two headers, two data blocks, nothing after
    assert [e.path for e in walk(without_marker)] == ["a", "b"]


def test_limits_on_entries_and_bytes_name_the_option_to_raise() -> None:
    blob = layer_tar({f"f{i}": "x" * 100 for i in range(10)})
    with pytest.raises(UnsafeArtifactError, match="more than 5 entries") as err:
        walk(blob, Limits(max_entries=5))
    assert err.value.hint
    assert "--max-entries" in err.value.hint
    with pytest.raises(UnsafeArtifactError, match="more than 450 bytes") as err:
        walk(blob, Limits(max_total_bytes=450))
    assert err.value.hint
    assert "--max-size" in err.value.hint
    assert len(walk(blob, Limits(max_entries=10, max_total_bytes=1000))) == 10


def test_a_huge_declared_size_is_refused_before_anything_is_read() -> None:
    info = tarfile.TarInfo("huge")
    info.size = 50 * 1024**3  # 50 GiB declared, none of it present
    header = info.tobuf(tarfile.GNU_FORMAT)
    with pytest.raises(UnsafeArtifactError, match="bytes of files in one layer"):
        walk(header, Limits(max_total_bytes=1024**3))


def test_corrupt_header_in_the_middle_is_an_error_not_a_silent_end() -> None:
    blob = bytearray(layer_tar({"a": "1", "b": "2", "c": "3"}))
    # tarfile alone would stop quietly at a bad header and hide "b" and "c".
    blob[2 * 512 + 148 : 2 * 512 + 156] = b"9999999\0"  # b's checksum
    with pytest.raises(ArtifactError, match="corrupt tar header"):
        walk(bytes(blob))


def test_a_lone_zero_block_cannot_hide_the_members_after_it() -> None:
    hidden = layer_tar({"hidden": "secret"})
    with pytest.raises(ArtifactError, match="lone zero block"):
        walk(bytes(512) + hidden)
    with pytest.raises(ArtifactError, match="lone zero block"):
        walk(layer_tar({"a": "1"})[:1024] + bytes(512) + hidden)
    # Two zero blocks are the end, as for Go's archive/tar: what follows is not read.
    assert [e.path for e in walk(bytes(1024) + hidden)] == []
    assert [e.path for e in walk(bytes(512))] == []  # one zero block, then the end


def test_garbage_is_not_a_tar_layer() -> None:
    with pytest.raises(ArtifactError, match="not a valid tar layer"):
        walk(b"this is not a tar archive at all" * 40)


@pytest.mark.parametrize("cut", [700, 1024 + 100, 512 + 5])
def test_truncated_plain_tar_is_reported(cut: int) -> None:
    blob = layer_tar({"a": b"x" * 1500, "b": b"y" * 600})
    with pytest.raises(ArtifactError, match=r"truncated|not a valid tar"):
        walk(blob[:cut])


def test_truncation_while_reading_content_is_reported() -> None:
    blob = layer_tar({"a": b"x" * 5000})[:3000]
    entry = next(walk_tar(io.BytesIO(blob), where="l", limits=Limits()))
    with pytest.raises(ArtifactError, match="ends inside a member"):
        entry.open().read()


def test_oversized_pax_header_is_refused() -> None:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 64 * 1024 * 1024
    with pytest.raises(UnsafeArtifactError, match="bytes of tar metadata"):
        walk(info.tobuf(tarfile.USTAR_FORMAT) + bytes(1024))


def test_negative_size_in_a_base256_field_is_corrupt() -> None:
    block = bytearray(tarfile.TarInfo("neg").tobuf(tarfile.GNU_FORMAT))
    block[124:136] = b"\xff" * 12  # base-256 encoding of -1
    with pytest.raises(ArtifactError, match=r"negative size|not a valid tar"):
        walk(rechecksum(block) + bytes(1024))


def test_devices_and_fifos_are_listed_as_other() -> None:
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type = tarfile.FIFOTYPE
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    entries = walk(raw_tar([(fifo, None), (dev, None)]))
    assert [(e.path, e.type, e.opener) for e in entries] == [
        ("run/fifo", EntryType.OTHER, None),
        ("dev/null", EntryType.OTHER, None),
    ]


def gnu_tar_available() -> bool:
    try:
        out = subprocess.run(["tar", "--version"], capture_output=True, text=True, check=True)
    except (FileNotFoundError, subprocess.CalledProcessError):
        return False
    return "GNU tar" in out.stdout


@pytest.mark.skipif(not gnu_tar_available(), reason="GNU tar is not installed")
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_archives_written_by_gnu_tar_match_its_own_listing(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"
    (root / "deep" / ("n" * 120)).mkdir(parents=True)
    (root / "deep" / ("n" * 120) / "file.txt").write_text("deep")
    (root / "data.bin").write_bytes(os.urandom(100_000))
    os.link(root / "data.bin", root / "data-hardlink")
    (root / "rel-link").symlink_to("data.bin")
    os.mkfifo(root / "fifo")
    with open(root / "sparse", "wb") as fh:
        fh.seek(5 * 1024 * 1024)
        fh.write(b"end")
    archive = tmp_path / "layer.tar"
    subprocess.run(
        ["tar", f"--format={fmt}", "--sparse", "-C", str(root), "-cf", str(archive), "."],
        check=True,
    )
    listing = subprocess.run(
        ["tar", "-tf", str(archive)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    expected = {name.removeprefix("./").rstrip("/") for name in listing} - {"", "."}
    with open(archive, "rb") as fh:
        entries = by_path(list(walk_tar(fh, where="gnu", limits=Limits())))
        assert set(entries) == expected
    assert entries["data-hardlink"].type is EntryType.HARDLINK or (
        entries["data.bin"].type is EntryType.HARDLINK
    )
    assert entries["rel-link"].type is EntryType.SYMLINK
    assert entries["fifo"].type is EntryType.OTHER
    assert entries["sparse"].size == 5 * 1024 * 1024 + 3
    # Content through the walk equals the file on disk, sparse holes included.
    with open(archive, "rb") as fh:
        for entry in walk_tar(fh, where="gnu", limits=Limits()):
            if entry.path in ("sparse", "deep/" + "n" * 120 + "/file.txt"):
                with entry.open() as content:
                    assert content.read() == (root / entry.path).read_bytes()


class BytesLayer(BlobLayer):
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.info = LayerInfo(diff_id=None)
        self.closed: list[bool] = []

    def open_blob(self) -> IO[bytes]:
        return io.BytesIO(self.blob)


def test_blob_layer_walk_opens_and_closes_the_blob() -> None:
    layer = BytesLayer(compress(layer_tar({"a": "1"}), "gzip"))
    assert [e.path for e in layer.walk(Limits())] == ["a"]
    assert layer.label == "layer (unnamed)"


def test_file_range_layer_reads_only_its_range_and_pickles(tmp_path: Path) -> None:
    blob = compress(layer_tar({"etc/x": "inside"}), "zstd")
    container = tmp_path / "container.bin"
    container.write_bytes(b"J" * 777 + blob + b"trailing junk")
    layer = FileRangeLayer(LayerInfo(diff_id=None), container, 777, len(blob), label="ranged")
    clone = pickle.loads(pickle.dumps(layer))  # noqa: S301 - our own object, round-tripped
    entries = list(clone.walk(Limits()))
    assert [e.path for e in entries] == ["etc/x"]


def test_file_range_past_the_end_of_the_file_is_a_truncated_archive(tmp_path: Path) -> None:
    container = tmp_path / "short.bin"
    container.write_bytes(b"x" * 100)
    layer = FileRangeLayer(LayerInfo(diff_id=None), container, 50, 500, label="short")
    with pytest.raises(ArtifactError, match="too short"):
        list(layer.walk(Limits()))


def test_tar_index_follows_symlinks_between_members(tmp_path: Path) -> None:
    outer = tmp_path / "outer.tar"
    a = tarfile.TarInfo("blobs/real")
    a.size = 4
    link = tarfile.TarInfo("id/layer.tar")
    link.type = tarfile.SYMTYPE
    link.linkname = "../blobs/real"
    loop = tarfile.TarInfo("loop")
    loop.type = tarfile.SYMTYPE
    loop.linkname = "loop"
    outer.write_bytes(raw_tar([(a, b"data"), (link, None), (loop, None)]))
    index = TarIndex(outer, where="outer")
    member = index.find("id/layer.tar")
    assert member is not None
    assert index.read(member, max_bytes=100) == b"data"
    assert index.find("missing") is None
    with pytest.raises(UnsafeArtifactError, match="links"):
        index.find("loop")


# --- the fast header parser must read every header exactly as tarfile does ---------------

_FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname")
_MORE_FIELDS = ("uname", "gname", "devmajor", "devminor")


def parsed(cls: type[tarfile.TarInfo], buf: bytes) -> tuple[object, ...]:
    try:
        info = cls.frombuf(buf, "utf-8", "replace")
    except tarfile.TarError as exc:
        return ("error", type(exc).__name__)
    values = [getattr(info, name) for name in (*_FIELDS, *_MORE_FIELDS)]
    return (*values, getattr(info, "_sparse_structs", None))


OCTAL_FIELD = st.one_of(
    st.from_regex(rb"\A[0-7]{0,11}\x00?\Z"),
    st.from_regex(rb"\A *[0-7_]{0,9} *[\x00 ]{0,2}\Z"),
    st.binary(min_size=1, max_size=12),
)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """512-byte headers: real ones, edited ones, and fields of noise, checksummed or not."""
    info = tarfile.TarInfo(draw(st.text(max_size=120)))
    info.type = draw(st.sampled_from(sorted({*tarfile.SUPPORTED_TYPES, b"Z", b"\x00"})))
    info.linkname = draw(st.text(max_size=30))
    formats: list[Literal[0, 1, 2]] = [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]
    fmt = draw(st.sampled_from(formats))
    try:
        block = bytearray(info.tobuf(fmt, "utf-8", "surrogateescape")[-512:])
    except ValueError:
        block = bytearray(512)
    for start, width in ((100, 8), (108, 8), (124, 12), (136, 12), (329, 8), (345, 8)):
        if draw(st.booleans()):
            field = draw(OCTAL_FIELD)[:width]
            block[start : start + len(field)] = field
    if draw(st.booleans()):
        at = draw(st.integers(0, 511))
        block[at] = draw(st.integers(0, 255))
    mode = draw(st.sampled_from(["unsigned", "signed", "as-is"]))
    if mode != "as-is":
        block[148:156] = b" " * 8
        total = (
            sum(block) if mode == "unsigned" else sum((b - 256 if b > 127 else b) for b in block)
        )
        block[148:156] = b"%06o\0 " % (total & 0o777777)
    return bytes(block)


@settings(max_examples=400, deadline=None, database=None)
@given(headers())
def test_fast_header_parser_agrees_with_tarfile(buf: bytes) -> None:
    assert parsed(_CountedTarInfo, buf) == parsed(tarfile.TarInfo, buf)


def test_fast_header_parser_agrees_on_gnu_tar_headers(tmp_path: Path) -> None:
    if not gnu_tar_available():
        pytest.skip("GNU tar is not installed")
    root = tmp_path / "r"
    (root / ("p" * 90) / ("q" * 90)).mkdir(parents=True)
    (root / ("p" * 90) / ("q" * 90) / "f").write_text("x")
    (root / "l").symlink_to("f")
    os.mkfifo(root / "fifo")
    for fmt in ("gnu", "ustar", "posix", "v7", "oldgnu"):
        archive = tmp_path / f"{fmt}.tar"
        result = subprocess.run(
            ["tar", f"--format={fmt}", "-C", str(root), "-cf", str(archive), "."],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            continue  # v7 cannot store some names; the others are what matters
        data = archive.read_bytes()
        for offset in range(0, len(data), 512):
            block = data[offset : offset + 512]
            assert parsed(_CountedTarInfo, block) == parsed(tarfile.TarInfo, block)
