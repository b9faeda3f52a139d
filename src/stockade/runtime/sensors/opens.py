"""Every open for writing inside a watched container, recorded by the kernel: eBPF
programs on the ``sys_enter_*`` and ``sys_exit_*`` trace events of ``open``, ``openat``,
``openat2`` and ``creat``.

fanotify says that a file was written when it is closed, but not how it was opened: no
flags (``O_TRUNC``), no descriptor, no path as the program wrote it. Falco's write rules
(``open_write``: "Clear Log Activities", ``release_agent`` escapes, writes below ``/etc``
or to binary directories) need the open itself. As an open that may write (write
access, ``O_CREAT`` or ``O_TRUNC``) enters the kernel from a process whose mount
namespace the file sensor watches (a hash map it fills as it watches containers), the
entry program notes its flags, mode, directory descriptor and path as given, by thread;
as the call returns, the exit program sends the note with the descriptor returned into a
ring buffer (or drops it: the open failed). An open for reading is recorded only when
its path climbs out of directories twice (``../``, Falco's ``directory_traversal``:
``/var/www/../../etc/passwd``); the path is scanned in the program.

Only these four calls run the programs; every other system call pays what any enabled
system-call trace event costs (the kernel's slower system-call path), measured by
``benchmarks/bench_open_records.py``. The events' fields are read from tracefs (mounted
when it is not); the kernel members (mount namespace, ``open_how``) from BTF. 32-bit
(``ia32``) calls are not seen. The licence of the programs loaded into the kernel is
that of :mod:`.execs`'s.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from typing import Final

from stockade.runtime.sensors import bpf
from stockade.runtime.sensors.bpf import (
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R7,
    R8,
    R9,
    R10,
    BpfUnavailable,
    Btf,
    Insn,
    Label,
)
from stockade.runtime.sensors.execs import PROGRAM_LICENSE

__all__ = ["OpenRecord", "OpenRecorder", "entry_program", "exit_program", "parse_open"]

CALLS: Final = {2: "open", 85: "creat", 257: "openat", 437: "openat2"}
"""The calls recorded, by the code a record gives them (their x86_64 numbers)."""
_CODES: Final = {name: code for code, name in CALLS.items()}
AT_FDCWD: Final = -100
PATH_MAX_RECORDED: Final = 256
_HEADER = struct.Struct("=QQQIiIiIi16x")
_PATH_AT: Final = _HEADER.size
RECORD_SIZE: Final = _PATH_AT + PATH_MAX_RECORDED
RING_BYTES: Final = 4 * 1024 * 1024
_WRITE_INTENT: Final = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
_CREAT_FLAGS: Final = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
MAX_NAMESPACES: Final = 4096
TRAVERSALS: Final = 2
"""Opens for reading are recorded only when their path climbs this many times
(``../``): a directory traversal, as Falco's rule has it."""
MAX_PENDING: Final = 16384
"""Opens in progress at once (threads inside an open call); the least recently used
entry goes first, so one that never returns cannot fill the table."""


@dataclass(frozen=True, slots=True)
class OpenRecord:
    pid: int
    tid: int
    timestamp_ns: int
    """Nanoseconds since boot."""
    call: str
    fd: int
    flags: int
    mode: int
    dirfd: int
    """The directory a relative path starts from (``AT_FDCWD``: the working directory)."""
    mount_namespace: int
    path: str
    """As the program passed it (cut at 255 bytes)."""


def parse_open(data: bytes) -> OpenRecord | None:
    if len(data) < _PATH_AT:
        return None
    pid_tgid, ts, flags, number, fd, mode, dirfd, namespace, length = _HEADER.unpack_from(data)
    call = CALLS.get(number)
    if call is None:
        return None
    raw = data[_PATH_AT : _PATH_AT + max(0, min(length, PATH_MAX_RECORDED))]
    return OpenRecord(
        pid=pid_tgid >> 32,
        tid=pid_tgid & 0xFFFFFFFF,
        timestamp_ns=ts,
        call=call,
        fd=fd,
        flags=flags,
        mode=mode,
        dirfd=dirfd,
        mount_namespace=namespace,
        path=raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
    )


@dataclass(frozen=True, slots=True)
class Offsets:
    """Where the entry programs find the kernel members they read (from BTF)."""

    nsproxy: int
    mnt_ns: int
    ns: int
    inum: int
    how_flags: int
    how_mode: int

    @classmethod
    def from_btf(cls, btf: Btf) -> Offsets:
        members = {
            "nsproxy": ("task_struct", "nsproxy"),
            "mnt_ns": ("nsproxy", "mnt_ns"),
            "ns": ("mnt_namespace", "ns"),
            "inum": ("ns_common", "inum"),
            "how_flags": ("open_how", "flags"),
            "how_mode": ("open_how", "mode"),
        }
        return cls(**btf.offsets(members, "the open programs"))


