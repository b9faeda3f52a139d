"""Artifact type detection: what a user types is opened as what it is."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest
from tests.artifact.imagebuilder import OCIImage, docker_archive, oci_layout

from stockade.artifact.detect import detect_type, open_artifact
from stockade.artifact.interface import Limits
from stockade.core.errors import ArtifactError, UsageError

LAYER = {"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}


def test_directories_files_and_references(tmp_path: Path) -> None:
    rootfs = tmp_path / "root"
    rootfs.mkdir()
    archive = docker_archive(tmp_path / "image.tar", [LAYER])
    layout = oci_layout(tmp_path / "layout", [OCIImage([LAYER])])
    layout_tar = oci_layout(tmp_path / "layout.tar", [OCIImage([LAYER])], as_tar=True)
    function = tmp_path / "function.zip"
    with zipfile.ZipFile(function, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context): ...\n")

    assert detect_type(str(rootfs)) == "rootfs"
    assert detect_type(str(archive)) == "docker-archive"
    assert detect_type(str(layout)) == "oci"
    assert detect_type(str(layout_tar)) == "oci"
    assert detect_type(str(function)) == "zip"
    assert detect_type("registry.example.com/team/app:1.0") == "registry"
    assert detect_type("alpine@sha256:" + "0" * 64) == "registry"


def test_a_bare_name_is_a_docker_hub_image_unless_it_looks_like_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert detect_type("alpine") == "registry"
    with pytest.raises(ArtifactError, match=r"image\.tar: no such file"):
        detect_type("image.tar")
    with pytest.raises(ArtifactError, match="no such file"):
        detect_type("Not_A_Reference")


def test_layout_colon_tag_names_one_image_of_a_layout(tmp_path: Path) -> None:
    layout = oci_layout(
        tmp_path / "layout",
        [OCIImage([LAYER], tag="one"), OCIImage([{"etc/hostname": b"x\n"}], tag="two")],
    )
    assert detect_type(f"{layout}:two") == "oci"
    with open_artifact(f"{layout}:two") as source:
        assert source.info().kind == "oci"
        (layer,) = source.layers()
        assert [e.path for e in layer.walk(Limits())] == ["etc/hostname"]


def test_a_tar_that_is_no_image_is_refused_with_a_hint(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(__file__, arcname="readme.txt")
    with pytest.raises(ArtifactError) as caught:
        detect_type(str(plain))
    assert "--type" in (caught.value.hint or "")


def test_garbage_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01not an archive" * 100)
    with pytest.raises(ArtifactError, match="not a directory, a zip, or an image tarball"):
        detect_type(str(garbage))


def test_an_unknown_forced_type_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown artifact type"):
        open_artifact(str(tmp_path), "floppy")
