"""A ``docker save`` tarball (docker-archive) as a layered source.

``manifest.json`` names the image config and the layer tars. Both layouts are read:
the legacy one (``<id>/layer.tar``, ``<config-id>.json``, shared layers as symlinks)
and the one current Docker and skopeo write (``blobs/sha256/<hex>``). An archive may hold
several images; like ``docker load`` lists them, we take the first one in manifest.json
(that is what ``docker save IMAGE`` writes for a single image).

The archive is scanned once to locate members; each layer then reads its byte range of
the file directly, so layers pickle into worker processes and never re-scan the archive.

The image-config parsing here is shared with the OCI layout source: Docker and OCI image
configs have the same shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from stockade.artifact.interface import Layer, Source
from stockade.artifact.tarlayer import ArchiveMember, FileRangeLayer, TarIndex
from stockade.core.errors import ArtifactError
from stockade.core.models import ArtifactInfo, Digest, LayerInfo

MAX_METADATA_BYTES: Final = 16 * 1024 * 1024
"""Largest manifest, index or image config accepted (real ones are kilobytes)."""

_DIGEST_RE: Final = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_SHA256_RE: Final = re.compile(r"^sha256:[0-9a-f]{64}$")


def load_json_object(data: bytes, *, where: str) -> dict[str, Any]:
    """Parse a JSON document that must be an object."""
    doc = load_json(data, where=where)
    if not isinstance(doc, dict):
        raise ArtifactError(
            f"{where}: expected a JSON object, found {type(doc).__name__}",
            hint="the image metadata is malformed",
        )
    return doc


def load_json(data: bytes, *, where: str) -> Any:
    """Parse a JSON document, mapping every parse failure to ArtifactError."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(
            f"{where}: malformed JSON ({exc})",
            hint="the image metadata is damaged; export the image again",
        ) from exc


