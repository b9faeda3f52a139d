"""Open any artifact a user names, detecting its type from what is there."""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from pathlib import Path

from stockade.artifact.interface import Source
from stockade.core.errors import ArtifactError, UsageError

ARTIFACT_TYPES = ("docker-archive", "oci", "rootfs", "zip", "registry")


def detect_type(target: str) -> str:
    """Guess the artifact type of ``target``: a path on disk, or an image reference.

    ``LAYOUT:TAG`` names one image of a multi-image OCI layout (as skopeo writes it).
    """
    from stockade.artifact.oci_layout import split_layout_tag  # the readers load on demand

    layout, tag = split_layout_tag(target)
    if tag is not None and detect_type(layout) == "oci":
        return "oci"
    path = Path(target)
    if path.is_dir():
        if (path / "oci-layout").is_file() and (path / "index.json").is_file():
            return "oci"
        return "rootfs"
    if path.is_file():
        if zipfile.is_zipfile(path):
            return "zip"
        try:
            with tarfile.open(path, "r:") as tar:
                names = set()
                for member in tar:
                    names.add(member.name.lstrip("./"))
                    if len(names) > 64:
                        break
        except (tarfile.TarError, OSError) as exc:
            raise ArtifactError(
                f"{target}: not a directory, a zip, or an image tarball ({exc})",
                hint="name a docker-archive, an OCI layout, a directory or a zip, "
                "or force the type with --type",
            ) from exc
        if "oci-layout" in names and "index.json" in names:
            return "oci"
        if "manifest.json" in names:
            return "docker-archive"
        raise ArtifactError(
            f"{target}: a tar file, but neither a docker-archive (no manifest.json) "
            "nor an OCI layout (no oci-layout/index.json)",
            hint="use --type to force how it is read",
        )
    if os.path.exists(target):
        raise ArtifactError(f"{target}: not a regular file or directory")
    if _looks_like_reference(target):
        return "registry"
    raise ArtifactError(
        f"{target}: no such file or directory",
        hint="name an image tarball, an OCI layout, a directory, a zip, or an image "
        "reference such as registry.example.com/team/app:1.0",
    )


_BARE_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_FILE_SUFFIXES = (".tar", ".tgz", ".gz", ".zip", ".jar", ".json", ".yaml", ".yml")


def _looks_like_reference(target: str) -> bool:
    if target.startswith(("/", ".", "~")):
        return False
    if "/" in target or ":" in target or "@" in target:
        return True
    # A bare repository name (``alpine``) is a Docker Hub image, as docker pull has it,
    # unless it looks like a file the user mistyped.
    return bool(_BARE_NAME.fullmatch(target)) and not target.endswith(_FILE_SUFFIXES)


def open_artifact(target: str, artifact_type: str | None = None, **options: object) -> Source:
    """Open ``target`` as a :class:`Source` of the given or detected type."""
    kind = artifact_type or detect_type(target)
    if kind == "rootfs":
        from stockade.artifact.rootfs import DirectorySource

        return DirectorySource(target)
    if kind == "docker-archive":
        from stockade.artifact.docker_archive import DockerArchiveSource

        return DockerArchiveSource(target)
    platform = options.pop("platform", None)
    if platform is not None and not isinstance(platform, str):
        raise UsageError(f"platform must be a string, not {platform!r}")
    if kind == "oci":
        from stockade.artifact.oci_layout import OCILayoutSource

        return OCILayoutSource(target, platform=platform)
    if kind == "zip":
        from stockade.artifact.zipsource import ZipSource

        return ZipSource(target)
    if kind == "registry":
        from stockade.artifact.registry import RegistrySource

        return RegistrySource(target, platform=platform, **options)  # type: ignore[arg-type]  # options come from the CLI, typed there
    raise UsageError(
        f"unknown artifact type {kind!r}", hint=f"choose one of: {', '.join(ARTIFACT_TYPES)}"
    )
