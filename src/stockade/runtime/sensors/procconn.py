"""Process events from the kernel's proc connector (``NETLINK_CONNECTOR``, ``CN_IDX_PROC``).

The kernel multicasts one message per fork, exec, exit (and uid/gid/sid/comm changes) to
every listener: no polling, nothing missed while the socket keeps up. The socket gets a
large receive buffer (``SO_RCVBUFFORCE``, root only); when it overflows anyway the kernel
drops messages and the next ``recv`` fails with ``ENOBUFS``, which :class:`ProcConnector`
counts in :attr:`ProcConnector.lost` instead of pretending nothing happened.

Parsing is separate from the socket (:func:`parse_messages`) so it can be tested on bytes.
Layout (``linux/connector.h``, ``linux/cn_proc.h``), all in host byte order: ``nlmsghdr``
(16 bytes), ``cn_msg`` (20 bytes: idx, val, seq, ack, len, flags), then ``proc_event``:
``what``, ``cpu``, ``timestamp_ns`` and the event's data.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = ["ProcConnector", "ProcEventKind", "RawProcEvent", "SensorUnavailable", "parse_messages"]

NETLINK_CONNECTOR: Final = 11
CN_IDX_PROC: Final = 1
CN_VAL_PROC: Final = 1
PROC_CN_MCAST_LISTEN: Final = 1
PROC_CN_MCAST_IGNORE: Final = 2
NLMSG_DONE: Final = 3
NLMSG_ERROR: Final = 2
NLMSG_NOOP: Final = 1

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_PROC_EVENT = struct.Struct("=IIQ")
_FORK = struct.Struct("=iiii")
_EXEC = struct.Struct("=ii")
_IDS = struct.Struct("=iiII")
_SID = struct.Struct("=ii")
_COMM = struct.Struct("=ii16s")
_EXIT = struct.Struct("=iiII")
_EXIT_PARENT = struct.Struct("=ii")

DEFAULT_BUFFER: Final = 64 * 1024 * 1024


class SensorUnavailable(OSError):
    """The kernel interface cannot be used here (not root, not compiled in, …)."""


class ProcEventKind(enum.IntEnum):
    NONE = 0
    FORK = 0x00000001
    EXEC = 0x00000002
    UID = 0x00000004
    PTRACE = 0x00000100
    GID = 0x00000040
    SID = 0x00000080
    COMM = 0x00000200
    NONZERO_EXIT = 0x20000000
    COREDUMP = 0x40000000
    EXIT = 0x80000000


@dataclass(frozen=True, slots=True)
class RawProcEvent:
    """One proc connector event, as the kernel sent it (pids are thread-group ids where
    the kernel gives both; ``tid`` is the thread)."""

    kind: ProcEventKind
    pid: int
    tid: int
    timestamp_ns: int
    """Nanoseconds since boot (the kernel's monotonic clock)."""
    cpu: int
    parent_pid: int = 0
    """fork: the parent; exit: the parent, on kernels that report it (else 0)."""
    exit_code: int = 0
    exit_signal: int = 0
    comm: str = ""
    uid: int = -1
    euid: int = -1


def parse_messages(data: bytes) -> Iterator[RawProcEvent]:
    """The proc events in one datagram (one or more netlink messages); anything short or
    unknown is skipped, never raised: this reads what the kernel hands over."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        body = offset + _NLMSGHDR.size
        if msg_type not in (NLMSG_ERROR, NLMSG_NOOP) and body + _CN_MSG.size <= offset + length:
            idx, val, _s, _a, cn_len, _f = _CN_MSG.unpack_from(data, body)
            start = body + _CN_MSG.size
            if idx == CN_IDX_PROC and val == CN_VAL_PROC and start + cn_len <= offset + length:
                event = _parse_event(data[start : start + cn_len])
                if event is not None:
                    yield event
        offset += (length + 3) & ~3


def _parse_event(payload: bytes) -> RawProcEvent | None:
    if len(payload) < _PROC_EVENT.size:
        return None
    what, cpu, ts = _PROC_EVENT.unpack_from(payload, 0)
    data = payload[_PROC_EVENT.size :]
    try:
        kind = ProcEventKind(what)
    except ValueError:
        return None
    try:
        if kind is ProcEventKind.FORK:
            _ppid, parent_tgid, child_pid, child_tgid = _FORK.unpack_from(data)
            return RawProcEvent(kind, child_tgid, child_pid, ts, cpu, parent_pid=parent_tgid)
        if kind is ProcEventKind.EXEC:
            tid, tgid = _EXEC.unpack_from(data)
            return RawProcEvent(kind, tgid, tid, ts, cpu)
        if kind is ProcEventKind.EXIT:
            tid, tgid, code, signal = _EXIT.unpack_from(data)
            parent = 0
            if len(data) >= _EXIT.size + _EXIT_PARENT.size:
                parent = _EXIT_PARENT.unpack_from(data, _EXIT.size)[1]
            return RawProcEvent(
                kind, tgid, tid, ts, cpu, parent_pid=parent, exit_code=code, exit_signal=signal
            )
        if kind is ProcEventKind.COMM:
            tid, tgid, comm = _COMM.unpack_from(data)
            name = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
            return RawProcEvent(kind, tgid, tid, ts, cpu, comm=name)
        if kind in (ProcEventKind.UID, ProcEventKind.GID):
            tid, tgid, real, effective = _IDS.unpack_from(data)
            return RawProcEvent(kind, tgid, tid, ts, cpu, uid=real, euid=effective)
        if kind is ProcEventKind.SID:
            tid, tgid = _SID.unpack_from(data)
            return RawProcEvent(kind, tgid, tid, ts, cpu)
    except struct.error:
        return None
    return RawProcEvent(kind, 0, 0, ts, cpu)


def _control(op: int) -> bytes:
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, os.getpid())
    return header + cn


class ProcConnector:
    """A subscription to the proc connector; iterate :meth:`events` or call :meth:`read`.

    Needs root (``CAP_NET_ADMIN``). Close it (or use it as a context manager) to stop.
    """

    def __init__(self, *, buffer_bytes: int = DEFAULT_BUFFER) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as exc:
            raise SensorUnavailable(exc.errno, f"no proc connector: {exc.strerror}") from exc
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, buffer_bytes)  # SO_RCVBUFFORCE
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
            sock.bind((0, CN_IDX_PROC))
            sock.send(_control(PROC_CN_MCAST_LISTEN))
        except OSError as exc:
            sock.close()
            raise SensorUnavailable(
                exc.errno, f"cannot listen to the proc connector: {exc.strerror} (root needed)"
            ) from exc
        self._socket = sock
        self.lost = 0
        """Times the kernel reported dropped messages (ENOBUFS)."""
        self.received = 0

    def fileno(self) -> int:
        return self._socket.fileno()

    def read(self, timeout: float | None = None) -> list[RawProcEvent]:
        """The events of the next datagram; ``[]`` on timeout or after a loss report."""
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(65536)
        except (TimeoutError, BlockingIOError):  # a timeout of 0 is a non-blocking read
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.lost += 1
                return []
            raise
        events = list(parse_messages(data))
        self.received += len(events)
        return events

    def events(self, timeout: float | None = None) -> Iterator[RawProcEvent]:
        """Events until the socket is closed; yields nothing on timeouts."""
        while self._socket.fileno() >= 0:
            try:
                yield from self.read(timeout)
            except OSError:
                if self._socket.fileno() < 0:
                    return
                raise

    def close(self) -> None:
        if self._socket.fileno() >= 0:
            with contextlib.suppress(OSError):
                self._socket.send(_control(PROC_CN_MCAST_IGNORE))
            self._socket.close()

    def __enter__(self) -> ProcConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
