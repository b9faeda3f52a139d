"""docker-archive tarballs: both layouts, metadata, pickled layers, errors with hints."""

from __future__ import annotations

import json
import pickle
import tarfile
from pathlib import Path
from typing import Any, Literal

import pytest
from tests.artifact.imagebuilder import (
    WHITEOUT,
    ImageConfig,
    LayerSpec,
    build_layers,
    docker_archive,
    files_of,
    raw_tar,
    sha256,
    tar_of_files,
)

from stockade.artifact.detect import detect_type, open_artifact
from stockade.artifact.docker_archive import DockerArchiveSource
from stockade.artifact.interface import EntryType, Limits
from stockade.core.errors import ArtifactError, UnsafeArtifactError

LAYERS: list[LayerSpec] = [
    {"etc/os-release": "ID=alpine\n", "bin/sh": b"\x7fELF"},
    {"etc/os-release": WHITEOUT, "app/main.py": "print('hi')\n"},
]


@pytest.mark.parametrize("form", ["legacy", "blobs"])
def test_reads_image_metadata(tmp_path: Path, form: Literal["legacy", "blobs"]) -> None:
    config = ImageConfig(created_by=["ADD rootfs /", "COPY app /app"], architecture="arm64")
    path = docker_archive(
        tmp_path / "img.tar",
        LAYERS,
        form=form,
        config=config,
        repo_tags=["registry.example/app:1", "app:latest"],
        compression=["gzip", "zstd"],
    )
    built = build_layers(LAYERS, ["gzip", "zstd"])
    with DockerArchiveSource(path) as source:
        info = source.info()
        assert info.kind == "docker-archive"
        assert info.name == str(path)
        assert info.repo_tags == ("registry.example/app:1", "app:latest")
        assert info.architecture == "arm64"
        assert info.os == "linux"
        assert info.digest == sha256(config.document(built))
        assert info.config["config"]["Cmd"] == ["/bin/sh"]
        assert [layer.diff_id for layer in info.layers] == [b.diff_id for b in built]
        assert [layer.created_by for layer in info.layers] == ["ADD rootfs /", "COPY app /app"]
        assert [layer.size for layer in info.layers] == [len(b.blob) for b in built]
        if form == "blobs":
            assert [layer.digest for layer in info.layers] == [b.digest for b in built]
        else:
            assert [layer.digest for layer in info.layers] == [None, None]
        walked = [[(e.path, e.type) for e in lyr.walk(Limits())] for lyr in source.layers()]
    assert walked == [
        [("etc/os-release", EntryType.FILE), ("bin/sh", EntryType.FILE)],
        [("etc/os-release", EntryType.WHITEOUT), ("app/main.py", EntryType.FILE)],
    ]


def test_layers_pickle_and_walk_in_another_process_image(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "img.tar", LAYERS)
    layer = DockerArchiveSource(path).layers()[1]
    clone = pickle.loads(pickle.dumps(layer))  # noqa: S301 - our own object, round-tripped
    entry = next(e for e in clone.walk(Limits()) if e.path == "app/main.py")
    assert entry.open().read() == b"print('hi')\n"


def test_detected_and_opened_by_type(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "img.tar", LAYERS)
    assert detect_type(str(path)) == "docker-archive"
    with open_artifact(str(path)) as source:
        assert isinstance(source, DockerArchiveSource)


def test_first_image_of_several_is_taken(tmp_path: Path) -> None:
    first = docker_archive(tmp_path / "first.tar", [{"a": "1"}], repo_tags=["one:1"])
    files = files_of(first)
    manifest = json.loads(files["manifest.json"])
    manifest.append({"Config": "other.json", "RepoTags": ["two:2"], "Layers": []})
    files["manifest.json"] = json.dumps(manifest).encode()
    path = tmp_path / "two.tar"
    path.write_bytes(tar_of_files(files))
    assert DockerArchiveSource(path).info().repo_tags == ("one:1",)


def test_untagged_image_has_no_repo_tags(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "img.tar", LAYERS, repo_tags=[])
    assert DockerArchiveSource(path).info().repo_tags == ()
    null_tags = docker_archive(
        tmp_path / "null.tar",
        LAYERS,
        manifest=[{"Config": "missing.json", "RepoTags": None, "Layers": []}],
    )
    with pytest.raises(ArtifactError, match=r"image config 'missing.json' is not in"):
        DockerArchiveSource(null_tags)


