"""Layer blobs are decompressed by what their bytes are, and damage is an ArtifactError."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import subprocess
from typing import TYPE_CHECKING

import pytest
import zstandard

from stockade.artifact.compression import Compression, detect_compression, open_decompressed
from stockade.core.errors import ArtifactError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Compressible but not trivial: random blocks repeated, then zeros.
DATA = os.urandom(64 * 1024) * 4 + bytes(300_000)


def read_all(blob: bytes, chunk: int = 65536) -> bytes:
    stream = open_decompressed(io.BytesIO(blob), where="blob")
    parts = []
    while part := stream.read(chunk):
        parts.append(part)
    return b"".join(parts)


class OneByteAtATime(io.RawIOBase):
    """A raw stream that returns a single byte per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        return self._data.readinto(memoryview(buffer)[:1])


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (gzip.compress(DATA), Compression.GZIP),
        (zstandard.ZstdCompressor().compress(DATA), Compression.ZSTD),
        (DATA, Compression.NONE),
    ],
)
def test_detects_by_magic_and_round_trips(blob: bytes, expected: Compression) -> None:
    assert detect_compression(blob[:6]) is expected
    assert read_all(blob) == DATA


def test_reads_what_the_system_gzip_and_zstd_tools_write() -> None:
    for tool in ("gzip", "zstd"):
        try:
            blob = subprocess.run([tool, "-c"], input=DATA, capture_output=True, check=True).stdout
        except FileNotFoundError:
            pytest.skip(f"{tool} is not installed")
        assert read_all(blob) == DATA


def test_concatenated_gzip_members_and_zstd_frames_are_one_stream() -> None:
    assert read_all(gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])) == DATA
    frames = zstandard.ZstdCompressor().compress(DATA[:1000]) + zstandard.ZstdCompressor(
        write_checksum=True
    ).compress(DATA[1000:])
    assert read_all(frames) == DATA


def test_zstd_skippable_frame_is_skipped() -> None:
    skippable = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    blob = skippable + zstandard.ZstdCompressor().compress(DATA)
    assert detect_compression(blob[:6]) is Compression.ZSTD
    assert read_all(blob) == DATA


def test_a_raw_stream_that_trickles_bytes_still_works() -> None:
    blob = gzip.compress(DATA[:5000])
    stream = open_decompressed(OneByteAtATime(blob), where="slow")
    assert stream.read(-1) == DATA[:5000]


def test_empty_blob_is_an_empty_plain_stream() -> None:
    assert read_all(b"") == b""


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (gzip.compress(DATA)[:2000], "gzip stream is truncated"),
        (gzip.compress(DATA)[:-4], "gzip stream is truncated"),
        (zstandard.ZstdCompressor().compress(DATA)[:2000], "zstd stream is truncated"),
        (zstandard.ZstdCompressor().compress(DATA)[:-1], "zstd stream is truncated"),
    ],
    ids=["gzip-middle", "gzip-trailer", "zstd-middle", "zstd-last-byte"],
)
def test_truncated_streams_are_reported(blob: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message) as err:
        read_all(blob)
    assert err.value.hint
    assert "incomplete" in err.value.hint


def test_gzip_with_a_damaged_body_fails_its_crc() -> None:
    blob = bytearray(gzip.compress(DATA))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)
    with pytest.raises(ArtifactError, match="corrupt gzip data"):
        read_all(bytes(blob))


def test_zstd_with_a_damaged_frame_is_reported() -> None:
    blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(DATA))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = os.urandom(64)
    with pytest.raises(ArtifactError, match=r"(corrupt|truncated).*zstd|zstd.*(corrupt|truncated)"):
        read_all(bytes(blob))


def test_zstd_with_trailing_garbage_is_reported() -> None:
    with pytest.raises(ArtifactError, match="corrupt zstd data"):
        read_all(zstandard.ZstdCompressor().compress(DATA) + b"trailing junk")


def test_xz_layers_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ArtifactError, match="xz-compressed") as err:
        read_all(lzma.compress(DATA))
    assert err.value.hint
    assert "gzip, zstd or plain tar" in err.value.hint
