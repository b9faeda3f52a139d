"""OCI image layouts: directory and tar, index selection, media types, missing or bad blobs.

Includes images written by the real tools (umoci builds a layout, skopeo converts it to a
docker-archive and an oci-archive): all three must read the same.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.artifact.imagebuilder import (
    DOCKER_CONFIG,
    OCI_INDEX,
    LayerSpec,
    OCIImage,
    PkgListCataloger,
    build_layers,
    oci_blobs,
    oci_layout,
    sha256,
)

from stockade.artifact.detect import detect_type, open_artifact
from stockade.artifact.docker_archive import DockerArchiveSource
from stockade.artifact.interface import EntryType, Limits, Source
from stockade.artifact.oci_layout import OCILayoutSource, platform_matches
from stockade.core.errors import ArtifactError, UnsafeArtifactError, UsageError
from stockade.inventory.engine import build_inventory

AMD = OCIImage([{"etc/arch": "amd64"}], platform="linux/amd64", tag="amd")
ARM = OCIImage([{"etc/arch": "arm64"}], platform="linux/arm64/v8", tag="arm", compression="zstd")


def arch_file(source: Source) -> bytes:
    for layer in source.layers():
        for entry in layer.walk(Limits()):
            if entry.path == "etc/arch":
                return entry.open().read()
    raise AssertionError("etc/arch not found")


@pytest.mark.parametrize("as_tar", [False, True], ids=["dir", "tar"])
def test_reads_metadata_and_layers(tmp_path: Path, as_tar: bool) -> None:
    layers: list[LayerSpec] = [
        {"etc/os-release": "ID=x\n"},
        {"usr/bin/app": b"bin"},
        {"etc/os-release": "ID=y\n"},
    ]
    image = OCIImage(layers, compression=["gzip", "zstd", "plain"], tag="1.0")
    path = oci_layout(tmp_path / ("l.tar" if as_tar else "l"), [image], as_tar=as_tar)
    built = build_layers(layers, ["gzip", "zstd", "plain"])
    assert detect_type(str(path)) == "oci"
    with open_artifact(str(path)) as source:
        assert isinstance(source, OCILayoutSource)
        info = source.info()
        assert info.kind == "oci"
        assert info.repo_tags == ("1.0",)
        assert (info.os, info.architecture) == ("linux", "amd64")
        assert [lyr.diff_id for lyr in info.layers] == [b.diff_id for b in built]
        assert [lyr.digest for lyr in info.layers] == [b.digest for b in built]
        assert [lyr.media_type for lyr in info.layers] == [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar",
        ]
        contents = []
        for layer in source.layers():
            clone = pickle.loads(pickle.dumps(layer))  # noqa: S301 - our own object, round-tripped
            contents += [e.open().read() for e in clone.walk(Limits()) if e.opener]
    assert contents == [b"ID=x\n", b"bin", b"ID=y\n"]


@pytest.mark.parametrize("nested", [False, True], ids=["flat-index", "nested-index"])
@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (None, b"amd64"),
        ("linux/amd64", b"amd64"),
        ("linux/arm64", b"arm64"),
        ("linux/arm64/v8", b"arm64"),
    ],
)
def test_platform_selection(
    tmp_path: Path, nested: bool, platform: str | None, expected: bytes
) -> None:
    path = oci_layout(tmp_path / "l", [ARM, AMD], multi_platform_index=nested)
    assert arch_file(OCILayoutSource(path, platform=platform)) == expected


def test_missing_platform_lists_the_ones_there(tmp_path: Path) -> None:
    path = oci_layout(tmp_path / "l", [ARM, AMD], multi_platform_index=True)
    with pytest.raises(ArtifactError, match="no image for platform linux/s390x") as err:
        OCILayoutSource(path, platform="linux/s390x")
    assert err.value.hint
    assert "linux/amd64" in err.value.hint
    assert "linux/arm64/v8" in err.value.hint


def test_single_image_of_another_platform_is_taken_by_default_only(tmp_path: Path) -> None:
    path = oci_layout(tmp_path / "l", [ARM])
    assert arch_file(OCILayoutSource(path)) == b"arm64"
    with pytest.raises(ArtifactError, match="no image for platform linux/amd64"):
        OCILayoutSource(path, platform="linux/amd64")


def test_bad_platform_string_is_a_usage_error(tmp_path: Path) -> None:
    path = oci_layout(tmp_path / "l", [AMD])
    with pytest.raises(UsageError, match="not a platform"):
        OCILayoutSource(path, platform="amd64")


def test_platform_matching_rules() -> None:
    assert platform_matches("linux/arm64/v8", "linux/arm64")
    assert not platform_matches("linux/arm/v6", "linux/arm/v7")
    assert not platform_matches("linux/arm", "linux/arm/v7")
    assert not platform_matches("windows/amd64", "linux/amd64")


def test_tag_selects_the_image(tmp_path: Path) -> None:
    a = OCIImage([{"etc/arch": "first"}], platform=None, tag="one")
    b = OCIImage([{"etc/arch": "second"}], platform=None, tag="two")
    path = oci_layout(tmp_path / "l", [a, b])
    assert arch_file(OCILayoutSource(f"{path}:two")) == b"second"
    source = OCILayoutSource(path, tag="one")
    assert arch_file(source) == b"first"
    assert source.info().name == f"{path}:one"
    with pytest.raises(ArtifactError, match="no image tagged 'three'") as err:
        OCILayoutSource(path, tag="three")
    assert err.value.hint == "tags in this layout: one, two"
    with pytest.raises(ArtifactError, match="holds 2 images") as err:
        OCILayoutSource(path)
    assert err.value.hint
    assert "LAYOUT:TAG" in err.value.hint


def test_attestation_manifests_are_not_images(tmp_path: Path) -> None:
    attestation = OCIImage([{"etc/arch": "attestation"}], platform="unknown/unknown")
    path = oci_layout(tmp_path / "l", [attestation, ARM], multi_platform_index=True)
    assert arch_file(OCILayoutSource(path, platform="linux/arm64")) == b"arm64"


def test_docker_v2_media_types_are_accepted(tmp_path: Path) -> None:
    image = OCIImage([{"etc/arch": "docker"}], docker_media_types=True)
    path = oci_layout(tmp_path / "l", [image])
    source = OCILayoutSource(path)
    assert arch_file(source) == b"docker"
    assert source.info().layers[0].media_type == (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    )


def layout_with(tmp_path: Path, mutate: Any, images: list[OCIImage] | None = None) -> Path:
    """A layout directory whose blobs ``mutate(blobs, index)`` has changed."""
    blobs, index = oci_blobs(images or [AMD])
    mutate(blobs, index)
    root = tmp_path / "mutated"
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps(index))
    for digest, data in blobs.items():
        (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return root


def manifest_of(blobs: dict[str, bytes], index: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(blobs[index["manifests"][0]["digest"]])
    return result


def replace_manifest(blobs: dict[str, bytes], index: dict[str, Any], manifest: Any) -> None:
    old = index["manifests"][0]["digest"]
    del blobs[old]
    data = json.dumps(manifest).encode()
    blobs[sha256(data)] = data
    index["manifests"][0].update(digest=sha256(data), size=len(data))


def test_missing_layer_blob(tmp_path: Path) -> None:
    def drop_layer(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        del blobs[manifest_of(blobs, index)["layers"][0]["digest"]]

    with pytest.raises(ArtifactError, match=r"the layer blob sha256:[0-9a-f]+ is missing") as err:
        OCILayoutSource(layout_with(tmp_path, drop_layer))
    assert err.value.hint
    assert "incomplete" in err.value.hint


def test_missing_config_blob_in_a_tar_layout(tmp_path: Path) -> None:
    blobs, _ = oci_blobs([AMD])
    config = next(d for d, data in blobs.items() if b'"rootfs"' in data)
    path = oci_layout(tmp_path / "l.tar", [AMD], as_tar=True, drop_blobs=[config])
    with pytest.raises(ArtifactError, match=r"the config blob sha256:[0-9a-f]+ is missing"):
        OCILayoutSource(path)


def test_blob_size_must_match_its_descriptor(tmp_path: Path) -> None:
    def grow_layer(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        digest = manifest_of(blobs, index)["layers"][0]["digest"]
        blobs[digest] += b"extra"

    with pytest.raises(ArtifactError, match="but its descriptor says"):
        OCILayoutSource(layout_with(tmp_path, grow_layer))


def test_manifest_must_match_its_digest(tmp_path: Path) -> None:
    def tamper(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        digest = index["manifests"][0]["digest"]
        blobs[digest] = blobs[digest].replace(b'"schemaVersion": 2', b'"schemaVersion": 3')

    with pytest.raises(ArtifactError, match="does not match its digest"):
        OCILayoutSource(layout_with(tmp_path, tamper))


def test_digest_that_climbs_out_of_blobs_is_refused(tmp_path: Path) -> None:
    def traverse(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"

    with pytest.raises(ArtifactError, match="not a valid digest"):
        OCILayoutSource(layout_with(tmp_path, traverse))


def test_blob_symlinked_outside_the_layout_is_refused(tmp_path: Path) -> None:
    root = oci_layout(tmp_path / "l", [AMD])
    blobs, index = oci_blobs([AMD])
    layer_digest = manifest_of(blobs, index)["layers"][0]["digest"]
    blob_file = root / "blobs" / "sha256" / layer_digest.removeprefix("sha256:")
    outside = tmp_path / "outside-blob"
    shutil.move(blob_file, outside)
    blob_file.symlink_to(outside)
    with pytest.raises(UnsafeArtifactError, match="outside the layout"):
        OCILayoutSource(root)


def test_artifact_manifests_are_not_images(tmp_path: Path) -> None:
    def helm_chart(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        manifest = manifest_of(blobs, index)
        manifest["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json"
        replace_manifest(blobs, index, manifest)

    with pytest.raises(ArtifactError, match="is not a container image"):
        OCILayoutSource(layout_with(tmp_path, helm_chart))


def test_unsupported_layer_media_type(tmp_path: Path) -> None:
    def encrypted(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        manifest = manifest_of(blobs, index)
        manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
        replace_manifest(blobs, index, manifest)

    with pytest.raises(ArtifactError, match="unsupported media type"):
        OCILayoutSource(layout_with(tmp_path, encrypted))


def test_docker_config_media_type_is_an_image(tmp_path: Path) -> None:
    def docker_config(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        manifest = manifest_of(blobs, index)
        manifest["config"]["mediaType"] = DOCKER_CONFIG
        replace_manifest(blobs, index, manifest)

    assert arch_file(OCILayoutSource(layout_with(tmp_path, docker_config))) == b"amd64"


def test_indexes_nested_too_deep_are_refused(tmp_path: Path) -> None:
    def nest(blobs: dict[str, bytes], index: dict[str, Any]) -> None:
        descriptor = index["manifests"][0]
        for _ in range(6):
            data = json.dumps(
                {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
            ).encode()
            blobs[sha256(data)] = data
            descriptor = {"mediaType": OCI_INDEX, "digest": sha256(data), "size": len(data)}
        index["manifests"] = [descriptor]

    with pytest.raises(UnsafeArtifactError, match="nested more than"):
        OCILayoutSource(layout_with(tmp_path, nest))


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"manifests": {}}', "'manifests' must be a list"),
        (b'{"manifests": [{"digest": "sha256:' + b"a" * 64 + b'"}]}', "no valid 'size'"),
        (b'{"manifests": []}', "lists no image manifests"),
    ],
)
def test_malformed_index_json(tmp_path: Path, index: bytes, message: str) -> None:
    root = oci_layout(tmp_path / "l", [AMD])
    (root / "index.json").write_bytes(index)
    with pytest.raises(ArtifactError, match=message):
        OCILayoutSource(root)


def test_missing_oci_layout_file(tmp_path: Path) -> None:
    root = oci_layout(tmp_path / "l", [AMD])
    (root / "oci-layout").unlink()
    with pytest.raises(ArtifactError, match="oci-layout is missing"):
        OCILayoutSource(root)


# --- images written by real tools --------------------------------------------------------


def tools_missing() -> list[str]:
    return [tool for tool in ("umoci", "skopeo") if shutil.which(tool) is None]


def run(*args: str | os.PathLike[str]) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def tool_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-layer image built by umoci, and skopeo's docker-archive and oci-archive of it."""
    if missing := tools_missing():
        pytest.skip(f"not installed: {', '.join(missing)}")
    work = tmp_path_factory.mktemp("tools")
    layout = work / "layout"
    bundle = work / "bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:t")
    run("umoci", "unpack", "--image", f"{layout}:t", bundle)
    rootfs = bundle / "rootfs"
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc" / "test-pkgs").write_text("a 1\n")
    (rootfs / "opt" / "gone").mkdir(parents=True)
    (rootfs / "opt" / "gone" / "test-pkgs").write_text("gone 1\n")
    (rootfs / "bin").mkdir(exist_ok=True)
    (rootfs / "bin" / "sh").write_bytes(b"\x7fELF" + os.urandom(5000))
    os.link(rootfs / "bin" / "sh", rootfs / "bin" / "ash")
    (rootfs / "bin" / "busybox").symlink_to("sh")
    run("umoci", "repack", "--image", f"{layout}:t", bundle)
    shutil.rmtree(bundle)
    run("umoci", "unpack", "--image", f"{layout}:t", bundle)
    shutil.rmtree(rootfs / "opt" / "gone")
    (rootfs / "etc" / "test-pkgs").write_text("a 2\nb 1\n")
    run("umoci", "repack", "--image", f"{layout}:t", bundle)
    docker = work / "docker.tar"
    oci_tar = work / "oci.tar"
    run("skopeo", "copy", "-q", f"oci:{layout}:t", f"docker-archive:{docker}:example.com/app:t")
    run("skopeo", "copy", "-q", f"oci:{layout}:t", f"oci-archive:{oci_tar}:t")
    return {"oci-dir": layout, "docker-archive": docker, "oci-tar": oci_tar}


