"""An OCI image layout (a directory, or a tar of one) as a layered source.

``index.json`` lists manifests; nested image indexes (multi-platform images) are
followed. The image chosen is, in order: the one tagged ``tag`` (the annotation
``org.opencontainers.image.ref.name``; ``layout:tag`` names it too), then the one for
``platform`` (``os/arch[/variant]``, default ``linux/amd64``), or the only one there is.
Docker v2 manifests, manifest lists and configs are accepted alongside OCI ones, so the
layouts ``docker save`` (Docker 25+) and skopeo write are read too.

Every blob a manifest names must exist with its declared size; small JSON blobs
(indexes, manifests, configs) are also checked against their digests. Digests become
file names, so they are validated before use: ``sha256:../../etc/passwd`` is refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stockade.artifact.docker_archive import (
    MAX_METADATA_BYTES,
    ImageConfig,
    check_digest,
    layer_infos,
    load_json_object,
    optional_str,
    parse_image_config,
)
from stockade.artifact.interface import Layer, Source
from stockade.artifact.tarlayer import FileRangeLayer, TarIndex
from stockade.core.errors import ArtifactError, UnsafeArtifactError, UsageError
from stockade.core.models import ArtifactInfo, Digest, LayerInfo

DEFAULT_PLATFORM: Final = "linux/amd64"

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
_INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_CONFIG_TYPES: Final = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
_LAYER_TYPES: Final = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
REF_NAME: Final = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME: Final = "io.containerd.image.name"
_MAX_INDEX_DEPTH: Final = 4


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str | None
    digest: Digest
    size: int
    platform: str | None
    annotations: dict[str, str]

    @property
    def ref_name(self) -> str | None:
        return self.annotations.get(REF_NAME)


def parse_descriptor(value: object, *, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ArtifactError(f"{where}: a descriptor is not an object")
    digest = check_digest(value.get("digest"), where=where)
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ArtifactError(f"{where}: descriptor {digest} has no valid 'size'")
    annotations = value.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise ArtifactError(f"{where}: descriptor {digest} has malformed 'annotations'")
    return Descriptor(
        media_type=optional_str(value, "mediaType", where=where),
        digest=digest,
        size=size,
        platform=_platform_of(value.get("platform"), where=where),
        annotations=annotations,
    )


def _platform_of(value: object, *, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArtifactError(f"{where}: 'platform' is not an object")
    os_name = value.get("os")
    arch = value.get("architecture")
    variant = value.get("variant")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        raise ArtifactError(f"{where}: 'platform' lacks 'os' or 'architecture'")
    if isinstance(variant, str) and variant:
        return f"{os_name}/{arch}/{variant}"
    return f"{os_name}/{arch}"


def platform_matches(available: str, wanted: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8``; a wanted variant must match exactly."""
    have = available.split("/")
    want = wanted.split("/")
    if have[:2] != want[:2]:
        return False
    return len(want) < 3 or (len(have) >= 3 and have[2] == want[2])


def _check_platform(platform: str) -> str:
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(
            f"{platform!r} is not a platform",
            hint="write os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8",
        )
    return platform


