"""Build real image tarballs and OCI layouts in Python, for tests.

A layer is a mapping of path to content: bytes or str for a file, or one of the markers
below (directory, symlink, hard link, whiteout, opaque directory). Layers become real
tar blobs (plain, gzip or zstd), assembled into a ``docker save`` archive (the legacy
``<id>/layer.tar`` form or the current ``blobs/sha256/`` form) or an OCI image layout
(a directory or a tar), with manifests and configs as the real tools write them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zstandard

from stockade.core.models import Package, PackageType
from stockade.inventory.interface import CatalogContext, Cataloger, CatalogResult, FileContent

Compression = Literal["plain", "gzip", "zstd"]


class PkgListCataloger(Cataloger):
    """Test cataloger: each line ``name version`` of a file named ``test-pkgs`` is a package."""

    name = "test-pkgs"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path.endswith("test-pkgs")

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        packages = []
        for line in file.text().splitlines():
            name, version = line.split()
            packages.append(Package(name=name, version=version, type=PackageType.PYPI))
        return CatalogResult(packages=packages)


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Hardlink:
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes the path from earlier layers (written as ``dir/.wh.name``)."""


@dataclass(frozen=True)
class Opaque:
    """Hides everything below the directory from earlier layers (``dir/.wh..wh..opq``)."""


WHITEOUT = Whiteout()
OPAQUE = Opaque()
DIR = Dir()

Content = bytes | str | Dir | Symlink | Hardlink | Whiteout | Opaque
LayerSpec = Mapping[str, Content]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = {
    "plain": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: LayerSpec) -> bytes:
    """An uncompressed layer tar holding ``files`` in the given order."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for path, content in files.items():
        members.append(_member(path, content))
    return raw_tar(members)


def _member(path: str, content: Content) -> tuple[tarfile.TarInfo, bytes | None]:
    parent, _, base = path.rstrip("/").rpartition("/")
    prefix = f"{parent}/" if parent else ""
    if isinstance(content, Whiteout):
        info = tarfile.TarInfo(f"{prefix}.wh.{base}")
        return info, b""
    if isinstance(content, Opaque):
        info = tarfile.TarInfo(f"{path.rstrip('/')}/.wh..wh..opq")
        return info, b""
    info = tarfile.TarInfo(path)
    info.mtime = 1_700_000_000
    if isinstance(content, Dir):
        info.type = tarfile.DIRTYPE
        info.mode = content.mode
        return info, None
    if isinstance(content, Symlink):
        info.type = tarfile.SYMTYPE
        info.linkname = content.target
        info.mode = 0o777
        return info, None
    if isinstance(content, Hardlink):
        info.type = tarfile.LNKTYPE
        info.linkname = content.target
        return info, None
    data = content.encode() if isinstance(content, str) else content
    info.size = len(data)
    info.mode = 0o644
    return info, data


def raw_tar(
    members: Sequence[tuple[tarfile.TarInfo, bytes | None]],
    *,
    fmt: int = tarfile.PAX_FORMAT,
) -> bytes:
    """A tar of exactly these members: for hostile cases nothing else would write."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def rechecksum(data: bytearray, offset: int = 0) -> bytes:
    """Recompute the checksum of the tar header at ``offset`` after a test edited it."""
    header = data[offset : offset + 512]
    header[148:156] = b" " * 8
    data[offset + 148 : offset + 156] = b"%06o\0 " % sum(header)
    return bytes(data)


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@dataclass
class BuiltLayer:
    tar: bytes
    blob: bytes
    compression: Compression

    @property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @property
    def digest(self) -> str:
        return sha256(self.blob)


def build_layers(
    layers: Sequence[LayerSpec], compression: Compression | Sequence[Compression] = "plain"
) -> list[BuiltLayer]:
    kinds = [compression] * len(layers) if isinstance(compression, str) else list(compression)
    built = []
    for files, kind in zip(layers, kinds, strict=True):
        tar = layer_tar(files)
        built.append(BuiltLayer(tar=tar, blob=compress(tar, kind), compression=kind))
    return built


@dataclass
class ImageConfig:
    architecture: str = "amd64"
    os: str = "linux"
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/bin:/bin"])
    created_by: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self, layers: Sequence[BuiltLayer]) -> bytes:
        history: list[dict[str, Any]] = [
            {"created_by": "/bin/sh -c #(nop) ENV X=1", "empty_layer": True}
        ]
        for i in range(len(layers)):
            step = self.created_by[i] if self.created_by else f"/bin/sh -c step {i}"
            history.append({"created_by": step})
        doc: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "config": {"Env": self.env, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": history,
        }
        doc.update(self.extra)
        return json.dumps(doc).encode()


def files_of(archive: Path) -> dict[str, bytes]:
    """The regular files of a tarball, by name (to rebuild it with changes)."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            content = tar.extractfile(member) if member.isfile() else None
            if content is not None:
                files[member.name] = content.read()
    return files


def tar_of_files(files: Mapping[str, bytes], links: Mapping[str, str] | None = None) -> bytes:
    """An outer tarball (the archive around an image) of these files and symlinks."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        members.append((info, data))
    for name, target in (links or {}).items():
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        members.append((info, None))
    return raw_tar(members, fmt=tarfile.USTAR_FORMAT)


