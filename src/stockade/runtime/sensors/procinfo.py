"""What ``/proc/PID`` says about a process, read at once.

A short-lived process may be gone before its files are read, and a pid may be reused;
every read here tolerates that: a field that could not be read is ``None`` (or empty),
and :func:`read_process` returns ``None`` only when nothing at all was there.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from stockade.runtime.events import Process

__all__ = [
    "ProcSnapshot",
    "capabilities",
    "read_process",
    "readlink_or_none",
    "runs_other_program",
]

_CAP_NAMES: Final = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
_O_RDONLY: Final = os.O_RDONLY | os.O_CLOEXEC


@functools.lru_cache(maxsize=256)
def capabilities(mask: int) -> frozenset[str]:
    """The capability names set in ``mask`` (few distinct masks occur: cached)."""
    return frozenset(name for bit, name in enumerate(_CAP_NAMES) if mask >> bit & 1)


@functools.cache
def bounding_capabilities() -> frozenset[str]:
    """The capability names in this process's bounding set: what it, and a container it
    starts, can be given (every capability, for root on the host)."""
    status = _read("/proc/self/status") or b""
    found = re.search(rb"^CapBnd:\s*([0-9a-f]+)", status, re.MULTILINE)
    return capabilities(int(found[1], 16)) if found else frozenset()


@dataclass(frozen=True, slots=True)
class ProcSnapshot:
    pid: int
    comm: str
    exepath: str
    argv: tuple[str, ...]
    cwd: str | None
    ppid: int | None
    uid: int | None
    gid: int | None
    loginuid: int
    tty: int
    sid: int | None
    vpid: int | None
    vpgid: int | None
    start_ticks: int | None
    """Start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    cap_effective: frozenset[str] | None
    cap_permitted: frozenset[str] | None
    cap_inheritable: frozenset[str] | None
    cgroup: str | None
    """The raw ``/proc/PID/cgroup`` text."""
    exe_deleted: bool = False
    exe_from_memfd: bool = False
    exe_ino: int | None = None
    exe_ctime_ns: int | None = None
    """When the executable's inode last changed (written, or made executable)."""
    stdio: tuple[str, ...] = ()

    @property
    def start_seconds_since_boot(self) -> float | None:
        return None if self.start_ticks is None else self.start_ticks / _CLK_TCK


def _read(path: str) -> bytes | None:
    """A whole ``/proc`` file, or None. Plain ``os`` calls: at thousands of execs a
    second, pathlib's object per path and buffered file are the sensor's largest cost."""
    try:
        fd = os.open(path, _O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:  # a long command line
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def readlink_or_none(path: str) -> str | None:
    """Where the link ``path`` points, or None (gone, or not a link)."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def runs_other_program(process: Process, proc: Path = Path("/proc")) -> bool:
    """Whether ``process`` (as the process tracker knows it) now runs another program:
    an exec the tracker has not handled yet, so its name, arguments and working
    directory are those of the program it was forked from. False when it is gone."""
    exe = readlink_or_none(f"{proc}/{process.pid}/exe")
    if exe is None:
        return False
    return exe.removesuffix(" (deleted)") != (process.exepath or process.exe)


def read_process(pid: int, proc: Path = Path("/proc")) -> ProcSnapshot | None:
    """Everything this module reads of ``pid``, or None when the process is gone.

    What disappears first when a process exits is read first: its executable and
    command line go with its memory, while ``stat`` and ``status`` stay readable until
    its parent reaps it.
    """
    base = f"{proc}/{pid}"
    exe = readlink_or_none(f"{base}/exe") or ""
    cmdline = _read(f"{base}/cmdline")
    stat = _read(f"{base}/stat")
    if stat is None and cmdline is None and not exe:
        return None
    exe_ino: int | None = None
    exe_ctime: int | None = None
    if exe:
        try:
            exe_stat = os.stat(f"{base}/exe")
            exe_ino, exe_ctime = exe_stat.st_ino, exe_stat.st_ctime_ns
        except OSError:
            pass
    stdio = (
        readlink_or_none(f"{base}/fd/0") or "",
        readlink_or_none(f"{base}/fd/1") or "",
        readlink_or_none(f"{base}/fd/2") or "",
    )
    cwd = readlink_or_none(f"{base}/cwd")
    status = _read(f"{base}/status") or b""
    cgroup = _read(f"{base}/cgroup")
    loginuid = _int((_read(f"{base}/loginuid") or b"").strip())
    comm, ppid, sid, tty, start = _parse_stat(stat)
    fields = _parse_status(status)
    deleted = exe.endswith(" (deleted)")
    exepath = exe.removesuffix(" (deleted)")
    argv = (
        tuple(a.decode("utf-8", "surrogateescape") for a in cmdline.split(b"\0")[:-1])
        if cmdline
        else ()
    )
    return ProcSnapshot(
        pid=pid,
        comm=comm or fields.get("Name", ""),
        exepath=exepath,
        argv=argv,
        cwd=cwd,
        ppid=ppid if ppid is not None else _int(fields.get("PPid")),
        uid=_first_int(fields.get("Uid")),
        gid=_first_int(fields.get("Gid")),
        loginuid=-1 if loginuid in (None, 4294967295) else loginuid,
        tty=tty or 0,
        sid=sid,
        vpid=_last_int(fields.get("NSpid")),
        vpgid=_last_int(fields.get("NSpgid")),
        start_ticks=start,
        cap_effective=_caps(fields.get("CapEff")),
        cap_permitted=_caps(fields.get("CapPrm")),
        cap_inheritable=_caps(fields.get("CapInh")),
        cgroup=cgroup.decode("utf-8", "replace") if cgroup is not None else None,
        exe_deleted=deleted,
        exe_from_memfd=exepath.startswith("/memfd:"),
        exe_ino=exe_ino,
        exe_ctime_ns=exe_ctime,
        stdio=stdio,
    )


def _parse_stat(stat: bytes | None) -> tuple[str, int | None, int | None, int | None, int | None]:
    if not stat:
        return "", None, None, None, None
    open_paren, close_paren = stat.find(b"("), stat.rfind(b")")
    if open_paren < 0 or close_paren < 0:
        return "", None, None, None, None
    comm = stat[open_paren + 1 : close_paren].decode("utf-8", "replace")
    rest = stat[close_paren + 2 :].split()

    # rest[0] is field 3 (state): ppid 4, pgrp 5, session 6, tty_nr 7, starttime 22
    def field(n: int) -> int | None:
        index = n - 3
        return _int(rest[index]) if len(rest) > index else None

    return comm, field(4), field(6), field(7), field(22)


_STATUS_KEYS: Final = frozenset(
    {"Name", "PPid", "Uid", "Gid", "NSpid", "NSpgid", "CapInh", "CapPrm", "CapEff"}
)


def _parse_status(status: bytes) -> dict[str, str]:
    """The lines of ``status`` this module uses (of some 55)."""
    fields = {}
    for line in status.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition(":")
        if sep and key in _STATUS_KEYS:
            fields[key] = value.strip()
    return fields


def _int(value: bytes | str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _first_int(value: str | None) -> int | None:
    return _int(value.split()[0]) if value else None


def _last_int(value: str | None) -> int | None:
    return _int(value.split()[-1]) if value else None


def _caps(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    try:
        return capabilities(int(value, 16))
    except ValueError:
        return None