class _Blobs:
    """Blob storage of a layout: a directory, or an uncompressed tar."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.is_dir = os.path.isdir(path)
        self._root = Path(path).resolve()
        self._tar = None if self.is_dir else TarIndex(path, where=path)

    def _locate(self, name: str) -> tuple[str, int, int] | None:
        """(file, offset, size) of a layout file, or None if it is missing."""
        if self._tar is not None:
            member = self._tar.find(name)
            return None if member is None else (self.path, member.offset, member.size)
        candidate = self._root / name
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self._root):
            raise UnsafeArtifactError(
                f"{self.path}: {name} resolves to {resolved}, outside the layout",
                hint="a layout's files must be inside it; this one links elsewhere",
            )
        try:
            st = resolved.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return (str(resolved), 0, st.st_size)

    def read_file(self, name: str, *, what: str) -> bytes:
        located = self._locate(name)
        if located is None:
            raise ArtifactError(
                f"{self.path}: {name} is missing",
                hint=f"an OCI image layout needs {name}; is this {what}?",
            )
        return self._read(located, name)

    def _read(self, located: tuple[str, int, int], name: str) -> bytes:
        file, offset, size = located
        if size > MAX_METADATA_BYTES:
            raise UnsafeArtifactError(
                f"{self.path}: {name} is {size} bytes, more than metadata may have",
                hint="the layout is corrupt or hostile",
            )
        try:
            with open(file, "rb") as fh:
                fh.seek(offset)
                data = fh.read(size)
        except OSError as exc:
            raise ArtifactError(f"{self.path}: cannot read {name}: {exc.strerror}") from exc
        if len(data) != size:
            raise ArtifactError(f"{self.path}: {name} is truncated")
        return data

    def blob(self, descriptor: Descriptor, *, what: str) -> tuple[str, int, int]:
        name = _blob_name(descriptor.digest)
        located = self._locate(name)
        if located is None:
            raise ArtifactError(
                f"{self.path}: the {what} blob {descriptor.digest} is missing",
                hint="the layout is incomplete; copy the image into it again "
                "(e.g. skopeo copy ... oci:DIR:TAG)",
            )
        if located[2] != descriptor.size:
            raise ArtifactError(
                f"{self.path}: the {what} blob {descriptor.digest} is {located[2]} bytes, "
                f"but its descriptor says {descriptor.size}",
                hint="the blob is damaged or was replaced",
            )
        return located

    def read_blob(self, descriptor: Descriptor, *, what: str) -> bytes:
        data = self._read(self.blob(descriptor, what=what), _blob_name(descriptor.digest))
        algorithm, _, expected = descriptor.digest.partition(":")
        if algorithm in ("sha256", "sha512") and (
            hashlib.new(algorithm, data).hexdigest() != expected
        ):
            raise ArtifactError(
                f"{self.path}: the {what} blob does not match its digest {descriptor.digest}",
                hint="the blob is damaged or was tampered with",
            )
        return data


def _blob_name(digest: Digest) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"blobs/{algorithm}/{hex_part}"


def split_layout_tag(target: str) -> tuple[str, str | None]:
    """``layout:tag`` → (layout, tag) when ``layout`` exists and ``target`` does not."""
    if not os.path.exists(target) and ":" in target:
        base, _, tag = target.rpartition(":")
        if base and tag and "/" not in tag and os.path.exists(base):
            return base, tag
    return target, None


class OCILayoutSource(Source):
    """An OCI image layout: a directory with ``oci-layout`` and ``index.json``, or a tar."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        platform: str | None = None,
        tag: str | None = None,
    ) -> None:
        target, path_tag = split_layout_tag(os.fspath(path))
        self.path = target
        self.tag = tag or path_tag
        self.platform = _check_platform(platform) if platform else None
        if not os.path.exists(target):
            raise ArtifactError(f"{target}: no such file or directory")
        self._blobs = _Blobs(target)
        layout = load_json_object(
            self._blobs.read_file("oci-layout", what="an OCI layout"),
            where=f"{target}: oci-layout",
        )
        if not isinstance(layout.get("imageLayoutVersion"), str):
            raise ArtifactError(f"{target}: oci-layout has no 'imageLayoutVersion'")
        index = load_json_object(
            self._blobs.read_file("index.json", what="an OCI layout"),
            where=f"{target}: index.json",
        )
        top, manifest_descriptor = self._choose(index)
        self._info, self._layers = self._load_image(top, manifest_descriptor)

    def _choose(self, index: dict[str, Any]) -> tuple[Descriptor, Descriptor]:
        """(the index.json entry chosen, the image manifest it leads to)."""
        where = f"{self.path}: index.json"
        candidates = _manifests_of(index, where=where)
        if self.tag is not None:
            tagged = [d for d in candidates if self.tag in (d.ref_name, _tag_of(d))]
            if not tagged:
                tags = sorted({t for d in candidates if (t := d.ref_name)})
                raise ArtifactError(
                    f"{self.path}: no image tagged {self.tag!r}",
                    hint=f"tags in this layout: {', '.join(tags) or '(none)'}",
                )
            candidates = tagged
        chosen = self._pick(candidates, where=where)
        top = chosen
        for _ in range(_MAX_INDEX_DEPTH):
            data = self._blobs.read_blob(chosen, what="manifest")
            doc = load_json_object(data, where=f"{self.path}: {chosen.digest}")
            if not _is_index(chosen, doc):
                return top, chosen
            chosen = self._pick(
                _manifests_of(doc, where=f"{self.path}: {chosen.digest}"),
                where=f"{self.path}: {chosen.digest}",
            )
        raise UnsafeArtifactError(
            f"{self.path}: image indexes nested more than {_MAX_INDEX_DEPTH} deep",
            hint="real images nest one index at most; this layout is corrupt or hostile",
        )

    def _pick(self, candidates: Sequence[Descriptor], *, where: str) -> Descriptor:
        images = [d for d in candidates if d.platform != "unknown/unknown"]  # attestations
        if not images:
            raise ArtifactError(f"{where}: lists no image manifests")
        wanted = self.platform or DEFAULT_PLATFORM
        matching = [d for d in images if d.platform and platform_matches(d.platform, wanted)]
        if matching:
            return matching[0]
        if len(images) == 1 and (self.platform is None or images[0].platform is None):
            return images[0]
        platforms = sorted({d.platform for d in images if d.platform})
        if platforms:
            raise ArtifactError(
                f"{where}: no image for platform {wanted}",
                hint=f"platforms here: {', '.join(platforms)}; choose one with platform=",
            )
        tags = sorted({t for d in images if (t := d.ref_name)})
        raise ArtifactError(
            f"{where}: holds {len(images)} images",
            hint="name one as LAYOUT:TAG" + (f" (tags: {', '.join(tags)})" if tags else ""),
        )

    def _load_image(
        self, top: Descriptor, descriptor: Descriptor
    ) -> tuple[ArtifactInfo, list[FileRangeLayer]]:
        where = f"{self.path}: manifest {descriptor.digest}"
        manifest = load_json_object(self._blobs.read_blob(descriptor, what="manifest"), where=where)
        media_type = optional_str(manifest, "mediaType", where=where) or descriptor.media_type
        if media_type is not None and media_type not in _MANIFEST_TYPES:
            raise ArtifactError(
                f"{where}: unsupported manifest media type {media_type!r}",
                hint="OCI and Docker v2 image manifests are supported",
            )
        config_descriptor = parse_descriptor(manifest.get("config"), where=where)
        if (
            config_descriptor.media_type is not None
            and config_descriptor.media_type not in _CONFIG_TYPES
        ):
            raise ArtifactError(
                f"{where}: config media type {config_descriptor.media_type!r} is not a "
                "container image",
                hint="this manifest describes an artifact (chart, signature, ...), not an image",
            )
        config: ImageConfig = parse_image_config(
            self._blobs.read_blob(config_descriptor, what="config"),
            where=f"{self.path}: config {config_descriptor.digest}",
        )
        raw_layers = manifest.get("layers")
        if not isinstance(raw_layers, list):
            raise ArtifactError(f"{where}: 'layers' must be a list")
        descriptors = [parse_descriptor(item, where=where) for item in raw_layers]
        for layer in descriptors:
            if layer.media_type is not None and layer.media_type not in _LAYER_TYPES:
                raise ArtifactError(
                    f"{where}: layer {layer.digest} has unsupported media type "
                    f"{layer.media_type!r}",
                    hint="supported layers are tar, tar+gzip and tar+zstd (OCI or Docker)",
                )
        located = [self._blobs.blob(d, what="layer") for d in descriptors]
        infos: list[LayerInfo] = layer_infos(
            config,
            len(descriptors),
            where=where,
            digests=[d.digest for d in descriptors],
            sizes=[d.size for d in descriptors],
            media_types=[d.media_type for d in descriptors],
        )
        layers = [
            FileRangeLayer(info, file, offset, size, label=f"{self.path}: layer {i} ({d.digest})")
            for i, (info, d, (file, offset, size)) in enumerate(
                zip(infos, descriptors, located, strict=True), start=1
            )
        ]
        name = f"{self.path}:{self.tag}" if self.tag else self.path
        tags = _repo_tags(top)
        info = ArtifactInfo(
            name=name,
            kind="oci",
            digest=config.digest,
            repo_tags=tags,
            repo_digests=(),
            layers=tuple(infos),
            architecture=config.architecture,
            os=config.os,
            config=config.document,
        )
        return info, layers

    def info(self) -> ArtifactInfo:
        return self._info

    def layers(self) -> Sequence[Layer]:
        return self._layers


def _manifests_of(doc: dict[str, Any], *, where: str) -> list[Descriptor]:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise ArtifactError(
            f"{where}: 'manifests' must be a list",
            hint="this is not an OCI image index",
        )
    return [parse_descriptor(item, where=where) for item in manifests]


def _is_index(descriptor: Descriptor, doc: dict[str, Any]) -> bool:
    media_type = doc.get("mediaType") or descriptor.media_type
    if media_type in _INDEX_TYPES:
        return True
    return media_type not in _MANIFEST_TYPES and "manifests" in doc and "layers" not in doc


def _tag_of(descriptor: Descriptor) -> str | None:
    name = descriptor.annotations.get(_CONTAINERD_NAME)
    if name and ":" in name.rpartition("/")[2]:
        return name.rpartition(":")[2]
    return None


def _repo_tags(descriptor: Descriptor) -> tuple[str, ...]:
    full = descriptor.annotations.get(_CONTAINERD_NAME)
    if full:
        return (full,)
    ref = descriptor.ref_name
    return (ref,) if ref else ()
