"""What to check in a target: ``stockade check TARGET`` decides here, not in the CLI.

A target is one of:

* an **image**: an image tarball, an OCI layout (a directory holding ``oci-layout``, or
  ``LAYOUT:TAG``), a zip, or a registry reference (anything that is not a path here):
  the image checks run on it;
* a **configuration file**: a Dockerfile (``Dockerfile``, ``Dockerfile.*``,
  ``*.Dockerfile``, ``Containerfile``), YAML (Kubernetes manifests) or JSON (Kubernetes
  manifests, an ECS task definition, a Lambda function configuration, told apart by
  their keys);
* a **directory** of configuration: walked once, and every file of the kinds above
  checked. Directories of tools and dependencies (``.git``, ``node_modules``, virtual
  environments…) are not entered, and JSON files that are none of the known documents
  (``package.json``, ``tsconfig.json``) are left alone.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

MANIFEST_SUFFIXES: Final = (".yaml", ".yml")
_JSON_SUFFIX: Final = ".json"
_SKIPPED_DIRECTORIES: Final = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".terraform", ".tox"}
)
_MAX_JSON_BYTES: Final = 20 << 20
"""Larger JSON files are not task definitions or function configurations."""
_IMAGE_SUFFIXES: Final = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".zip", ".oci")


class ConfigKind(enum.StrEnum):
    KUBERNETES = "kubernetes"
    DOCKERFILE = "dockerfile"
    TASK_DEFINITION = "task-definition"
    FUNCTION = "function"


@dataclass(slots=True)
class ConfigFiles:
    """The configuration files found in a target, by kind, each list in walk order."""

    files: dict[ConfigKind, list[Path]] = field(default_factory=dict)

    def add(self, kind: ConfigKind, path: Path) -> None:
        self.files.setdefault(kind, []).append(path)

    def of(self, kind: ConfigKind) -> list[Path]:
        return self.files.get(kind, [])

    def __bool__(self) -> bool:
        return any(self.files.values())


def is_dockerfile_name(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered == "dockerfile"
        or lowered.startswith("dockerfile.")
        or lowered.endswith(".dockerfile")
        or lowered in ("containerfile",)
        or lowered.startswith("containerfile.")
    )


def json_document_kind(document: Any) -> ConfigKind | None:
    """Which known document a JSON value is, by its keys (None: none we check)."""
    if isinstance(document, list):
        return ConfigKind.KUBERNETES if any(_is_object(d) for d in document[:1]) else None
    if not isinstance(document, dict):
        return None
    if "taskDefinition" in document or "containerDefinitions" in document:
        return ConfigKind.TASK_DEFINITION
    if "FunctionName" in document or ("Configuration" in document and "Code" in document):
        return ConfigKind.FUNCTION
    if _is_object(document):
        return ConfigKind.KUBERNETES
    return None


def _is_object(document: Any) -> bool:
    return isinstance(document, dict) and "apiVersion" in document and "kind" in document


def classify_file(path: Path) -> ConfigKind | None:
    """The kind of configuration a file holds, or None when it is none we check."""
    name = path.name
    if is_dockerfile_name(name):
        return ConfigKind.DOCKERFILE
    if name.endswith(MANIFEST_SUFFIXES):
        return ConfigKind.KUBERNETES
    if name.endswith(_JSON_SUFFIX):
        try:
            if path.stat().st_size > _MAX_JSON_BYTES:
                return None
            document = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            # Unreadable or not JSON: the manifest loader reports why, as for YAML.
            return ConfigKind.KUBERNETES
        return json_document_kind(document)
    return None


def find_config_files(paths: Iterable[Path]) -> ConfigFiles:
    """The configuration files in ``paths`` (files or directories), in one walk each.

    A file named explicitly is taken by its name even when a walk would skip it; a
    file no kind claims is ignored in a walk but listed under Kubernetes when named
    explicitly, so the user hears why it could not be read.
    """
    found = ConfigFiles()
    for path in paths:
        if not path.is_dir():
            found.add(classify_file(path) or ConfigKind.KUBERNETES, path)
            continue
        for root, directories, files in os.walk(path):
            directories[:] = sorted(d for d in directories if d not in _SKIPPED_DIRECTORIES)
            for name in sorted(files):
                file = Path(root, name)
                kind = classify_file(file)
                if kind is not None:
                    found.add(kind, file)
    return found


def is_image_target(target: str) -> bool:
    """Whether ``target`` names an image (archive, OCI layout, registry) rather than
    configuration files."""
    path = Path(target)
    if path.is_dir():
        return (path / "oci-layout").is_file()
    if path.is_file():
        return target.lower().endswith(_IMAGE_SUFFIXES) or _is_binary(path)
    # Not a path here: LAYOUT:TAG of an OCI layout, or else a reference to a registry.
    # (A path that exists but is neither file nor directory, a socket, is no image.)
    return not path.exists()


def _is_binary(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return b"\0" in head or head.startswith((b"\x1f\x8b", b"PK\x03\x04", b"\x28\xb5\x2f\xfd"))
