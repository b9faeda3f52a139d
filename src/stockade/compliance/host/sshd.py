"""sshd_config as sshd reads it: keywords case-insensitive, the first value wins.

``Include`` is expanded in place (relative paths are under ``/etc/ssh``, globs sorted),
as OpenSSH does. Settings inside ``Match`` blocks apply only to some connections, so the
global view stops at the first ``Match``.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass
from typing import Final

from stockade.compliance.host.fs import HostRoot

__all__ = ["SSHD_CONFIG", "SshdSetting", "read_sshd_config"]

SSHD_CONFIG: Final = "etc/ssh/sshd_config"
_MAX_DEPTH: Final = 16


@dataclass(frozen=True, slots=True)
class SshdSetting:
    value: str
    file: str
    line: int


def read_sshd_config(host: HostRoot) -> dict[str, SshdSetting] | None:
    """Global settings by lower-case keyword; None when there is no sshd_config."""
    text = host.read_text(SSHD_CONFIG)
    if text is None:
        return None
    settings: dict[str, SshdSetting] = {}
    _parse(host, text, "/" + SSHD_CONFIG, settings, 0)
    return settings


def _parse(host: HostRoot, text: str, file: str, out: dict[str, SshdSetting], depth: int) -> bool:
    """Add ``text``'s settings to ``out``; False once a Match block starts."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.replace("=", " ", 1).partition(" ")
        keyword, rest = keyword.lower(), rest.strip()
        if keyword == "match":
            return False
        if keyword == "include":
            if depth >= _MAX_DEPTH:
                continue
            for pattern in _words(rest):
                for path in _include_paths(host, pattern):
                    included = host.read_text(path)
                    if included is not None and not _parse(
                        host, included, "/" + path, out, depth + 1
                    ):
                        return False
            continue
        out.setdefault(keyword, SshdSetting(rest, file, number))
    return True


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _include_paths(host: HostRoot, pattern: str) -> list[str]:
    path = pattern.lstrip("/") if pattern.startswith("/") else f"etc/ssh/{pattern}"
    directory, _, name = path.rpartition("/")
    if any(c in name for c in "*?["):
        return [p for p in host.glob(directory, "*") if fnmatch.fnmatch(p.rsplit("/", 1)[1], name)]
    return [path]