def listing(source: Source) -> list[list[tuple[str, EntryType, str, bytes | None]]]:
    layers = []
    for layer in source.layers():
        entries = []
        for e in layer.walk(Limits()):
            content = e.open().read() if e.opener else None
            entries.append((e.path, e.type, e.linkname, content))
        layers.append(entries)
    return layers


def test_real_tool_images_read_the_same_in_every_format(tool_images: dict[str, Path]) -> None:
    sources = {name: open_artifact(str(path)) for name, path in tool_images.items()}
    assert isinstance(sources["docker-archive"], DockerArchiveSource)
    assert isinstance(sources["oci-tar"], OCILayoutSource)
    assert isinstance(sources["oci-dir"], OCILayoutSource)
    infos = {name: source.info() for name, source in sources.items()}
    assert len({info.digest for info in infos.values()}) == 1  # the same image config
    diff_ids = {tuple(lyr.diff_id for lyr in info.layers) for info in infos.values()}
    assert len(diff_ids) == 1
    assert len(next(iter(diff_ids))) == 2
    assert infos["docker-archive"].repo_tags == ("example.com/app:t",)
    listings = {name: listing(source) for name, source in sources.items()}
    assert listings["docker-archive"] == listings["oci-dir"] == listings["oci-tar"]
    first, second = listings["oci-dir"]
    kinds = {path: kind for path, kind, _, _ in first}
    assert kinds["bin/busybox"] is EntryType.SYMLINK
    assert EntryType.HARDLINK in {kinds["bin/sh"], kinds["bin/ash"]}
    assert ("opt/gone", EntryType.WHITEOUT, "", None) in second


@pytest.mark.parametrize("workers", [1, 2])
def test_real_tool_images_give_the_same_inventory(
    tool_images: dict[str, Path], workers: int
) -> None:
    for path in tool_images.values():
        with open_artifact(str(path)) as source:
            inventory = build_inventory(source, [PkgListCataloger()], workers=workers)
        assert {(p.name, p.version) for p in inventory.packages} == {("a", "2"), ("b", "1")}
