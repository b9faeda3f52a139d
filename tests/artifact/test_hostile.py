"""Hostile archives: every trick ends in a clear error, and nothing is written anywhere.

Stockade never extracts, but each case proves it: the walk runs with its working
directory deep inside a fresh tmp dir, and afterwards no file has appeared in that tree
or at the absolute paths the archive aims at.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import zstandard
from tests.artifact.imagebuilder import (
    Compression,
    OCIImage,
    PkgListCataloger,
    compress,
    docker_archive,
    files_of,
    layer_tar,
    oci_blobs,
    raw_tar,
    tar_of_files,
)

from stockade.artifact.detect import open_artifact
from stockade.artifact.docker_archive import DockerArchiveSource
from stockade.artifact.interface import Limits
from stockade.artifact.oci_layout import OCILayoutSource
from stockade.artifact.tarlayer import walk_tar
from stockade.artifact.zipsource import ZipSource
from stockade.core.errors import ArtifactError, UnsafeArtifactError
from stockade.inventory.engine import build_inventory


@pytest.fixture
def canary() -> Iterator[Path]:
    """An absolute path outside every tmp dir that a hostile archive aims at."""
    path = Path("/tmp") / f"stockade-hostile-{uuid.uuid4().hex}"
    yield path
    assert not path.exists(), f"{path} was created"


@contextmanager
def nothing_written(root: Path) -> Iterator[Path]:
    """Run with the cwd three levels below ``root``; fail if any file appears under it."""
    cwd = root / "a" / "b" / "cwd"
    cwd.mkdir(parents=True)
    before = {p for p in root.rglob("*")}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        yield cwd
    finally:
        os.chdir(old)
    after = {p for p in root.rglob("*")}
    assert after == before, f"files appeared: {sorted(after - before)}"


def member(name: str, data: bytes = b"pwned", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def scan_layer(blob: bytes, limits: Limits | None = None) -> None:
    for entry in walk_tar(io.BytesIO(blob), where="hostile layer", limits=limits or Limits()):
        if entry.opener:
            entry.open().read()


def in_image(tmp: Path, blob_tar: bytes) -> Path:
    """The hostile layer inside a docker-archive, to go through the whole source."""
    path = docker_archive(tmp / "img.tar", [{"placeholder": "x"}])
    files = files_of(path)
    layer_name = next(name for name in files if name.endswith("layer.tar"))
    files[layer_name] = blob_tar
    config_name = next(name for name in files if name.endswith(".json") and "/" not in name)
    config = json.loads(files[config_name])
    config["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    files[config_name] = json.dumps(config).encode()
    path.write_bytes(tar_of_files(files))
    return path


def inventory(path: Path, limits: Limits | None = None, workers: int = 2) -> None:
    with open_artifact(str(path)) as source:
        build_inventory(source, [PkgListCataloger()], limits=limits, workers=workers)


def oversized_pax_header() -> bytes:
    """A pax header claiming 100 MiB: tarfile alone would try to read it all into memory."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 100 * 1024 * 1024
    return info.tobuf(tarfile.USTAR_FORMAT) + bytes(1024)


