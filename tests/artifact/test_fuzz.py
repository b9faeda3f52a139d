"""Fuzzing: whatever bytes arrive, only a StockadeError may come out of a source.

Random bytes test the front doors (magic detection, the first header); mutations of
valid gzip, zstd and tar layers, zips and image metadata reach deeper, where the
decompressors, tarfile's header parsing and our JSON checks do their work.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.artifact.imagebuilder import (
    DIR,
    OPAQUE,
    WHITEOUT,
    Hardlink,
    ImageConfig,
    OCIImage,
    Symlink,
    build_layers,
    compress,
    layer_tar,
    oci_blobs,
    tar_of_files,
)

from stockade.artifact.docker_archive import DockerArchiveSource
from stockade.artifact.interface import Limits
from stockade.artifact.oci_layout import OCILayoutSource
from stockade.artifact.tarlayer import walk_tar
from stockade.artifact.zipsource import ZipSource
from stockade.core.errors import StockadeError

# STOCKADE_FUZZ_EXAMPLES=20000 runs a deeper campaign than the quick default.
FUZZ = settings(
    max_examples=int(os.environ.get("STOCKADE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_LIMITS = Limits(max_entries=500, max_total_bytes=10_000_000, max_ratio=500)

SEED_LAYER = layer_tar(
    {
        "etc/": DIR,
        "etc/os-release": "ID=debian\n",
        "etc/link": Symlink("/etc/os-release"),
        "etc/hard": Hardlink("etc/os-release"),
        "var/": OPAQUE,
        "old": WHITEOUT,
        "opt/" + "long-name-" * 12: b"x" * 700,
    }
)


def sparse_seed() -> bytes:
    """A GNU sparse 1.0 member (map in the data, as GNU tar --posix --sparse writes)."""
    info = tarfile.TarInfo("GNUSparseFile.0/sparse")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "sparse",
        "GNU.sparse.realsize": "10000",
    }
    data = b"2\n0\n5\n8000\n5\n".ljust(512, b"\0") + b"hello" + b"world"
    info.size = len(data)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


SPARSE_SEED = sparse_seed()
SEEDS = {
    "sparse": SPARSE_SEED,
    "plain": SEED_LAYER,
    "gzip": compress(SEED_LAYER, "gzip"),
    "zstd": compress(SEED_LAYER, "zstd"),
}


def consume_layer(blob: bytes) -> None:
    try:
        for entry in walk_tar(io.BytesIO(blob), where="fuzz", limits=SMALL_LIMITS):
            if entry.opener is not None:
                with entry.open() as stream:
                    stream.read()
    except StockadeError:
        pass


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes overwritten, a slice removed or inserted, or cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["overwrite", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "overwrite":
            data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=4096))
def test_walk_tar_random_bytes(blob: bytes) -> None:
    consume_layer(blob)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)).flatmap(lambda kind: mutated(SEEDS[kind])))
def test_walk_tar_mutated_layers(blob: bytes) -> None:
    consume_layer(blob)


@FUZZ
@given(st.binary(max_size=600).map(lambda header: header + bytes(1024)))
def test_walk_tar_random_headers(blob: bytes) -> None:
    # Headers that look like tar: a valid checksum over random fields reaches deeper.
    if len(blob) >= 512:
        head = bytearray(blob[:512])
        head[148:156] = b" " * 8
        head[148:156] = b"%06o\0 " % sum(head)
        blob = bytes(head) + blob[512:]
    consume_layer(blob)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Config",
                    "RepoTags",
                    "Layers",
                    "rootfs",
                    "diff_ids",
                    "history",
                    "empty_layer",
                    "created_by",
                    "architecture",
                    "os",
                    "manifests",
                    "mediaType",
                    "digest",
                    "size",
                    "platform",
                    "annotations",
                    "config",
                    "layers",
                    "schemaVersion",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)

GOOD_LAYERS = build_layers([{"etc/os-release": "ID=x\n"}], "gzip")
GOOD_CONFIG = ImageConfig().document(GOOD_LAYERS)


def json_or_garbage() -> st.SearchStrategy[bytes]:
    return JSON.map(lambda doc: json.dumps(doc).encode()) | st.binary(max_size=64)


def read_docker_archive(manifest: bytes, config: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "img.tar"
        path.write_bytes(
            tar_of_files(
                {"manifest.json": manifest, "c.json": config, "l.tar": GOOD_LAYERS[0].blob}
            )
        )
        try:
            with DockerArchiveSource(path) as source:
                source.info()
                for layer in source.layers():
                    list(layer.walk(SMALL_LIMITS))
        except StockadeError:
            pass


@FUZZ
@given(manifest=json_or_garbage(), config=json_or_garbage() | st.just(GOOD_CONFIG))
def test_docker_archive_metadata(manifest: bytes, config: bytes) -> None:
    read_docker_archive(manifest, config)


@FUZZ
@given(
    manifest=st.fixed_dictionaries(
        {"Config": st.just("c.json") | st.text(max_size=8)},
        optional={
            "Layers": st.lists(st.sampled_from(["l.tar", "missing", "../x"]), max_size=3) | JSON,
            "RepoTags": st.lists(st.text(max_size=8), max_size=2) | JSON,
        },
    ),
    config=st.fixed_dictionaries(
        {"rootfs": st.fixed_dictionaries({"diff_ids": st.just([GOOD_LAYERS[0].diff_id]) | JSON})},
        optional={"history": JSON, "architecture": JSON, "os": JSON},
    ),
)
def test_docker_archive_near_valid_metadata(manifest: dict[str, Any], config: Any) -> None:
    read_docker_archive(json.dumps([manifest]).encode(), json.dumps(config).encode())


OCI_BLOBS, OCI_INDEX_DOC = oci_blobs([OCIImage([{"a": "1"}], tag="t")])


@FUZZ
@given(
    index=json_or_garbage() | mutated(json.dumps(OCI_INDEX_DOC).encode()),
    blob_edits=st.dictionaries(st.sampled_from(sorted(OCI_BLOBS)), json_or_garbage(), max_size=2),
    platform=st.sampled_from([None, "linux/amd64", "linux/arm64/v8"]),
)
def test_oci_layout_metadata(
    index: bytes, blob_edits: dict[str, bytes], platform: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        (root / "index.json").write_bytes(index)
        for digest, data in {**OCI_BLOBS, **blob_edits}.items():
            (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        try:
            with OCILayoutSource(root, platform=platform) as source:
                for layer in source.layers():
                    list(layer.walk(SMALL_LIMITS))
        except StockadeError:
            pass


def seed_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("handler.py", "def handler(event, ctx):\n    return 1\n" * 20)
        archive.writestr("lib/", b"")
        link = zipfile.ZipInfo("lib/current")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "handler.py")
        archive.writestr(zipfile.ZipInfo("stored.txt"), b"stored " * 30)
    return out.getvalue()


SEED_ZIP = seed_zip()


@FUZZ
@given(st.binary(max_size=2048) | mutated(SEED_ZIP))
def test_zip_source(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fn.zip"
        path.write_bytes(blob)
        try:
            with ZipSource(path) as source:
                for entry in source.layers()[0].walk(SMALL_LIMITS):
                    if entry.opener is not None:
                        with entry.open() as stream:
                            stream.read()
        except StockadeError:
            pass


def test_seeds_are_valid() -> None:
    """The mutation seeds must themselves read cleanly, or the fuzzing proves little."""
    for kind in ("plain", "gzip", "zstd"):
        entries = list(walk_tar(io.BytesIO(SEEDS[kind]), where="seed", limits=Limits()))
        assert len(entries) == 7
    walker = walk_tar(io.BytesIO(SPARSE_SEED), where="seed", limits=Limits())
    sparse = next(walker)
    assert sparse.size == 10000
    content = sparse.open().read()
    assert list(walker) == []
    assert (content[:5], content[8000:8005], content.count(0)) == (b"hello", b"world", 9990)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fn.zip"
        path.write_bytes(SEED_ZIP)
        assert len(list(ZipSource(path).layers()[0].walk(Limits()))) == 4
