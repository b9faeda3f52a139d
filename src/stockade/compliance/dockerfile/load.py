"""Reading a Dockerfile from disk (the I/O edge of the pure parser)."""

from __future__ import annotations

import os
from pathlib import Path

from stockade.compliance.dockerfile.errors import DockerfileError
from stockade.compliance.dockerfile.parser import MAX_DOCKERFILE_CHARS, Dockerfile, parse_dockerfile

__all__ = ["read_dockerfile"]


def read_dockerfile(path: str | os.PathLike[str]) -> Dockerfile:
    """Read and parse the Dockerfile at ``path``; its name in results is the path given."""
    name = os.fspath(path)
    try:
        with Path(name).open("rb") as handle:
            data = handle.read(MAX_DOCKERFILE_CHARS * 4 + 1)
    except OSError as exc:
        raise DockerfileError(
            f"{name}: cannot read: {exc.strerror or exc}",
            hint="give the path of a readable Dockerfile",
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DockerfileError(
            f"{name}: not UTF-8 text (byte {exc.start})",
            hint="Dockerfiles are UTF-8 text",
        ) from exc
    return parse_dockerfile(text, name)