def chained_pax_headers(count: int = 3000) -> bytes:
    """Thousands of pax headers before one member: tarfile recurses once per header."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    record = b"20 comment=abcdefgh\n"
    header.size = len(record)
    one = header.tobuf(tarfile.USTAR_FORMAT) + record.ljust(512, b"\0")
    return one * count + tarfile.TarInfo("f").tobuf(tarfile.USTAR_FORMAT) + bytes(1024)


def sparse_map_bomb() -> bytes:
    """A GNU sparse 1.0 member whose map claims billions of regions (read into a list)."""
    info = tarfile.TarInfo("sparse")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "sparse",
        "GNU.sparse.realsize": "10",
    }
    sparse_map = b"9999999999\n" + b"0\n" * (2 * 1024 * 1024)
    info.size = len(sparse_map)
    return raw_tar([(info, sparse_map)])


HOSTILE_LAYERS: dict[str, tuple[Callable[[Path], bytes], type[Exception], str]] = {
    "path-traversal": (
        lambda canary: raw_tar([member("../../evil"), member("../" * 8 + str(canary)[1:])]),
        UnsafeArtifactError,
        "escapes the archive root",
    ),
    "absolute-member": (
        lambda canary: raw_tar([member(str(canary))]),
        UnsafeArtifactError,
        "has an absolute path",
    ),
    "symlink-out-then-member-through-it": (
        lambda canary: raw_tar([link("escape", str(canary)), member("escape/file")]),
        UnsafeArtifactError,
        "lies below 'escape', a symlink",
    ),
    "relative-symlink-climbing-out-then-member": (
        lambda canary: raw_tar([link("up", "../../../../.."), member("up/tmp/evil")]),
        UnsafeArtifactError,
        "lies below 'up', a symlink",
    ),
    "hardlink-to-missing-member": (
        lambda canary: raw_tar([link("etc/shadow-copy", "etc/shadow", tarfile.LNKTYPE)]),
        UnsafeArtifactError,
        "not an earlier member of this layer",
    ),
    "hardlink-to-absolute-host-path": (
        lambda canary: raw_tar([link("steal", str(canary), tarfile.LNKTYPE)]),
        UnsafeArtifactError,
        "has an absolute path",
    ),
    "whiteout-of-parent": (
        lambda canary: raw_tar([member("etc/.wh...", b"")]),
        UnsafeArtifactError,
        "climbs out of its directory",
    ),
    "oversized-pax-header": (
        lambda canary: oversized_pax_header(),
        UnsafeArtifactError,
        "bytes of tar metadata",
    ),
    "chained-pax-headers": (
        lambda canary: chained_pax_headers(),
        UnsafeArtifactError,
        "more than 32 chained tar headers",
    ),
    "sparse-map-bomb": (
        lambda canary: sparse_map_bomb(),
        UnsafeArtifactError,
        "bytes of tar metadata",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_LAYERS, ids=list(HOSTILE_LAYERS))
def test_hostile_layer_is_refused_and_writes_nothing(
    tmp_path: Path, canary: Path, case: str
) -> None:
    build, error, message = HOSTILE_LAYERS[case]
    blob = build(canary)
    with nothing_written(tmp_path):
        compressions: tuple[Compression, ...] = ("plain", "gzip", "zstd")
        for compression in compressions:
            with pytest.raises(error, match=message):
                scan_layer(compress(blob, compression))


@pytest.mark.parametrize("case", ["path-traversal", "symlink-out-then-member-through-it"])
def test_hostile_layer_inside_an_image_fails_the_whole_scan(
    tmp_path: Path, canary: Path, case: str
) -> None:
    build, error, message = HOSTILE_LAYERS[case]
    image = in_image(tmp_path, gzip.compress(build(canary)))
    with nothing_written(tmp_path / "run"), pytest.raises(error, match=message):
        inventory(image)


def test_tar_bomb_of_many_entries(tmp_path: Path) -> None:
    blob = compress(layer_tar({f"d/{i}": b"" for i in range(5000)}), "gzip")
    with (
        nothing_written(tmp_path),
        pytest.raises(UnsafeArtifactError, match="more than 1000 entries") as err,
    ):
        scan_layer(blob, Limits(max_entries=1000))
    assert err.value.hint == "raise --max-entries if this image is trusted"


def test_tar_bomb_of_a_huge_declared_size(tmp_path: Path) -> None:
    info = tarfile.TarInfo("bomb")
    info.size = 1024**4  # one TiB declared in a few hundred compressed bytes
    blob = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + bytes(10 * 1024 * 1024))
    assert len(blob) < 20_000
    with (
        nothing_written(tmp_path),
        pytest.raises(UnsafeArtifactError, match="bytes of files") as err,
    ):
        scan_layer(blob, Limits(max_total_bytes=10 * 1024**3))
    assert err.value.hint == "raise --max-size if this image is trusted"


def test_tar_bomb_of_real_zeros_stops_at_the_size_limit(tmp_path: Path) -> None:
    # 200 MB of zeros gzip to ~200 KB; the walk stops at the limit, never holding them.
    files = {f"zeros{i}": bytes(20 * 1024 * 1024) for i in range(10)}
    blob = compress(layer_tar(files), "zstd")
    with (
        nothing_written(tmp_path),
        pytest.raises(UnsafeArtifactError, match="more than 50000000 bytes"),
    ):
        scan_layer(blob, Limits(max_total_bytes=50_000_000))


def zip_bytes(members: dict[str, bytes | tuple[int, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(value, tuple):
                info.external_attr = value[0] << 16
                archive.writestr(info, value[1])
            else:
                archive.writestr(info, value)
    return out.getvalue()


def scan_zip(path: Path, limits: Limits) -> None:
    for entry in ZipSource(path).layers()[0].walk(limits):
        if entry.opener:
            entry.open().read()


HOSTILE_ZIPS: dict[str, tuple[Callable[[Path], bytes], type[Exception], str, Limits]] = {
    "zip-path-traversal": (
        lambda canary: zip_bytes({"../../evil.py": b"x"}),
        UnsafeArtifactError,
        "escapes the archive root",
        Limits(),
    ),
    "zip-absolute-member": (
        lambda canary: zip_bytes({str(canary): b"x"}),
        UnsafeArtifactError,
        "has an absolute path",
        Limits(),
    ),
    "zip-symlink-then-member-through-it": (
        lambda canary: zip_bytes(
            {"out": (stat.S_IFLNK | 0o777, str(canary).encode()), "out/evil": b"x"}
        ),
        UnsafeArtifactError,
        "lies below 'out', a symlink",
        Limits(),
    ),
    "zip-bomb-ratio": (
        lambda canary: zip_bytes({"bomb": bytes(50 * 1024 * 1024)}),
        UnsafeArtifactError,
        "a ratio over 100",
        Limits(max_ratio=100),
    ),
    "zip-bomb-total": (
        lambda canary: zip_bytes({f"z{i}": bytes(1024 * 1024) for i in range(20)}),
        UnsafeArtifactError,
        "more than 10000000 bytes uncompressed",
        Limits(max_total_bytes=10_000_000),
    ),
    "zip-bomb-entries": (
        lambda canary: zip_bytes({f"e{i}": b"" for i in range(3000)}),
        UnsafeArtifactError,
        "declares 3000 entries",
        Limits(max_entries=1000),
    ),
}


@pytest.mark.parametrize("case", HOSTILE_ZIPS, ids=list(HOSTILE_ZIPS))
def test_hostile_zip_is_refused_and_writes_nothing(tmp_path: Path, canary: Path, case: str) -> None:
    build, error, message, limits = HOSTILE_ZIPS[case]
    path = tmp_path / "fn.zip"
    path.write_bytes(build(canary))
    with nothing_written(tmp_path / "run"), pytest.raises(error, match=message):
        scan_zip(path, limits)


def test_zip_member_inflating_past_its_declared_size(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"bomb": bytes(5 * 1024 * 1024)}))
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = (4096).to_bytes(4, "little")  # declares 4 KiB
    path = tmp_path / "lie.zip"
    path.write_bytes(bytes(data))
    assert [e.size for e in ZipSource(path).layers()[0].walk(Limits())] == [4096]
    with (
        nothing_written(tmp_path / "run"),
        pytest.raises(UnsafeArtifactError, match="does not match its declared size"),
    ):
        scan_zip(path, Limits())


GOOD_LAYER = layer_tar({f"f{i}": os.urandom(3000) for i in range(50)})


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (
            gzip.compress(GOOD_LAYER)[: len(gzip.compress(GOOD_LAYER)) // 2],
            "gzip stream is truncated",
        ),
        (
            gzip.compress(GOOD_LAYER)[:-3],
            "gzip stream is truncated",
        ),
        (
            gzip.compress(GOOD_LAYER)[:5000] + bytes(3000) + gzip.compress(GOOD_LAYER)[8000:],
            "corrupt gzip data|not a valid tar|corrupt tar header",
        ),
        (
            zstandard.ZstdCompressor().compress(GOOD_LAYER)[:20_000],
            "zstd stream is truncated",
        ),
        (
            zstandard.ZstdCompressor().compress(GOOD_LAYER)[:6]
            + b"\xff" * 50
            + zstandard.ZstdCompressor().compress(GOOD_LAYER)[56:],
            "zstd",
        ),
    ],
    ids=[
        "truncated-gzip",
        "gzip-without-trailer",
        "corrupt-gzip",
        "truncated-zstd",
        "corrupt-zstd",
    ],
)
def test_damaged_compressed_layers_in_an_image(tmp_path: Path, blob: bytes, message: str) -> None:
    image = in_image(tmp_path, blob)
    with nothing_written(tmp_path / "run"), pytest.raises(ArtifactError, match=message):
        inventory(image)


def test_manifest_naming_a_missing_layer(tmp_path: Path) -> None:
    manifest = [{"Config": "c.json", "RepoTags": [], "Layers": ["../../../etc/passwd"]}]
    path = docker_archive(tmp_path / "img.tar", [{"a": "1"}], manifest=manifest)
    with nothing_written(tmp_path / "run"), pytest.raises(ArtifactError):
        DockerArchiveSource(path)
    manifest = [{"Config": "c.json", "RepoTags": [], "Layers": ["nowhere/layer.tar"]}]
    path = docker_archive(tmp_path / "img2.tar", [{"a": "1"}], manifest=manifest)
    with pytest.raises(ArtifactError, match="is not in the archive"):
        DockerArchiveSource(path)


def test_malformed_manifest_json(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    path.write_bytes(tar_of_files({"manifest.json": b"[{]"}))
    with nothing_written(tmp_path / "run"), pytest.raises(ArtifactError, match="malformed JSON"):
        DockerArchiveSource(path)


def test_oci_index_with_a_traversing_digest(tmp_path: Path) -> None:
    _, index = oci_blobs([OCIImage([{"a": "1"}])])
    root = tmp_path / "layout"
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index["manifests"][0]["digest"] = "sha256/../../../../etc/passwd"
    (root / "index.json").write_text(json.dumps(index))
    with (
        nothing_written(tmp_path / "run"),
        pytest.raises(ArtifactError, match="not a valid digest"),
    ):
        OCILayoutSource(root)
