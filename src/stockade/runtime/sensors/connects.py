"""Every outbound ``connect`` from a process outside the host's network namespace,
recorded by the kernel: eBPF programs on the ``sys_enter_connect`` and
``sys_exit_connect`` trace events.

The network sensor polls the kernel's socket tables, so a connection opened and closed
between two polls is never seen. As ``connect`` enters the kernel from a process in a
network namespace other than the host's (a container's), the entry program notes the
descriptor and the address (IPv4 or IPv6) by thread; as it returns (successfully, or
``EINPROGRESS`` for a non-blocking socket), the exit program finds the socket through
the task's file table and sends the record with the socket's inode (the key the network
sensor knows sockets by), type (stream or datagram) and local port into a ring buffer.

Kernel members come from BTF, the events' fields from tracefs (as :mod:`.opens`); the
programs' licence is that of :mod:`.execs`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
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

__all__ = ["ConnectRecord", "ConnectRecorder", "parse_connect"]

EINPROGRESS: Final = 115
SOCKADDR_MAX: Final = 28
"""Bytes of the address kept: a ``sockaddr_in6``."""
_HEADER = struct.Struct("=QQQIiiHH28s4x")
RECORD_SIZE: Final = _HEADER.size
_ADDRESS_AT: Final = 40
RING_BYTES: Final = 1024 * 1024
MAX_PENDING: Final = 16384

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ConnectRecord:
    pid: int
    tid: int
    timestamp_ns: int
    """Nanoseconds since boot."""
    namespace: int
    """The inode number of the process's network namespace."""
    fd: int
    result: int
    """0, or ``-EINPROGRESS`` for a connection a non-blocking socket is still making."""
    proto: str
    """``tcp`` or ``udp`` (from the socket's type), or ``""`` when it could not be read."""
    local_port: int
    inode: int
    """The socket's inode (0 when it could not be read)."""
    family: int
    remote_ip: IPAddress
    remote_port: int


def parse_connect(data: bytes) -> ConnectRecord | None:
    """The record in ``data``; None for one too short or of another address family."""
    if len(data) < RECORD_SIZE:
        return None
    pid_tgid, ts, inode, namespace, fd, result, kind, local, address = _HEADER.unpack_from(data)
    family = struct.unpack_from("=H", address)[0]
    port = struct.unpack_from(">H", address, 2)[0]
    remote: IPAddress
    if family == socket.AF_INET:
        remote = ipaddress.IPv4Address(address[4:8])
    elif family == socket.AF_INET6:
        remote = ipaddress.IPv6Address(address[8:24])
        if remote.ipv4_mapped is not None:
            remote = remote.ipv4_mapped
    else:
        return None
    return ConnectRecord(
        pid=pid_tgid >> 32,
        tid=pid_tgid & 0xFFFFFFFF,
        timestamp_ns=ts,
        namespace=namespace,
        fd=fd,
        result=result,
        proto={socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}.get(kind, ""),
        local_port=local,
        inode=inode,
        family=4 if remote.version == 4 else 6,
        remote_ip=remote,
        remote_port=port,
    )


@dataclass(frozen=True, slots=True)
class Offsets:
    nsproxy: int
    net_ns: int
    ns: int
    inum: int
    files: int
    fdt: int
    fd: int
    f_inode: int
    private_data: int
    i_ino: int
    socket_type: int
    socket_sk: int
    skc_num: int

    @classmethod
    def from_btf(cls, btf: Btf) -> Offsets:
        members = {
            "nsproxy": ("task_struct", "nsproxy"),
            "net_ns": ("nsproxy", "net_ns"),
            "ns": ("net", "ns"),
            "inum": ("ns_common", "inum"),
            "files": ("task_struct", "files"),
            "fdt": ("files_struct", "fdt"),
            "fd": ("fdtable", "fd"),
            "f_inode": ("file", "f_inode"),
            "private_data": ("file", "private_data"),
            "i_ino": ("inode", "i_ino"),
            "socket_type": ("socket", "type"),
            "socket_sk": ("socket", "sk"),
            "skc_num": ("sock_common", "skc_num"),
        }
        found = btf.offsets(members, "the connect programs")
        found["skc_num"] += btf.offset("sock", "__sk_common")
        return cls(**found)


_RECORD = -RECORD_SIZE
_KEY = _RECORD - 8