def test_missing_layer_is_named_with_a_hint(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "full.tar", LAYERS, form="blobs")
    manifest = json.loads(files_of(path)["manifest.json"])
    layer_name = manifest[0]["Layers"][1]
    broken = docker_archive(tmp_path / "broken.tar", LAYERS, form="blobs", drop=[layer_name])
    with pytest.raises(ArtifactError, match=rf"the layer '{layer_name}' is not in") as err:
        DockerArchiveSource(broken)
    assert err.value.hint
    assert "save or export it again" in err.value.hint


def test_missing_manifest_says_what_a_docker_archive_is(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "x.tar", LAYERS, drop=["manifest.json"])
    with pytest.raises(ArtifactError, match=r"manifest.json") as err:
        DockerArchiveSource(path)
    assert err.value.hint
    assert "docker save" in err.value.hint


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"Config": "c.json"}, "non-empty list"),
        ([], "non-empty list"),
        (["not an object"], "not an object"),
        ([{"Config": "c.json", "Layers": "l.tar"}], "'Layers' must be a list of strings"),
        ([{"Config": "c.json", "Layers": [], "RepoTags": [1]}], "'RepoTags' must be a list"),
    ],
)
def test_manifest_with_wrong_types_is_an_artifact_error(
    tmp_path: Path, manifest: Any, message: str
) -> None:
    path = docker_archive(tmp_path / "x.tar", LAYERS, manifest=manifest)
    with pytest.raises(ArtifactError, match=message):
        DockerArchiveSource(path)


def test_malformed_manifest_json(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(tar_of_files({"manifest.json": b'[{"Config": "c.json", '}))
    with pytest.raises(ArtifactError, match=r"manifest.json: malformed JSON") as err:
        DockerArchiveSource(path)
    assert err.value.hint


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (b"[]", "expected a JSON object"),
        (b"{}", "no 'rootfs' object"),
        (b'{"rootfs": {"diff_ids": "sha256:x"}}', "must be a list of strings"),
        (b'{"rootfs": {"diff_ids": ["sha256:../../etc"]}}', "not a valid"),
        (b'{"rootfs": {"diff_ids": []}, "history": {}}', "'history' must be a list"),
        (b'{"rootfs": {"diff_ids": []}, "architecture": 5}', "'architecture' must be a string"),
    ],
)
def test_config_with_wrong_shape_is_an_artifact_error(
    tmp_path: Path, config: bytes, message: str
) -> None:
    files = {
        "manifest.json": json.dumps([{"Config": "c.json", "Layers": []}]).encode(),
        "c.json": config,
    }
    path = tmp_path / "x.tar"
    path.write_bytes(tar_of_files(files))
    with pytest.raises(ArtifactError, match=message):
        DockerArchiveSource(path)


def test_layer_count_must_match_diff_ids(tmp_path: Path) -> None:
    built = build_layers(LAYERS)
    config = ImageConfig().document(built[:1])
    files = {
        "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["a.tar", "b.tar"]}]).encode(),
        "c.json": config,
        "a.tar": built[0].blob,
        "b.tar": built[1].blob,
    }
    path = tmp_path / "x.tar"
    path.write_bytes(tar_of_files(files))
    with pytest.raises(ArtifactError, match="lists 2 layers but the image config has 1"):
        DockerArchiveSource(path)


def test_compressed_archive_gets_a_hint_to_decompress(tmp_path: Path) -> None:
    import gzip

    plain = docker_archive(tmp_path / "x.tar", LAYERS)
    packed = tmp_path / "x.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(ArtifactError, match="compressed") as err:
        DockerArchiveSource(packed)
    assert err.value.hint
    assert "gunzip" in err.value.hint


def test_truncated_archive_is_an_error_when_the_layer_is_read(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "x.tar", [{"big": b"z" * 200_000}])
    data = path.read_bytes()
    with tarfile.open(path) as tar:
        layer = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    assert layer.offset_data + layer.size < len(data)
    source = DockerArchiveSource(path)
    # The file shrinks after it was opened: the layer's byte range now runs past its end.
    path.write_bytes(data[: layer.offset_data + 1000])
    with pytest.raises(ArtifactError, match=r"too short|truncated"):
        list(source.layers()[0].walk(Limits()))


def test_member_escaping_the_archive_root_is_refused(tmp_path: Path) -> None:
    evil = tarfile.TarInfo("../../manifest.json")
    evil.size = 2
    path = tmp_path / "x.tar"
    path.write_bytes(raw_tar([(evil, b"[]")], fmt=tarfile.USTAR_FORMAT))
    with pytest.raises(UnsafeArtifactError, match="path traversal"):
        DockerArchiveSource(path)
