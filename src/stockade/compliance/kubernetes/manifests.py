"""Reading Kubernetes manifests from files, directories or text: the I/O edge.

Everything here reads bytes and hands them to the pure
:func:`~stockade.compliance.yamlload.load_documents` and
:func:`~stockade.compliance.kubernetes.resources.resources_from_documents`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from stockade.compliance.kubernetes.resources import Resource, resources_from_documents
from stockade.compliance.yamlload import YamlLimits, YamlLoadError, load_documents

__all__ = [
    "MANIFEST_SUFFIXES",
    "ManifestError",
    "iter_manifest_files",
    "load_manifest_file",
    "load_manifest_text",
    "load_manifests",
]

MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")


class ManifestError(YamlLoadError):
    """A manifest cannot be read: no such file, not a file, unreadable."""


def load_manifests(
    source: str | bytes | os.PathLike[str], *, limits: YamlLimits | None = None
) -> list[Resource]:
    """Every Kubernetes object in a file, a directory or a text.

    * a :class:`pathlib.Path` (any ``os.PathLike``) is read from disk: a file, or a
      directory whose ``*.yaml``, ``*.yml`` and ``*.json`` files are read in sorted
      order, recursively (symbolic links to directories are not followed);
    * ``bytes``, and a ``str`` that holds a line break or starts with ``{`` or ``[``,
      are manifest text (named ``<text>`` in errors);
    * any other ``str`` is a path.

    Raises :class:`~stockade.compliance.yamlload.YamlLoadError` (for a file that is
    not loadable YAML or JSON) or :class:`ManifestError` (for one that cannot be
    read); the first bad file stops the load.
    """
    if isinstance(source, bytes):
        return load_manifest_text(source, limits=limits)
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith(("{", "["))):
        return load_manifest_text(source, limits=limits)
    path = Path(source)
    resources: list[Resource] = []
    for file in iter_manifest_files(path):
        resources.extend(load_manifest_file(file, limits=limits))
    return resources


def load_manifest_text(
    text: str | bytes, *, name: str = "<text>", limits: YamlLimits | None = None
) -> list[Resource]:
    """Every Kubernetes object in ``text``; ``name`` stands for the file in results."""
    return resources_from_documents(load_documents(text, name=name, limits=limits), name)


def load_manifest_file(path: Path, *, limits: YamlLimits | None = None) -> list[Resource]:
    """Every Kubernetes object in one file, refusing one over the size limit unread."""
    limits = limits or YamlLimits()
    name = str(path)
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > limits.max_bytes:
                raise YamlLoadError(
                    f"{size} bytes is over the {limits.max_bytes}-byte limit for one YAML text",
                    "split the file, or raise YamlLimits.max_bytes if it really is one manifest",
                    file=name,
                )
            # Read one byte past the limit: a file that grew since fstat is caught too.
            data = stream.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest: {exc.strerror or exc}", file=name) from exc
    return load_manifest_text(data, name=name, limits=limits)


def iter_manifest_files(path: Path) -> Iterator[Path]:
    """``path`` itself if it is a file, else the manifest files under it, sorted."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise ManifestError(
            "no such file or directory",
            "pass manifest text as str with a line break, or as bytes",
            file=str(path),
        )
    for root, directories, files in os.walk(path, onerror=_walk_error):
        directories.sort()
        for name in sorted(files):
            if name.endswith(MANIFEST_SUFFIXES):
                yield Path(root, name)


def _walk_error(error: OSError) -> None:
    raise ManifestError(
        f"cannot list directory: {error.strerror or error}", file=str(error.filename)
    ) from error