def check_digest(value: object, *, where: str) -> Digest:
    """A content digest (``algorithm:hex``); sha256 ones must be 64 lowercase hex digits.

    Digests become file names in OCI layouts, so a loose check would be path traversal.
    """
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise ArtifactError(
            f"{where}: {value!r} is not a valid digest",
            hint="digests look like sha256:<64 hex digits>; the image metadata is malformed",
        )
    if value.startswith("sha256:") and not _SHA256_RE.match(value):
        raise ArtifactError(f"{where}: {value!r} is not a valid sha256 digest")
    return Digest(value)


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def optional_str(doc: dict[str, Any], key: str, *, where: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ArtifactError(
            f"{where}: {key!r} must be a string, found {type(value).__name__}",
            hint="the image metadata is malformed",
        )
    return value


def str_list(value: object, *, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArtifactError(
            f"{where}: {key!r} must be a list of strings",
            hint="the image metadata is malformed",
        )
    return value


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What Stockade uses from an image configuration document."""

    digest: Digest
    document: dict[str, Any]
    diff_ids: tuple[Digest, ...]
    created_by: tuple[str | None, ...]
    """The history step that made each layer (history entries with empty_layer left out)."""
    architecture: str | None
    os: str | None


def parse_image_config(data: bytes, *, where: str) -> ImageConfig:
    """Parse a Docker or OCI image configuration."""
    doc = load_json_object(data, where=where)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict):
        raise ArtifactError(
            f"{where}: the image config has no 'rootfs' object",
            hint="this is not a container image configuration",
        )
    diff_ids = tuple(
        check_digest(d, where=where)
        for d in str_list(rootfs.get("diff_ids", []), where=where, key="rootfs.diff_ids")
    )
    history = doc.get("history", [])
    if not isinstance(history, list):
        raise ArtifactError(f"{where}: 'history' must be a list")
    created_by: list[str | None] = []
    for step in history:
        if not isinstance(step, dict):
            raise ArtifactError(f"{where}: a 'history' entry is not an object")
        if step.get("empty_layer") is True:
            continue
        created_by.append(optional_str(step, "created_by", where=where))
    return ImageConfig(
        digest=sha256_digest(data),
        document=doc,
        diff_ids=diff_ids,
        created_by=tuple(created_by),
        architecture=optional_str(doc, "architecture", where=where),
        os=optional_str(doc, "os", where=where),
    )


def layer_infos(
    config: ImageConfig,
    count: int,
    *,
    where: str,
    digests: Sequence[Digest | None] = (),
    sizes: Sequence[int | None] = (),
    media_types: Sequence[str | None] = (),
) -> list[LayerInfo]:
    """LayerInfo records for ``count`` layers described by ``config`` and a manifest."""
    if len(config.diff_ids) != count:
        raise ArtifactError(
            f"{where}: the manifest lists {count} layers but the image config has "
            f"{len(config.diff_ids)} diff_ids",
            hint="the image is inconsistent; export it again",
        )
    # History can be missing or shorter than the layer list; align what there is.
    created_by = list(config.created_by) if len(config.created_by) == count else []
    return [
        LayerInfo(
            diff_id=config.diff_ids[i],
            digest=digests[i] if digests else None,
            size=sizes[i] if sizes else None,
            media_type=media_types[i] if media_types else None,
            created_by=created_by[i] if created_by else None,
        )
        for i in range(count)
    ]


@dataclass(frozen=True, slots=True)
class _ManifestEntry:
    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def _parse_manifest(data: bytes, *, where: str) -> _ManifestEntry:
    doc = load_json(data, where=where)
    if not isinstance(doc, list) or not doc:
        raise ArtifactError(
            f"{where}: expected a non-empty list of images",
            hint="manifest.json of a docker-archive lists the saved images",
        )
    first = doc[0]
    if not isinstance(first, dict):
        raise ArtifactError(f"{where}: the first image entry is not an object")
    config = first.get("Config")
    if not isinstance(config, str) or not config:
        raise ArtifactError(
            f"{where}: the image entry has no 'Config' file name",
            hint="manifest.json is malformed",
        )
    layers = str_list(first.get("Layers"), where=where, key="Layers")
    tags = first.get("RepoTags")
    repo_tags = [] if tags is None else str_list(tags, where=where, key="RepoTags")
    return _ManifestEntry(config=config, repo_tags=tuple(repo_tags), layers=tuple(layers))


class DockerArchiveSource(Source):
    """A ``docker save`` / ``skopeo copy docker-archive:`` tarball (uncompressed)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        where = self.path
        self._index = TarIndex(self.path, where=where)
        manifest_member = self._require("manifest.json", what="manifest.json")
        manifest = _parse_manifest(
            self._index.read(manifest_member, max_bytes=MAX_METADATA_BYTES),
            where=f"{where}: manifest.json",
        )
        config_member = self._require(manifest.config, what="image config")
        config = parse_image_config(
            self._index.read(config_member, max_bytes=MAX_METADATA_BYTES),
            where=f"{where}: {manifest.config}",
        )
        members = [self._require(name, what="layer") for name in manifest.layers]
        infos = layer_infos(
            config,
            len(members),
            where=f"{where}: manifest.json",
            digests=[_blob_digest(m) for m in members],
            sizes=[m.size for m in members],
        )
        self._layers = [
            FileRangeLayer(
                info,
                self.path,
                member.offset,
                member.size,
                label=f"{where}: layer {i} ({name})",
            )
            for i, (info, member, name) in enumerate(
                zip(infos, members, manifest.layers, strict=True), start=1
            )
        ]
        self._info = ArtifactInfo(
            name=self.path,
            kind="docker-archive",
            digest=config.digest,
            repo_tags=manifest.repo_tags,
            layers=tuple(infos),
            architecture=config.architecture,
            os=config.os,
            config=config.document,
        )

    def _require(self, name: str, *, what: str) -> ArchiveMember:
        member = self._index.find(name)
        if member is None:
            hint = "the archive is incomplete or damaged; save or export it again"
            if name == "manifest.json":
                hint = (
                    "a docker-archive (from `docker save`) has a manifest.json; "
                    "for other tarballs use --type"
                )
            raise ArtifactError(f"{self.path}: the {what} {name!r} is not in the archive", hint)
        return member

    def info(self) -> ArtifactInfo:
        return self._info

    def layers(self) -> Sequence[Layer]:
        return self._layers


def _blob_digest(member: ArchiveMember) -> Digest | None:
    # Only the blobs/<algorithm>/<hex> form names a layer by its digest.
    parts = member.name.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        candidate = f"{parts[1]}:{parts[2]}"
        if _DIGEST_RE.match(candidate):
            return Digest(candidate)
    return None
