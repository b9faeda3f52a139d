"""Path normalisation for entries of untrusted archives."""

from __future__ import annotations

import posixpath

from stockade.core.errors import UnsafeArtifactError


def clean_member_path(name: str, *, where: str) -> str:
    """Normalise an archive member name, refusing any that would leave the root.

    ``./usr/bin/`` becomes ``usr/bin``. Absolute names and names that climb out with
    ``..`` raise :class:`UnsafeArtifactError`: a well-formed image never has them, and
    an extractor that trusted them would write outside its target directory.
    """
    if "\x00" in name:
        raise UnsafeArtifactError(
            f"{where}: member name contains a NUL byte: {name!r}",
            hint="the archive is corrupt or hostile; it was not read further",
        )
    if name.startswith("/"):
        raise UnsafeArtifactError(
            f"{where}: member {name!r} has an absolute path",
            hint="image layers hold paths relative to the root; this archive is hostile",
        )
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeArtifactError(
                    f"{where}: member {name!r} escapes the archive root (path traversal)",
                    hint="the archive is hostile; nothing was extracted",
                )
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def resolve_link_target(link_path: str, target: str) -> str:
    """Where a symlink at ``link_path`` points, resolved inside the artifact root.

    Absolute targets are relative to the artifact root (as inside a container);
    ``..`` never climbs above the root, exactly as the kernel treats ``/..``.
    """
    base = "" if target.startswith("/") else posixpath.dirname(link_path)
    parts: list[str] = [p for p in base.split("/") if p]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)