def entry_program(fields: dict[str, int], pending_fd: int, host: int, at: Offsets) -> list[Insn]:
    """``sys_enter_connect``: ``(int fd, struct sockaddr *uservaddr, int addrlen)``."""
    a = bpf
    items: list[Insn | Label] = [
        a.mov(R6, R1),
        a.call(a.GET_CURRENT_TASK_BTF),
        a.load(8, R1, R0, at.nsproxy),
        a.load(8, R1, R1, at.net_ns),
        a.load(4, R7, R1, at.ns + at.inum),
        *a.load_imm64(R1, host),
        a.jump_if_equal(R7, R1, "out"),  # the host's own connections: the poller's
        *(a.store_imm(8, R10, _RECORD + offset, 0) for offset in range(0, RECORD_SIZE, 8)),
        a.store(4, R10, _RECORD + 24, R7),
        a.load(8, R1, R6, fields["fd"]),
        a.store(4, R10, _RECORD + 28, R1),
        a.load(8, R2, R6, fields["addrlen"]),
        a.jump_if("<=", R2, SOCKADDR_MAX, 1),
        a.mov_imm(R2, SOCKADDR_MAX),
        a.mov(R1, R10),
        a.add_imm(R1, _RECORD + _ADDRESS_AT),
        a.load(8, R3, R6, fields["uservaddr"]),
        a.call(a.PROBE_READ_USER),
        a.load(2, R1, R10, _RECORD + _ADDRESS_AT),
        a.jump_if("==", R1, socket.AF_INET, "keep"),
        a.jump_if("!=", R1, socket.AF_INET6, "out"),
        Label("keep"),
        a.call(a.GET_CURRENT_PID_TGID),
        a.store(8, R10, _KEY, R0),
        a.store(8, R10, _RECORD, R0),
        a.call(a.KTIME_GET_NS),
        a.store(8, R10, _RECORD + 8, R0),
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


def exit_program(
    ret_offset: int, pending_fd: int, ring_fd: int, lost_fd: int, at: Offsets
) -> list[Insn]:
    """``sys_exit_connect``: a pending connect that succeeded (or is in progress) goes
    to the ring with its socket's inode, type and local port."""
    a = bpf
    pointer, other = -16, -24
    socket_of = [  # current->files->fdt->fd[fd]: R8 = struct file *, then struct socket *
        a.store(4, R9, 32, R8),
        a.call(a.GET_CURRENT_TASK_BTF),
        a.mov(R8, R0),
        *a.probe_to_stack(8, pointer, R8, at.files),
        a.load(8, R8, R10, pointer),
        *a.probe_to_stack(8, pointer, R8, at.fdt),
        a.load(8, R8, R10, pointer),
        *a.probe_to_stack(8, pointer, R8, at.fd),
        a.load(4, R6, R9, 28),  # fd
        a.and_imm(R6, 0xFFFF),
        a.lsh_imm(R6, 3),
        a.load(8, R3, R10, pointer),
        a.add(R3, R6),
        a.mov(R1, R10),
        a.add_imm(R1, pointer),
        a.mov_imm(R2, 8),
        a.call(a.PROBE_READ_KERNEL),
        a.load(8, R8, R10, pointer),
        *a.probe_to_stack(8, other, R8, at.f_inode),
        a.load(8, R3, R10, other),
        a.add_imm(R3, at.i_ino),
        *_into_record(16, 8),
        *a.probe_to_stack(8, other, R8, at.private_data),
        a.load(8, R8, R10, other),
        a.mov(R3, R8),
        a.add_imm(R3, at.socket_type),
        *_into_record(36, 2),
        *a.probe_to_stack(8, other, R8, at.socket_sk),
        a.load(8, R3, R10, other),
        a.add_imm(R3, at.skc_num),
        *_into_record(38, 2),
    ]
    items = a.pending_to_ring(
        pending_fd,
        ring_fd,
        lost_fd,
        RECORD_SIZE,
        ret_offset,
        succeeded=[
            a.jump_if("==", R8, 0, "made"),
            a.jump_if("!=", R8, -EINPROGRESS, "forget"),
            Label("made"),
        ],
        fill=socket_of,
    )
    return a.assemble(items)


def _into_record(offset: int, size: int) -> list[Insn]:
    """``size`` bytes from kernel address R3 into the ring's copy (R9) at ``offset``."""
    return [
        bpf.mov(R1, R9),
        bpf.add_imm(R1, offset),
        bpf.mov_imm(R2, size),
        bpf.call(bpf.PROBE_READ_KERNEL),
    ]


class ConnectRecorder:
    """The connect programs loaded and attached; :meth:`records` reads what they wrote.
    Needs root, BTF, BPF ring buffers and the system-call trace events;
    :class:`~.bpf.BpfUnavailable` otherwise."""

    def __init__(self, *, btf: Btf | None = None) -> None:
        offsets = Offsets.from_btf(btf or Btf.kernel())
        enter_id, enter_fields = bpf.tracepoint_format("syscalls", "sys_enter_connect")
        exit_id, exit_fields = bpf.tracepoint_format("syscalls", "sys_exit_connect")
        try:
            host = os.stat("/proc/self/ns/net").st_ino
        except OSError as exc:
            raise BpfUnavailable(exc.errno, f"no network namespace: {exc.strerror}") from exc
        self._kernel = kernel = bpf.Loaded("stk_conns", RING_BYTES)
        try:
            pending = kernel.pending(RECORD_SIZE, MAX_PENDING, "stk_conn_wait")
            enter_fd = kernel.program(
                bpf.PROG_TRACEPOINT,
                entry_program(enter_fields, pending, host, offsets),
                "stk_connect",
                PROGRAM_LICENSE,
            )
            exit_fd = kernel.program(
                bpf.PROG_TRACEPOINT,
                exit_program(exit_fields["ret"], pending, kernel.ring_fd, kernel.lost_fd, offsets),
                "stk_conn_exit",
                PROGRAM_LICENSE,
            )
            kernel.on_trace_event(enter_fd, enter_id)
            kernel.on_trace_event(exit_fd, exit_id)
            self._ring = kernel.map_ring()
        except BaseException:
            kernel.close()
            raise
        self.records_read = 0

    @property
    def lost(self) -> int:
        """Connects the kernel could not record because the ring was full."""
        return self._kernel.lost

    def records(self) -> list[ConnectRecord]:
        found = [r for r in map(parse_connect, self._ring.records()) if r is not None]
        self.records_read += len(found)
        return found

    def close(self) -> None:
        self._kernel.close()

    def __enter__(self) -> ConnectRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