def docker_archive(
    path: Path,
    layers: Sequence[LayerSpec],
    *,
    compression: Compression | Sequence[Compression] = "plain",
    form: Literal["legacy", "blobs"] = "legacy",
    repo_tags: Sequence[str] = ("example.com/app:1.0",),
    config: ImageConfig | None = None,
    manifest: Any = None,
    drop: Sequence[str] = (),
) -> Path:
    """Write a ``docker save`` tarball; ``manifest`` overrides manifest.json, ``drop``
    leaves named members out (to make broken archives)."""
    built = build_layers(layers, compression)
    config_doc = (config or ImageConfig()).document(built)
    config_hex = sha256(config_doc).removeprefix("sha256:")
    files: dict[str, bytes] = {}
    layer_paths = []
    if form == "legacy":
        files[f"{config_hex}.json"] = config_doc
        config_name = f"{config_hex}.json"
        for layer in built:
            layer_id = hashlib.sha256(layer.diff_id.encode()).hexdigest()
            files[f"{layer_id}/VERSION"] = b"1.0"
            files[f"{layer_id}/json"] = json.dumps({"id": layer_id}).encode()
            files[f"{layer_id}/layer.tar"] = layer.blob
            layer_paths.append(f"{layer_id}/layer.tar")
    else:
        config_name = f"blobs/sha256/{config_hex}"
        files[config_name] = config_doc
        for layer in built:
            name = f"blobs/sha256/{layer.digest.removeprefix('sha256:')}"
            files[name] = layer.blob
            layer_paths.append(name)
    files["manifest.json"] = json.dumps(
        manifest
        if manifest is not None
        else [{"Config": config_name, "RepoTags": list(repo_tags), "Layers": layer_paths}]
    ).encode()
    for name in drop:
        files.pop(name)
    path.write_bytes(tar_of_files(files))
    return path


@dataclass
class OCIImage:
    """One image to put in a layout: its layers, platform and tag."""

    layers: Sequence[LayerSpec]
    compression: Compression | Sequence[Compression] = "gzip"
    platform: str | None = "linux/amd64"
    tag: str | None = None
    docker_media_types: bool = False
    config: ImageConfig | None = None


def oci_blobs(
    images: Sequence[OCIImage], *, multi_platform_index: bool = False
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The blobs (digest -> bytes) and index.json document of an OCI layout."""
    blobs: dict[str, bytes] = {}
    descriptors: list[dict[str, Any]] = []
    for image in images:
        built = build_layers(image.layers, image.compression)
        os_name, _, arch = (image.platform or "linux/amd64").partition("/")
        arch, _, variant = arch.partition("/")
        config = image.config or ImageConfig(architecture=arch, os=os_name)
        config_doc = config.document(built)
        blobs[sha256(config_doc)] = config_doc
        for layer in built:
            blobs[layer.digest] = layer.blob
        docker = image.docker_media_types
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": sha256(config_doc),
                "size": len(config_doc),
            },
            "layers": [
                {
                    "mediaType": DOCKER_LAYER if docker else OCI_LAYER[layer.compression],
                    "digest": layer.digest,
                    "size": len(layer.blob),
                }
                for layer in built
            ],
        }
        manifest_doc = json.dumps(manifest).encode()
        blobs[sha256(manifest_doc)] = manifest_doc
        descriptor: dict[str, Any] = {
            "mediaType": manifest["mediaType"],
            "digest": sha256(manifest_doc),
            "size": len(manifest_doc),
        }
        if image.platform:
            platform = {"os": os_name, "architecture": arch}
            if variant:
                platform["variant"] = variant
            descriptor["platform"] = platform
        if image.tag:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": image.tag}
        descriptors.append(descriptor)
    if multi_platform_index:
        nested = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        ).encode()
        blobs[sha256(nested)] = nested
        descriptors = [
            {
                "mediaType": OCI_INDEX,
                "digest": sha256(nested),
                "size": len(nested),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return blobs, index


def oci_layout(
    path: Path,
    images: Sequence[OCIImage],
    *,
    as_tar: bool = False,
    multi_platform_index: bool = False,
    index: Any = None,
    drop_blobs: Sequence[str] = (),
) -> Path:
    """Write an OCI image layout directory (or a tar of one) holding ``images``."""
    blobs, index_doc = oci_blobs(images, multi_platform_index=multi_platform_index)
    for digest in drop_blobs:
        del blobs[digest]
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index if index is not None else index_doc).encode(),
    }
    for digest, data in blobs.items():
        algorithm, _, hex_digest = digest.partition(":")
        files[f"blobs/{algorithm}/{hex_digest}"] = data
    if as_tar:
        path.write_bytes(tar_of_files(files))
        return path
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path
