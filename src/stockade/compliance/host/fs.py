"""Reading files under a root directory as if it were ``/``, never outside it.

Symbolic links are followed the way the kernel would inside a chroot at ``root``: an
absolute target starts again at ``root``, and ``..`` stops at ``root``. So a link in a
mounted image that points at ``/etc/shadow`` reads the image's shadow file, not the
scanning host's.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Final

from stockade.compliance.host.errors import HostCheckError

__all__ = ["HostRoot"]

_MAX_LINKS: Final = 40  # Linux's limit on links followed in one lookup
_MAX_BYTES: Final = 4 * 1024 * 1024


class HostRoot:
    """A directory taken as the root of the host to inspect."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, path: str) -> Path | None:
        """The real location of ROOT-relative ``path``, or None if it does not exist."""
        pending = list(reversed(PurePosixPath("/", path).parts[1:]))
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            if part in ("", "."):
                continue
            candidate = self.root.joinpath(*done, part)
            try:
                info = os.lstat(candidate)
            except OSError:
                return None
            if stat.S_ISLNK(info.st_mode):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = PurePosixPath(os.readlink(candidate))
                if target.is_absolute():
                    done = []
                pending.extend(reversed([p for p in target.parts if p != "/"]))
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def stat(self, path: str) -> os.stat_result | None:
        """``lstat`` of ``path`` after resolving links inside the root; None if absent."""
        real = self.resolve(path)
        if real is None:
            return None
        try:
            return os.lstat(real)
        except OSError:
            return None

    def read_text(self, path: str) -> str | None:
        """The text of regular file ``path``, or None if it does not exist."""
        real = self.resolve(path)
        if real is None:
            return None
        try:
            info = os.lstat(real)
            if not stat.S_ISREG(info.st_mode):
                return None
            if info.st_size > _MAX_BYTES:
                raise HostCheckError(f"/{path}: larger than {_MAX_BYTES} bytes", "is it the file?")
            return real.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise HostCheckError(
                f"/{path}: cannot read {real}: {exc.strerror}", "run as a user who can read it"
            ) from exc

    def glob(self, directory: str, pattern: str) -> list[str]:
        """ROOT-relative paths in ``directory`` whose names match ``pattern``, sorted."""
        real = self.resolve(directory)
        if real is None or not real.is_dir():
            return []
        return sorted(f"{directory.rstrip('/')}/{p.name}" for p in real.glob(pattern))