# The entry program's stack: the record it builds, the key, and working slots.
_RECORD = -RECORD_SIZE
_KEY = _RECORD - 8
_FLAGS, _MODE, _DIRFD, _PATH = (_KEY - 8 * i for i in range(1, 5))
_NAMESPACE = _PATH - 4
_ARGUMENTS: Final = {
    "open": ("filename", "flags", "mode", None),
    "openat": ("filename", "flags", "mode", "dfd"),
    "openat2": ("filename", "how", None, "dfd"),
    "creat": ("pathname", None, "mode", None),
}
"""Per call: its path, flags (or ``struct open_how``), mode and directory arguments, by
their names in the ``sys_enter_<call>`` trace event."""


def entry_program(
    call: str, fields: dict[str, int], pending_fd: int, namespaces_fd: int, at: Offsets
) -> list[Insn]:
    """The ``sys_enter_<call>`` program: an open that may write, by a process of a
    watched mount namespace, is noted in ``pending`` (by thread) with its arguments and
    the path as given, for the exit program to finish."""
    a = bpf
    path_field, flags_field, mode_field, dirfd_field = _ARGUMENTS[call]
    items: list[Insn | Label] = [a.mov(R6, R1)]
    if call == "creat":
        items += [a.store_imm(8, R10, _FLAGS, _CREAT_FLAGS)]
    elif call == "openat2":
        assert flags_field is not None  # noqa: S101 - the table says so
        items += [
            a.load(8, R9, R6, fields[flags_field]),
            *a.probe_to_stack(8, _FLAGS, R9, at.how_flags, a.PROBE_READ_USER),
            *a.probe_to_stack(8, _MODE, R9, at.how_mode, a.PROBE_READ_USER),
        ]
    else:
        assert flags_field is not None  # noqa: S101
        items += [a.load(8, R1, R6, fields[flags_field]), a.store(8, R10, _FLAGS, R1)]
    if mode_field is not None:
        items += [a.load(8, R1, R6, fields[mode_field]), a.store(8, R10, _MODE, R1)]
    elif call != "openat2":
        items += [a.store_imm(8, R10, _MODE, 0)]
    if dirfd_field is not None:
        items += [a.load(8, R1, R6, fields[dirfd_field]), a.store(8, R10, _DIRFD, R1)]
    else:
        items += [a.store_imm(8, R10, _DIRFD, AT_FDCWD)]
    items += [
        a.load(8, R1, R6, fields[path_field]),
        a.store(8, R10, _PATH, R1),
        a.load(8, R7, R10, _FLAGS),
        a.and_imm(R7, _WRITE_INTENT),  # R7: 0 for a read, kept for after the copy
        # the mount namespace: current->nsproxy->mnt_ns->ns.inum, read directly through
        # the kernel's types (the verifier checks each load against BTF)
        a.call(a.GET_CURRENT_TASK_BTF),
        a.load(8, R1, R0, at.nsproxy),
        a.load(8, R1, R1, at.mnt_ns),
        a.load(4, R1, R1, at.ns + at.inum),
        a.store(4, R10, _NAMESPACE, R1),
        *a.load_map(R1, namespaces_fd),
        a.mov(R2, R10),
        a.add_imm(R2, _NAMESPACE),
        a.call(a.MAP_LOOKUP_ELEM),
        a.jump_if("==", R0, 0, "out"),
        # the record, on the stack (every byte written: it is copied into the map)
        *(a.store_imm(8, R10, _RECORD + offset, 0) for offset in range(0, RECORD_SIZE, 8)),
        a.call(a.GET_CURRENT_PID_TGID),
        a.store(8, R10, _KEY, R0),
        a.store(8, R10, _RECORD, R0),
        a.call(a.KTIME_GET_NS),
        a.store(8, R10, _RECORD + 8, R0),
        a.load(8, R1, R10, _FLAGS),
        a.store(8, R10, _RECORD + 16, R1),
        a.store_imm(4, R10, _RECORD + 24, _CODES[call]),
        a.store_imm(4, R10, _RECORD + 28, -1),
        a.load(8, R1, R10, _MODE),
        a.store(4, R10, _RECORD + 32, R1),
        a.load(8, R1, R10, _DIRFD),
        a.store(4, R10, _RECORD + 36, R1),
        a.load(4, R1, R10, _NAMESPACE),
        a.store(4, R10, _RECORD + 40, R1),
        a.mov(R1, R10),
        a.add_imm(R1, _RECORD + _PATH_AT),
        a.mov_imm(R2, PATH_MAX_RECORDED),
        a.load(8, R3, R10, _PATH),
        a.call(a.PROBE_READ_USER_STR),
        a.store(4, R10, _RECORD + 44, R0),
        a.jump_if("!=", R7, 0, "keep"),
        *_traversals(),
        Label("keep"),
        *a.load_map(R1, pending_fd),
        a.mov(R2, R10),
        a.add_imm(R2, _KEY),
        a.mov(R3, R10),
        a.add_imm(R3, _RECORD),
        a.mov_imm(R4, 0),
        a.call(a.MAP_UPDATE_ELEM),
        Label("out"),
        a.mov_imm(R0, 0),
        a.exit_(),
    ]
    return a.assemble(items)


