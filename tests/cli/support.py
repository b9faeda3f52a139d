"""Helpers for CLI tests: a small real root filesystem, and the installed command run
with its output on pipes or on real pseudo-terminals."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

STOCKADE = Path(sys.executable).with_name("stockade")
"""The console script installed next to the interpreter running the tests."""

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: vim-tiny
Status: install ok installed
Architecture: amd64
Source: vim (2:9.0.1378-2)
Version: 2:9.0.1378-2~bpo12+1
Description: Vi IMproved - enhanced vi editor - compact version
"""

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""

PYTHON_METADATA = """\
Metadata-Version: 2.1
Name: six
Version: 1.16.0
License: MIT
"""

EXPECTED_PACKAGES = {("libc6", "2.36-9+deb12u4"), ("vim-tiny", "2:9.0.1378-2~bpo12+1")}
"""What the dpkg cataloger must find in the root filesystem made by :func:`make_rootfs`."""

# Variables that would change what the command prints, cleared for every run.
_NOISY = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "STOCKADE_DEBUG", "COLUMNS", "LINES")


def make_rootfs(root: Path) -> Path:
    """A root filesystem with an os-release, two dpkg packages and one Python package."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    dist_info = root / "usr/lib/python3/dist-packages/six-1.16.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(PYTHON_METADATA)
    return root


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOISY}
    env["TERM"] = "xterm-256color"  # what a person's terminal says; CI may have none
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stdout: str
    stderr: str


class _TerminalReader(threading.Thread):
    """Drains the master side of a pseudo-terminal until the child closes it."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.chunks: list[bytes] = []

    def run(self) -> None:
        try:
            while True:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    return
                if not chunk:
                    return
                self.chunks.append(chunk)
        finally:
            os.close(self.master)

    def text(self) -> str:
        # The terminal's line discipline turns "\n" into "\r\n".
        return b"".join(self.chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def _terminal() -> tuple[int, int]:
    master, slave = pty.openpty()
    # A size, as a real terminal window has (a fresh pty reports 0 x 0).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return master, slave


def run_stockade(
    *args: str,
    stdout_tty: bool = False,
    stderr_tty: bool = False,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    timeout: float = 120,
) -> Run:
    """Run the installed ``stockade`` (or ``command``) in a fresh process."""
    if command is None:
        if not STOCKADE.exists():
            pytest.skip(f"the console script is not installed at {STOCKADE}")
        command = [str(STOCKADE)]
    readers: dict[str, _TerminalReader] = {}
    streams: dict[str, int] = {}
    slaves: list[int] = []
    for name, tty in (("stdout", stdout_tty), ("stderr", stderr_tty)):
        if tty:
            master, slave = _terminal()
            readers[name] = _TerminalReader(master)
            streams[name] = slave
            slaves.append(slave)
        else:
            streams[name] = subprocess.PIPE
    try:
        proc = subprocess.Popen(
            [*command, *args],
            stdin=subprocess.DEVNULL,
            stdout=streams["stdout"],
            stderr=streams["stderr"],
            env=clean_env() if env is None else env,
        )
    finally:
        for slave in slaves:
            os.close(slave)
    for reader in readers.values():
        reader.start()
    out, err = proc.communicate(timeout=timeout)
    for reader in readers.values():
        reader.join(timeout)
    return Run(
        code=proc.returncode,
        stdout=readers["stdout"].text() if "stdout" in readers else out.decode("utf-8", "replace"),
        stderr=readers["stderr"].text() if "stderr" in readers else err.decode("utf-8", "replace"),
    )
