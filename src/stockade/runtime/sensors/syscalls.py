"""What a thread waiting inside ``open(2)`` asked for, read from ``/proc``.

fanotify's permission events stop the opener inside its system call until the Defender
answers. While it waits, ``/proc/TID/syscall`` holds the call's number and arguments,
and ``/proc/TID/mem`` the memory they point to: the path exactly as the program wrote it
(``fd.nameraw``, with any ``../``), the flags (``O_TRUNC``, ``O_CREAT``: the file the
kernel hands over does not keep them) and, for ``openat2``, the ``open_how`` structure.
The kernel has already reserved the descriptor the open will return: the lowest number
the thread's descriptor table does not hold yet (``get_unused_fd_flags`` runs before the
file is opened). So that number is the lowest one missing from ``/proc/TID/fd``; exact
for a thread whose table no other thread is adding to at that moment.

Everything here needs the opener to be stopped (a permission event) and the right to
trace it (root); anything that cannot be read gives ``None``, never an exception.
"""

from __future__ import annotations

import itertools
import os
import platform
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["PendingOpen", "pending_open", "thread_group"]

_OPEN_CALLS: Final[dict[str, dict[int, str]]] = {
    # (number → name) per architecture; arm64 and the newer tables have no open/creat
    "x86_64": {2: "open", 85: "creat", 257: "openat", 437: "openat2"},
    "aarch64": {56: "openat", 437: "openat2"},
}
_CREAT_FLAGS: Final = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
_PATH_MAX: Final = 4096
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")
_SETTLE_SECONDS: Final = 0.5
"""How long an opener seen on the CPU is given to go to sleep in its open."""
_YIELDS: Final = 20
_OPEN_HOW: Final = struct.Struct("=QQQ")
"""``struct open_how``: flags, mode, resolve."""


@dataclass(frozen=True, slots=True)
class PendingOpen:
    """An open the thread is inside of."""

    call: str
    """``open``, ``openat``, ``openat2`` or ``creat``."""
    flags: int
    mode: int
    raw_path: str | None
    """The path argument as the program passed it; None where memory could not be read."""
    fd: int | None
    """The descriptor the open will return when it succeeds."""


def thread_group(tid: int, proc: Path = Path("/proc")) -> int | None:
    """The process (thread group) a thread belongs to; None once it is gone."""
    try:
        with open(f"{proc}/{tid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pending_open(tid: int, proc: Path = Path("/proc")) -> PendingOpen | None:
    """The open ``tid`` is stopped in, or None (not in an open, gone, not readable)."""
    calls = _OPEN_CALLS.get(platform.machine())
    if calls is None:
        return None
    words = _stopped_call(proc, tid)
    try:
        number = int(words[0])
        args = [int(word, 16) for word in words[1:7]]
    except (ValueError, IndexError):
        return None  # gone, or not in a system call
    call = calls.get(number)
    if call is None or len(args) < 4:
        return None
    if call in ("open", "creat"):
        path_at, flags, mode = args[0], args[1], args[2]
        if call == "creat":
            flags, mode = _CREAT_FLAGS, args[1]
    elif call == "openat":
        path_at, flags, mode = args[1], args[2], args[3]
    else:
        path_at = args[1]
        size = args[3]
        how = _read_memory(proc, tid, args[2], _OPEN_HOW.size) if size >= _OPEN_HOW.size else None
        if how is None or len(how) < _OPEN_HOW.size:
            return None
        flags, mode, _resolve = _OPEN_HOW.unpack(how)
    raw = _read_string(proc, tid, path_at)
    return PendingOpen(call, flags & 0xFFFF_FFFF, mode & 0o7777, raw, _lowest_free(proc, tid))


def _stopped_call(proc: Path, tid: int) -> list[bytes]:
    """The words of ``/proc/TID/syscall`` once the thread is off the CPU. The kernel
    wakes the reader of a permission event before the opener has gone to sleep waiting
    for the answer; until it has, the file says ``running``."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    for attempt in itertools.count():
        try:
            with open(f"{proc}/{tid}/syscall", "rb") as handle:
                words = handle.read().split()
        except OSError:
            return []
        if words[:1] != [b"running"] or time.monotonic() >= deadline:
            return words
        if attempt < _YIELDS:
            os.sched_yield()
        else:  # preempted before it slept, on a busy machine: let it have the CPU
            time.sleep(0.001)
    return []


def _read_memory(proc: Path, tid: int, address: int, size: int) -> bytes | None:
    try:
        fd = os.open(f"{proc}/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.pread(fd, size, address)
    except (OSError, OverflowError, ValueError):
        return None
    finally:
        os.close(fd)


def _read_string(proc: Path, tid: int, address: int) -> str | None:
    """A NUL-terminated string of at most ``PATH_MAX`` bytes, read a page at a time (the
    string may end just before an unmapped page)."""
    if address == 0:
        return None
    try:
        fd = os.open(f"{proc}/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = b""
        while len(data) < _PATH_MAX:
            at = address + len(data)
            want = min(_PAGE - at % _PAGE, _PATH_MAX - len(data))
            chunk = os.pread(fd, want, at)
            end = chunk.find(b"\0")
            if end >= 0:
                return os.fsdecode(data + chunk[:end])
            if len(chunk) < want:
                return None
            data += chunk
        return None  # longer than PATH_MAX: the open fails with ENAMETOOLONG
    except (OSError, OverflowError, ValueError):
        return None
    finally:
        os.close(fd)


def _lowest_free(proc: Path, tid: int) -> int | None:
    try:
        held = {int(name) for name in os.listdir(f"{proc}/{tid}/fd")}
    except (OSError, ValueError):
        return None
    number = 0
    while number in held:
        number += 1
    return number
