"""Who ran what, recorded by the kernel at the moment of ``execve``: an eBPF program on
the ``sched_process_exec`` tracepoint.

The proc connector says *that* a process executed; what it executed has to be read from
``/proc/PID`` afterwards, and a short-lived process (``cat /etc/shadow``, a probe, a
``/bin/true`` in a loop) is often gone by then. This program writes, inside the exec
itself, the pid, thread, parent, uid and gid, ``comm``, cgroup, the path executed and
the new command line into a ring buffer. The kernel runs the tracepoint before it sends
the proc connector's exec message, so when that message arrives the record is already
there: :meth:`ExecRecorder.take` finds it by pid. The process tracker uses it for a
process that is gone before ``/proc`` could be read.

The program is a few dozen instructions written out below (no compiler at run time);
the offsets of the kernel structure members it reads (``task_struct.real_parent``,
``.tgid``, ``.mm``; ``mm_struct.arg_start``/``arg_end``; ``linux_binprm.filename``) come
from the running kernel's BTF. It is a raw tracepoint, so tracefs need not be mounted.

Licence: the program loaded into the kernel (the instructions built by
:func:`exec_program`) is offered under the GPL-2.0 or the BSD-2-Clause, as the kernel
requires of programs that read kernel memory; the rest of Stockade is Apache-2.0.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Final

from stockade.runtime.sensors import bpf
from stockade.runtime.sensors.bpf import (
    R0,
    R1,
    R2,
    R3,
    R6,
    R7,
    R8,
    R9,
    R10,
    Btf,
    Insn,
    Label,
)

__all__ = ["ExecRecord", "ExecRecorder", "exec_program", "parse_record"]

PROGRAM_LICENSE: Final = "Dual BSD/GPL"
FILENAME_MAX: Final = 256
RECORD_SIZE: Final = 4096
_HEADER = struct.Struct("=QQQQI4x16sii")
_FILENAME_AT: Final = _HEADER.size
_ARGS_AT: Final = _FILENAME_AT + FILENAME_MAX
ARGS_MAX: Final = RECORD_SIZE - _ARGS_AT
RING_BYTES: Final = 8 * 1024 * 1024
"""Room for 2,048 execs not yet taken; beyond that the kernel counts them as lost."""
BUSY_WAIT: Final = 0.01
"""Seconds to wait, at most, for a record that another CPU reserved before this exec's
and is still writing (microseconds, unless that CPU was preempted in the middle)."""
MAX_WAITING: Final = 8192
"""Records kept for execs the proc connector has not announced yet (or never will: a
thread's exec, or one from before the tracker started)."""


@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One exec as the kernel saw it (numbers as the host's namespaces see them)."""

    pid: int
    tid: int
    ppid: int
    uid: int
    gid: int
    timestamp_ns: int
    """Nanoseconds since boot (the clock the proc connector stamps with)."""
    cgroup_id: int
    comm: str
    filename: str
    """The path given to ``execve`` (as written: relative, or ``/dev/fd/N``)."""
    argv: tuple[str, ...]
    argv_truncated: bool = False


def parse_record(data: bytes) -> ExecRecord | None:
    """The record in ``data`` (one ring-buffer record), or None when it is too short."""
    if len(data) < _ARGS_AT:
        return None
    pid_tgid, uid_gid, ts, cgroup, ppid, comm, name_len, args_len = _HEADER.unpack_from(data)
    name = data[_FILENAME_AT : _FILENAME_AT + max(0, min(name_len, FILENAME_MAX))]
    args = data[_ARGS_AT : _ARGS_AT + max(0, min(args_len, ARGS_MAX))]
    argv = tuple(_text(a) for a in args.split(b"\0"))
    truncated = args_len >= ARGS_MAX and not args.endswith(b"\0")
    if argv and argv[-1] == "" and not truncated:
        argv = argv[:-1]
    return ExecRecord(
        pid=pid_tgid >> 32,
        tid=pid_tgid & 0xFFFFFFFF,
        ppid=ppid,
        uid=uid_gid & 0xFFFFFFFF,
        gid=uid_gid >> 32,
        timestamp_ns=ts,
        cgroup_id=cgroup,
        comm=_text(comm.split(b"\0", 1)[0]),
        filename=_text(name.split(b"\0", 1)[0]),
        argv=argv,
        argv_truncated=truncated,
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Offsets:
    real_parent: int
    tgid: int
    mm: int
    arg_start: int
    arg_end: int
    filename: int

    @classmethod
    def from_btf(cls, btf: Btf) -> Offsets:
        members = {
            "real_parent": ("task_struct", "real_parent"),
            "tgid": ("task_struct", "tgid"),
            "mm": ("task_struct", "mm"),
            "arg_start": ("mm_struct", "arg_start"),
            "arg_end": ("mm_struct", "arg_end"),
            "filename": ("linux_binprm", "filename"),
        }
        return cls(**btf.offsets(members, "the exec program"))


def exec_program(ring_fd: int, lost_fd: int, at: Offsets) -> list[Insn]:
    """The ``sched_process_exec`` program. Its context is the tracepoint's arguments:
    ``(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)``; ``p`` is the
    current task. A record that finds the ring full adds one to ``lost[0]``."""
    a = bpf
    pointer, arg_start, arg_end = -8, -16, -24  # stack slots
    items: list[Insn | Label] = [
        a.mov(R6, R1),
        *a.load_map(R1, ring_fd),
        a.mov_imm(R2, RECORD_SIZE),
        a.mov_imm(R3, 0),
        a.call(a.RINGBUF_RESERVE),
        a.jump_if("!=", R0, 0, "record"),
        *a.count_one(lost_fd, -4),
        a.jump("out"),
        Label("record"),
        a.mov(R7, R0),
        a.call(a.GET_CURRENT_PID_TGID),
        a.store(8, R7, 0, R0),
        a.call(a.GET_CURRENT_UID_GID),
        a.store(8, R7, 8, R0),
        a.call(a.KTIME_GET_NS),
        a.store(8, R7, 16, R0),
        a.call(a.GET_CURRENT_CGROUP_ID),
        a.store(8, R7, 24, R0),
        a.store_imm(8, R7, 32, 0),
        a.store_imm(8, R7, 56, 0),
        # ppid = p->real_parent->tgid
        a.load(8, R8, R6, 0),
        *a.probe_to_stack(8, pointer, R8, at.real_parent),
        a.load(8, R3, R10, pointer),
        a.add_imm(R3, at.tgid),
        a.mov(R1, R7),
        a.add_imm(R1, 32),
        a.mov_imm(R2, 4),
        a.call(a.PROBE_READ_KERNEL),
        # comm
        a.mov(R1, R7),
        a.add_imm(R1, 40),
        a.mov_imm(R2, 16),
        a.call(a.GET_CURRENT_COMM),
        # the path executed: bprm->filename
        a.load(8, R9, R6, 16),
        *a.probe_to_stack(8, pointer, R9, at.filename),
        a.load(8, R3, R10, pointer),
        a.mov(R1, R7),
        a.add_imm(R1, _FILENAME_AT),
        a.mov_imm(R2, FILENAME_MAX),
        a.call(a.PROBE_READ_KERNEL_STR),
        a.store(4, R7, 56, R0),
        # the command line: p->mm->arg_start .. arg_end, in the new program's memory
        *a.probe_to_stack(8, pointer, R8, at.mm),
        a.load(8, R9, R10, pointer),
        *a.probe_to_stack(8, arg_start, R9, at.arg_start),
        *a.probe_to_stack(8, arg_end, R9, at.arg_end),
        a.load(8, R2, R10, arg_end),
        a.load(8, R1, R10, arg_start),
        a.sub(R2, R1),
        a.jump_if("<=", R2, ARGS_MAX, 1),
        a.mov_imm(R2, ARGS_MAX),
        a.store(4, R7, 60, R2),
        a.mov(R1, R7),
        a.add_imm(R1, _ARGS_AT),
        a.load(8, R3, R10, arg_start),
        a.call(a.PROBE_READ_USER),
        a.jump_if("==", R0, 0, 1),
        a.store_imm(4, R7, 60, 0),
        a.mov(R1, R7),
        a.mov_imm(R2, 0),
        a.call(a.RINGBUF_SUBMIT),
        Label("out"),
        a.mov_imm(R0, 0),
        a.exit_(),
    ]
    return a.assemble(items)


class ExecRecorder:
    """The exec program loaded and attached, and the records it wrote, by pid.

    Needs root and a kernel with BTF and BPF ring buffers (5.8+); raises
    :class:`~.bpf.BpfUnavailable` otherwise, and the tracker reads ``/proc`` alone."""

    def __init__(self, *, btf: Btf | None = None) -> None:
        offsets = Offsets.from_btf(btf or Btf.kernel())
        self._kernel = kernel = bpf.Loaded("stk_execs", RING_BYTES)
        try:
            program = kernel.program(
                bpf.PROG_RAW_TRACEPOINT,
                exec_program(kernel.ring_fd, kernel.lost_fd, offsets),
                "stk_exec",
                PROGRAM_LICENSE,
            )
            kernel.keep(bpf.raw_tracepoint_open("sched_process_exec", program))
            self._ring = kernel.map_ring()
        except BaseException:
            kernel.close()
            raise
        self._waiting: dict[int, list[ExecRecord]] = {}
        self._count = 0
        self.records = 0
        """Records read from the kernel."""
        self.busy_timeouts = 0
        """Takes that gave up waiting for an earlier record to be written."""

    @property
    def lost(self) -> int:
        """Execs the kernel could not record because the ring was full."""
        return self._kernel.lost

    def drain(self) -> int:
        """Move what the kernel wrote into the table :meth:`take` reads; how many."""
        count = 0
        for data in self._ring.records():
            record = parse_record(data)
            if record is None:
                continue
            count += 1
            self._waiting.setdefault(record.pid, []).append(record)
        self.records += count
        self._count += count
        if self._count > MAX_WAITING:
            self._forget_oldest()
        return count

    def take(self, pid: int, until_ns: int) -> ExecRecord | None:
        """The record of ``pid``'s exec that the kernel announced at ``until_ns`` (the
        proc connector's timestamp, same clock): the newest recorded up to then. It and
        any older ones (execs whose announcement was lost) leave the table; a later exec
        of the same pid stays for its own announcement."""
        self.drain()
        if pid not in self._waiting and self._ring.blocked:
            deadline = time.monotonic() + BUSY_WAIT
            while pid not in self._waiting and self._ring.blocked:
                if time.monotonic() > deadline:
                    self.busy_timeouts += 1
                    break
                time.sleep(0)  # another CPU is still writing an earlier record
                self.drain()
        waiting = self._waiting.get(pid)
        if not waiting:
            return None
        taken = 0
        while taken < len(waiting) and waiting[taken].timestamp_ns <= until_ns:
            taken += 1
        if not taken:
            return None
        record = waiting[taken - 1]
        del waiting[:taken]
        if not waiting:
            del self._waiting[pid]
        self._count -= taken
        return record

    def _forget_oldest(self) -> None:
        """Keep the newest half of :data:`MAX_WAITING` records: the others are execs the
        proc connector will not announce (threads, or announcements it lost)."""
        everything = sorted(
            (r for records in self._waiting.values() for r in records),
            key=lambda r: r.timestamp_ns,
        )
        kept = everything[-(MAX_WAITING // 2) :]
        self._waiting = {}
        for record in kept:
            self._waiting.setdefault(record.pid, []).append(record)
        self._count = len(kept)

    def close(self) -> None:
        self._kernel.close()

    def __enter__(self) -> ExecRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