def _traversals() -> list[Insn | Label]:
    """Count the ``../`` in the path copied onto the stack (up to its NUL, unrolled: no
    loop for the verifier to bound); fewer than two leave the program. Falco's
    ``directory_traversal`` asks for two (``fd.nameraw glob '*../*../*'``)."""
    a = bpf
    items: list[Insn | Label] = [a.mov_imm(R8, 0)]
    start = _RECORD + _PATH_AT
    for i in range(PATH_MAX_RECORDED - 2):
        items += [
            a.load(1, R1, R10, start + i),
            a.jump_if("==", R1, 0, "counted"),
            a.jump_if("!=", R1, ord("."), f"next{i}"),
            a.load(1, R1, R10, start + i + 1),
            a.jump_if("!=", R1, ord("."), f"next{i}"),
            a.load(1, R1, R10, start + i + 2),
            a.jump_if("!=", R1, ord("/"), f"next{i}"),
            a.add_imm(R8, 1),
            Label(f"next{i}"),
        ]
    return [*items, Label("counted"), a.jump_if("<", R8, TRAVERSALS, "out")]


def exit_program(ret_offset: int, pending_fd: int, ring_fd: int, lost_fd: int) -> list[Insn]:
    """The ``sys_exit_<call>`` program (one for the four calls): the thread's pending
    open, if any, goes to the ring with the descriptor returned, unless it failed."""
    a = bpf
    items = a.pending_to_ring(
        pending_fd,
        ring_fd,
        lost_fd,
        RECORD_SIZE,
        ret_offset,
        succeeded=[a.jump_if("s<", R8, 0, "forget")],
        fill=[a.store(4, R9, 28, R8)],
    )
    return a.assemble(items)


class OpenRecorder:
    """The open programs loaded and attached; :meth:`watch` adds a mount namespace to
    those recorded, :meth:`records` reads what they wrote. Needs root, BTF, BPF ring
    buffers and the system-call trace events (tracefs is mounted if it is not);
    :class:`~.bpf.BpfUnavailable` otherwise."""

    def __init__(self, *, btf: Btf | None = None) -> None:
        offsets = Offsets.from_btf(btf or Btf.kernel())
        events = {}
        for call in _ARGUMENTS:
            with contextlib.suppress(BpfUnavailable):  # a call this architecture lacks
                events[call] = (
                    bpf.tracepoint_format("syscalls", f"sys_enter_{call}"),
                    bpf.tracepoint_format("syscalls", f"sys_exit_{call}"),
                )
        if "openat" not in events:
            raise BpfUnavailable(0, "the kernel has no system call trace events")
        self._kernel = kernel = bpf.Loaded("stk_opens", RING_BYTES)
        try:
            pending = kernel.pending(RECORD_SIZE, MAX_PENDING, "stk_open_wait")
            self._namespaces = kernel.keep(
                bpf.create_map(bpf.MAP_HASH, 4, 4, MAX_NAMESPACES, "stk_open_ns")
            )
            exit_fd = -1
            for call, ((enter_id, fields), (exit_id, exit_fields)) in events.items():
                if exit_fd < 0:
                    exit_fd = kernel.program(
                        bpf.PROG_TRACEPOINT,
                        exit_program(exit_fields["ret"], pending, kernel.ring_fd, kernel.lost_fd),
                        "stk_open_exit",
                        PROGRAM_LICENSE,
                    )
                enter_fd = kernel.program(
                    bpf.PROG_TRACEPOINT,
                    entry_program(call, fields, pending, self._namespaces, offsets),
                    f"stk_{call}",
                    PROGRAM_LICENSE,
                )
                kernel.on_trace_event(enter_fd, enter_id)
                kernel.on_trace_event(exit_fd, exit_id)
            self._ring = kernel.map_ring()
        except BaseException:
            kernel.close()
            raise
        self.records_read = 0

    def fileno(self) -> int:
        """The ring's descriptor: readable when records wait."""
        return self._kernel.ring_fd

    def watch(self, namespace: int) -> bool:
        """Record the opens of processes in the mount namespace ``namespace`` (the inode
        number of ``/proc/PID/ns/mnt``); False when the table is full."""
        try:
            bpf.update_u32(self._namespaces, namespace, 1)
        except OSError:
            return False
        return True

    def forget(self, namespace: int) -> None:
        with contextlib.suppress(OSError):
            bpf.delete_key(self._namespaces, namespace)

    @property
    def lost(self) -> int:
        """Opens the kernel could not record because the ring was full."""
        return self._kernel.lost

    def records(self, limit: int | None = None) -> list[OpenRecord]:
        found = []
        for data in self._ring.records(limit):
            record = parse_open(data)
            if record is not None:
                found.append(record)
        self.records_read += len(found)
        return found

    def close(self) -> None:
        self._kernel.close()

    def __enter__(self) -> OpenRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mount_namespace(pid: int, proc: str = "/proc") -> int | None:
    """The inode number of ``pid``'s mount namespace, or None when it is gone."""
    try:
        return os.stat(f"{proc}/{pid}/ns/mnt").st_ino
    except OSError:
        return None
