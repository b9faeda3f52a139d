"""The kernel's eBPF interface, from Python: the ``bpf(2)`` calls a sensor needs, an
assembler for the few instructions its programs use, a reader for BPF ring buffers, and
the kernel's own type information (BTF) for the offsets of its structures.

No compiler, no ``libbpf`` and no kernel headers are needed: the programs are short
enough to be written as instructions (see :mod:`.execs`), and the offsets of the
structure members they read come from ``/sys/kernel/btf/vmlinux``, which every kernel
built with ``CONFIG_DEBUG_INFO_BTF`` has, so one program works on any such kernel.

Layouts: ``linux/bpf.h`` (``union bpf_attr``, ``struct bpf_insn``), ``linux/btf.h``,
and the ring buffer's memory map (a consumer page, then a producer page and the data,
mapped twice so that a record that wraps reads as one).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import platform
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "BpfUnavailable",
    "Btf",
    "Insn",
    "Label",
    "Loaded",
    "RingBuffer",
    "assemble",
    "attach_tracepoint",
    "count_one",
    "create_map",
    "delete_key",
    "load_program",
    "lookup_u64",
    "pending_to_ring",
    "probe_to_stack",
    "raw_tracepoint_open",
    "tracefs",
    "tracepoint_format",
    "update_u32",
]

_SYS_BPF: Final = {"x86_64": 321, "aarch64": 280}
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# bpf(2) commands, map and program types.
BPF_MAP_CREATE: Final = 0
BPF_MAP_LOOKUP_ELEM: Final = 1
BPF_MAP_UPDATE_ELEM: Final = 2
BPF_MAP_DELETE_ELEM: Final = 3
BPF_PROG_LOAD: Final = 5
BPF_RAW_TRACEPOINT_OPEN: Final = 17
MAP_HASH: Final = 1
MAP_ARRAY: Final = 2
MAP_RINGBUF: Final = 27
PROG_TRACEPOINT: Final = 5
PROG_RAW_TRACEPOINT: Final = 17
MAP_LRU_HASH: Final = 9
_ATTR_SIZE: Final = 144

# Helpers by number (``enum bpf_func_id``).
MAP_LOOKUP_ELEM: Final = 1
MAP_UPDATE_ELEM: Final = 2
MAP_DELETE_ELEM: Final = 3
KTIME_GET_NS: Final = 5
GET_CURRENT_PID_TGID: Final = 14
GET_CURRENT_UID_GID: Final = 15
GET_CURRENT_COMM: Final = 16
GET_CURRENT_CGROUP_ID: Final = 80
PROBE_READ_USER: Final = 112
PROBE_READ_KERNEL: Final = 113
PROBE_READ_USER_STR: Final = 114
PROBE_READ_KERNEL_STR: Final = 115
RINGBUF_RESERVE: Final = 131
RINGBUF_SUBMIT: Final = 132
GET_CURRENT_TASK_BTF: Final = 158

_RINGBUF_BUSY: Final = 1 << 31
_RINGBUF_DISCARD: Final = 1 << 30
_RINGBUF_HEADER: Final = 8


class BpfUnavailable(OSError):
    """eBPF cannot be used here: not Linux on x86_64/aarch64, not root, no BTF, or the
    kernel refused the program (its verifier log is in the message)."""


def _bpf(cmd: int, attr: bytes | bytearray) -> int:
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise BpfUnavailable(errno.ENOSYS, f"no bpf(2) number known for {platform.machine()}")
    buffer = ctypes.create_string_buffer(bytes(attr).ljust(_ATTR_SIZE, b"\0"), _ATTR_SIZE)
    result = _libc.syscall(number, cmd, buffer, _ATTR_SIZE)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result)


def _check_name(name: str) -> None:
    """The kernel takes names of at most 15 characters (else EINVAL, with no word)."""
    if len(name.encode()) > 15:
        raise ValueError(f"BPF object name too long (15 characters at most): {name}")


def create_map(kind: int, key_size: int, value_size: int, entries: int, name: str) -> int:
    """A new map's file descriptor (the caller closes it)."""
    _check_name(name)
    attr = struct.pack("=IIIIIII16s", kind, key_size, value_size, entries, 0, 0, 0, name.encode())
    try:
        return _bpf(BPF_MAP_CREATE, attr)
    except OSError as exc:
        raise BpfUnavailable(exc.errno, f"cannot create a BPF map: {exc.strerror}") from exc


def lookup_u64(map_fd: int, key: int) -> int:
    """The 8-byte value at the 4-byte ``key`` of an array map."""
    key_buffer = ctypes.create_string_buffer(struct.pack("=I", key), 4)
    value = ctypes.create_string_buffer(8)
    attr = struct.pack(
        "=IIQQQ", map_fd, 0, ctypes.addressof(key_buffer), ctypes.addressof(value), 0
    )
    _bpf(BPF_MAP_LOOKUP_ELEM, attr)
    return int(struct.unpack("=Q", value.raw)[0])


def update_u32(map_fd: int, key: int, value: int) -> None:
    """Set the 4-byte ``key`` of a hash map to the 4-byte ``value``."""
    key_buffer = ctypes.create_string_buffer(struct.pack("=I", key), 4)
    value_buffer = ctypes.create_string_buffer(struct.pack("=I", value), 4)
    attr = struct.pack(
        "=IIQQQ", map_fd, 0, ctypes.addressof(key_buffer), ctypes.addressof(value_buffer), 0
    )
    _bpf(BPF_MAP_UPDATE_ELEM, attr)


def delete_key(map_fd: int, key: int) -> bool:
    """Remove the 4-byte ``key`` from a hash map; False when it was not there."""
    key_buffer = ctypes.create_string_buffer(struct.pack("=I", key), 4)
    try:
        _bpf(BPF_MAP_DELETE_ELEM, struct.pack("=IIQ", map_fd, 0, ctypes.addressof(key_buffer)))
    except FileNotFoundError:
        return False
    return True


def load_program(kind: int, insns: list[Insn], name: str, *, license_: str) -> int:
    """Load ``insns`` as a program of ``kind``; on refusal the verifier's log says why."""
    _check_name(name)
    code = b"".join(insn.encode() for insn in insns)
    code_buffer = ctypes.create_string_buffer(code, len(code))
    license_buffer = ctypes.create_string_buffer(license_.encode())
    log = ctypes.create_string_buffer(256 * 1024)
    for level in (0, 1):  # with a log only when the first attempt fails: it is slower
        attr = struct.pack(
            "=IIQQIIQII16s",
            kind,
            len(insns),
            ctypes.addressof(code_buffer),
            ctypes.addressof(license_buffer),
            level,
            len(log) if level else 0,
            ctypes.addressof(log) if level else 0,
            0,
            0,
            name.encode(),
        )
        try:
            return _bpf(BPF_PROG_LOAD, attr)
        except OSError as exc:
            if level:
                text = log.value.decode("utf-8", "replace").strip()
                tail = "\n".join(text.splitlines()[-12:])
                raise BpfUnavailable(
                    exc.errno, f"the kernel refused the BPF program: {exc.strerror}\n{tail}"
                ) from exc
            if exc.errno == errno.ENOSYS:
                raise BpfUnavailable(exc.errno, f"no eBPF here: {exc.strerror}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def raw_tracepoint_open(name: str, program_fd: int) -> int:
    """Attach a raw tracepoint program to the tracepoint ``name`` (no tracefs needed);
    the returned descriptor keeps it attached until closed."""
    name_buffer = ctypes.create_string_buffer(name.encode())
    attr = struct.pack("=QI", ctypes.addressof(name_buffer), program_fd)
    try:
        return _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)
    except OSError as exc:
        raise BpfUnavailable(exc.errno, f"cannot attach to {name}: {exc.strerror}") from exc


_SYS_PERF_EVENT_OPEN: Final = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_TRACEPOINT: Final = 2
_PERF_SAMPLE_RAW: Final = 1 << 10
_PERF_FLAG_FD_CLOEXEC: Final = 8
_PERF_EVENT_IOC_ENABLE: Final = 0x2400
_PERF_EVENT_IOC_SET_BPF: Final = 0x40042408
TRACEFS: Final = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


def tracefs() -> Path:
    """Where the kernel's trace events are described; tracefs is mounted at
    ``/sys/kernel/tracing`` when it is nowhere (root only)."""
    for place in TRACEFS:
        if (place / "events").is_dir():
            return place
    place = TRACEFS[0]
    if _libc.mount(b"nodev", str(place).encode(), b"tracefs", 0, None) != 0:
        code = ctypes.get_errno()
        raise BpfUnavailable(code, f"no tracefs, and it cannot be mounted: {os.strerror(code)}")
    return place


def tracepoint_format(category: str, name: str) -> tuple[int, dict[str, int]]:
    """A trace event's id and the offset of each of its fields in the record a
    tracepoint program is given."""
    base = tracefs() / "events" / category / name
    try:
        identifier = int((base / "id").read_text())
        text = (base / "format").read_text()
    except (OSError, ValueError) as exc:
        raise BpfUnavailable(0, f"no trace event {category}/{name}: {exc}") from exc
    offsets: dict[str, int] = {}
    for line in text.splitlines():
        declaration, _, rest = line.strip().partition(";")
        if not declaration.startswith("field:") or "offset:" not in rest:
            continue
        field_name = declaration.split()[-1].lstrip("*").split("[", 1)[0]
        offsets[field_name] = int(rest.split("offset:", 1)[1].split(";", 1)[0])
    return identifier, offsets


def attach_tracepoint(program_fd: int, event_id: int) -> int:
    """Run a tracepoint program at the trace event ``event_id`` (on every CPU); the
    returned descriptor keeps it attached until closed."""
    number = _SYS_PERF_EVENT_OPEN.get(platform.machine())
    if number is None:
        raise BpfUnavailable(errno.ENOSYS, f"no perf_event_open known for {platform.machine()}")
    attr = struct.pack("=IIQQQ", _PERF_TYPE_TRACEPOINT, 112, event_id, 1, _PERF_SAMPLE_RAW)
    buffer = ctypes.create_string_buffer(attr.ljust(112, b"\0"), 112)
    fd = _libc.syscall(number, buffer, -1, 0, -1, _PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        code = ctypes.get_errno()
        raise BpfUnavailable(code, f"cannot open trace event {event_id}: {os.strerror(code)}")
    try:
        fcntl.ioctl(fd, _PERF_EVENT_IOC_SET_BPF, program_fd)
        fcntl.ioctl(fd, _PERF_EVENT_IOC_ENABLE, 0)
    except OSError as exc:
        os.close(fd)
        raise BpfUnavailable(exc.errno, f"cannot attach to trace event {event_id}: {exc}") from exc
    return int(fd)


# -- the assembler ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct bpf_insn``: opcode, destination and source registers, offset, and
    immediate. A jump may name its ``target`` label instead of an offset (see
    :func:`assemble`)."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: str | None = None

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, self.src << 4 | self.dst, self.off, self.imm)


@dataclass(frozen=True, slots=True)
class Label:
    """A place in a program that jumps can name."""

    name: str


def assemble(items: list[Insn | Label]) -> list[Insn]:
    """The instructions of ``items`` with each jump's ``target`` turned into its offset
    (counted in instructions from the one after the jump)."""
    places: dict[str, int] = {}
    count = 0
    for item in items:
        if isinstance(item, Label):
            if item.name in places:
                raise ValueError(f"label {item.name} twice")
            places[item.name] = count
        else:
            count += 1
    program: list[Insn] = []
    for item in items:
        if isinstance(item, Label):
            continue
        if item.target is None:
            program.append(item)
            continue
        if item.target not in places:
            raise ValueError(f"no label {item.target}")
        offset = places[item.target] - len(program) - 1
        program.append(Insn(item.code, item.dst, item.src, offset, item.imm))
    return program


R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
_SIZES: Final = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}


def mov(dst: int, src: int) -> Insn:
    return Insn(0xBF, dst, src)


def mov_imm(dst: int, imm: int) -> Insn:
    return Insn(0xB7, dst, imm=imm)


def add_imm(dst: int, imm: int) -> Insn:
    return Insn(0x07, dst, imm=imm)


def add(dst: int, src: int) -> Insn:
    return Insn(0x0F, dst, src)


def lsh_imm(dst: int, imm: int) -> Insn:
    return Insn(0x67, dst, imm=imm)


def sub(dst: int, src: int) -> Insn:
    return Insn(0x1F, dst, src)


def load(size: int, dst: int, src: int, off: int) -> Insn:
    """``dst = *(size *)(src + off)``"""
    return Insn(0x61 | _SIZES[size], dst, src, off)


def store(size: int, dst: int, off: int, src: int) -> Insn:
    """``*(size *)(dst + off) = src``"""
    return Insn(0x63 | _SIZES[size], dst, src, off)


def store_imm(size: int, dst: int, off: int, imm: int) -> Insn:
    return Insn(0x62 | _SIZES[size], dst, off=off, imm=imm)


def atomic_add(dst: int, off: int, src: int) -> Insn:
    """``lock *(u64 *)(dst + off) += src``"""
    return Insn(0xDB, dst, src, off, 0)


def and_imm(dst: int, imm: int) -> Insn:
    return Insn(0x57, dst, imm=imm)


def jump_if(op: str, dst: int, imm: int, to: int | str) -> Insn:
    """Jump when ``dst <op> imm``: ``to`` instructions ahead, or to the label ``to``.
    Comparisons are unsigned but for ``s<`` (signed less than)."""
    codes = {"==": 0x15, "!=": 0x55, ">": 0x25, "<": 0xA5, "<=": 0xB5, "s<": 0xC5}
    if isinstance(to, str):
        return Insn(codes[op], dst, imm=imm, target=to)
    return Insn(codes[op], dst, off=to, imm=imm)


def jump(to: int | str) -> Insn:
    if isinstance(to, str):
        return Insn(0x05, target=to)
    return Insn(0x05, off=to)


def call(helper: int) -> Insn:
    return Insn(0x85, imm=helper)


def exit_() -> Insn:
    return Insn(0x95)


def probe_to_stack(
    size: int, slot: int, base: int, offset: int, helper: int = PROBE_READ_KERNEL
) -> list[Insn]:
    """``*(r10 + slot) = *(base + offset)``, ``size`` bytes, through ``helper`` (a
    probe read of kernel or user memory); clobbers R1-R3."""
    return [
        mov(R1, R10),
        add_imm(R1, slot),
        mov_imm(R2, size),
        mov(R3, base),
        add_imm(R3, offset),
        call(helper),
    ]


def count_one(map_fd: int, slot: int) -> list[Insn]:
    """Add one to the 8-byte value at index 0 of the array map ``map_fd`` (its key goes
    to ``r10 + slot``); clobbers R0-R2."""
    return [
        store_imm(4, R10, slot, 0),
        *load_map(R1, map_fd),
        mov(R2, R10),
        add_imm(R2, slot),
        call(MAP_LOOKUP_ELEM),
        jump_if("==", R0, 0, 2),
        mov_imm(R1, 1),
        atomic_add(R0, 0, R1),
    ]


def pending_to_ring(
    pending_fd: int,
    ring_fd: int,
    lost_fd: int,
    size: int,
    ret_offset: int,
    *,
    succeeded: Sequence[Insn | Label],
    fill: Sequence[Insn | Label],
) -> list[Insn | Label]:
    """The exit half of a pair of system-call programs (the entry half notes the call,
    ``size`` bytes keyed by pid/tgid, in the hash map ``pending_fd``): the thread's
    note, if any, is copied into the ring and completed, then forgotten. R7 holds the
    note, R8 the call's return value (read at ``ret_offset`` of the trace event's
    record), R9 the ring's copy; ``succeeded`` jumps to ``forget`` for a call that
    failed, ``fill`` completes the copy (free: R1-R6, stack below -12). A copy the ring
    has no room for adds one to ``lost_fd``."""
    return [
        mov(R6, R1),
        call(GET_CURRENT_PID_TGID),
        store(8, R10, -8, R0),
        *load_map(R1, pending_fd),
        mov(R2, R10),
        add_imm(R2, -8),
        call(MAP_LOOKUP_ELEM),
        jump_if("==", R0, 0, "out"),
        mov(R7, R0),
        load(8, R8, R6, ret_offset),
        *succeeded,
        *load_map(R1, ring_fd),
        mov_imm(R2, size),
        mov_imm(R3, 0),
        call(RINGBUF_RESERVE),
        jump_if("!=", R0, 0, "record"),
        *count_one(lost_fd, -12),
        jump("forget"),
        Label("record"),
        mov(R9, R0),
        mov(R1, R9),
        mov_imm(R2, size),
        mov(R3, R7),
        call(PROBE_READ_KERNEL),
        *fill,
        mov(R1, R9),
        mov_imm(R2, 0),
        call(RINGBUF_SUBMIT),
        Label("forget"),
        *load_map(R1, pending_fd),
        mov(R2, R10),
        add_imm(R2, -8),
        call(MAP_DELETE_ELEM),
        Label("out"),
        mov_imm(R0, 0),
        exit_(),
    ]


def load_imm64(dst: int, value: int) -> list[Insn]:
    """``dst = value``, any 64-bit value (two instructions)."""
    low, high = value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF
    signed = [half - (1 << 32) if half >= 1 << 31 else half for half in (low, high)]
    return [Insn(0x18, dst, 0, 0, signed[0]), Insn(0, imm=signed[1])]


def jump_if_equal(dst: int, src: int, to: str) -> Insn:
    """Jump to the label ``to`` when ``dst == src`` (registers)."""
    return Insn(0x1D, dst, src, target=to)


def load_map(dst: int, map_fd: int) -> list[Insn]:
    """``dst = map`` (a 64-bit load of the map's descriptor, two instructions)."""
    return [Insn(0x18, dst, 1, 0, map_fd), Insn(0)]


# -- ring buffers -------------------------------------------------------------------


class RingBuffer:
    """The consumer side of a ``BPF_MAP_TYPE_RINGBUF`` map, through its memory map.

    :meth:`records` yields each submitted record's bytes (copied) and moves the consumer
    position past it, so the kernel can reuse the space."""

    def __init__(self, map_fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self._size = size
        self._mask = size - 1
        self._consumer = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self._producer = mmap.mmap(
                map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
            )
        except OSError:
            self._consumer.close()
            raise
        self._data = page
        self.blocked = False
        """The last :meth:`records` stopped at a record reserved but not yet submitted
        (another CPU is writing it): the records after it are there, but must wait."""

    def records(self, limit: int | None = None) -> Iterator[bytes]:
        consumer = struct.unpack_from("=Q", self._consumer, 0)[0]
        producer = struct.unpack_from("=Q", self._producer, 0)[0]
        taken = 0
        self.blocked = False
        while consumer < producer and (limit is None or taken < limit):
            start = self._data + (consumer & self._mask)
            length = struct.unpack_from("=I", self._producer, start)[0]
            if length & _RINGBUF_BUSY:
                self.blocked = True
                break
            size = length & ~(_RINGBUF_BUSY | _RINGBUF_DISCARD)
            record = None
            if not length & _RINGBUF_DISCARD:
                body = start + _RINGBUF_HEADER
                record = self._producer[body : body + size]
            consumer += (size + _RINGBUF_HEADER + 7) & ~7
            struct.pack_into("=Q", self._consumer, 0, consumer)
            if record is not None:
                taken += 1
                yield record
            if consumer >= producer:
                producer = struct.unpack_from("=Q", self._producer, 0)[0]

    def close(self) -> None:
        self._consumer.close()
        self._producer.close()


class Loaded:
    """What a sensor loads into the kernel: the descriptors of its programs, their
    attachments and maps, with a ring buffer the programs write to and a one-value
    array counting the records the ring had no room for. :meth:`close` releases
    everything; a sensor calls it when loading fails half-way too."""

    def __init__(self, name: str, ring_bytes: int) -> None:
        self._fds: list[int] = []
        self._ring_bytes = ring_bytes
        self.ring: RingBuffer | None = None
        try:
            self.ring_fd = self.keep(create_map(MAP_RINGBUF, 0, 0, ring_bytes, name))
            self.lost_fd = self.keep(create_map(MAP_ARRAY, 4, 8, 1, f"{name}_lost"))
        except BaseException:
            self.close()
            raise

    def keep(self, fd: int) -> int:
        """``fd``, to be closed with the rest."""
        self._fds.append(fd)
        return fd

    def program(self, kind: int, insns: list[Insn], name: str, license_: str) -> int:
        """:func:`load_program`, kept."""
        return self.keep(load_program(kind, insns, name, license_=license_))

    def pending(self, value_size: int, entries: int, name: str) -> int:
        """A table of notes by thread (8-byte pid/tgid keys) that an entry program fills
        and its exit program empties; least recently used first out, so a call that
        never returns cannot fill it. Kept."""
        return self.keep(create_map(MAP_LRU_HASH, 8, value_size, entries, name))

    def on_trace_event(self, program_fd: int, event_id: int) -> None:
        """:func:`attach_tracepoint`, kept attached until :meth:`close`."""
        self.keep(attach_tracepoint(program_fd, event_id))

    def map_ring(self) -> RingBuffer:
        """The ring, mapped for reading (once the programs are attached)."""
        try:
            self.ring = RingBuffer(self.ring_fd, self._ring_bytes)
        except OSError as exc:
            raise BpfUnavailable(exc.errno, f"cannot map the ring: {exc.strerror}") from exc
        return self.ring

    @property
    def lost(self) -> int:
        """Records the programs could not write because the ring was full."""
        try:
            return lookup_u64(self.lost_fd, 0)
        except OSError:
            return 0

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
        for fd in reversed(self._fds):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


# -- BTF ----------------------------------------------------------------------------

_BTF_HEADER = struct.Struct("=HBBIIIII")
_BTF_TYPE = struct.Struct("=III")
_BTF_MAGIC: Final = 0xEB9F
_STRUCT, _UNION, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG = 4, 5, 8, 9, 10, 11, 18
_TRAILING: Final = {1: 4, 3: 12, 14: 4, 17: 4}
"""Bytes after the common header, by kind, for kinds with a fixed amount."""
_PER_MEMBER: Final = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
"""Bytes per ``vlen`` entry after the common header, by kind."""


class Btf:
    """The kernel's type information, enough to find where a structure member lies."""

    def __init__(self, data: bytes) -> None:
        if len(data) < _BTF_HEADER.size:
            raise ValueError("BTF too short")
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = (
            _BTF_HEADER.unpack_from(data)
        )
        if magic != _BTF_MAGIC:
            raise ValueError("not BTF (bad magic)")
        self._data = data
        self._strings = hdr_len + str_off
        self._strings_end = self._strings + str_len
        self._types: list[int] = [0]  # type id -> offset of its header; id 0 is void
        self._structs: dict[str, int] = {}
        offset, end = hdr_len + type_off, hdr_len + type_off + type_len
        while offset + _BTF_TYPE.size <= end:
            name_off, info, _size = _BTF_TYPE.unpack_from(data, offset)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind == _STRUCT and name_off:
                self._structs.setdefault(self._name(name_off), len(self._types))
            self._types.append(offset)
            offset += _BTF_TYPE.size + _TRAILING.get(kind, 0) + _PER_MEMBER.get(kind, 0) * vlen

    @classmethod
    def kernel(cls, path: Path = Path("/sys/kernel/btf/vmlinux")) -> Btf:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BpfUnavailable(exc.errno, f"no kernel BTF ({path}): {exc.strerror}") from exc
        try:
            return cls(data)
        except ValueError as exc:
            raise BpfUnavailable(0, f"the kernel's BTF ({path}) cannot be read: {exc}") from exc

    def _name(self, offset: int) -> str:
        start = self._strings + offset
        end = self._data.index(b"\0", start, self._strings_end)
        return self._data[start:end].decode("ascii", "replace")

    def _resolve(self, type_id: int) -> int:
        """Through typedefs and qualifiers to the type they name."""
        for _ in range(32):
            name_off, info, target = _BTF_TYPE.unpack_from(self._data, self._types[type_id])
            del name_off
            if (info >> 24) & 0x1F not in (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG):
                return type_id
            type_id = target
        return type_id

    def offset(self, struct_name: str, member: str) -> int:
        """The byte offset of ``member`` in ``struct struct_name``, looking inside the
        anonymous structures and unions it holds (the kernel groups members in them)."""
        type_id = self._structs.get(struct_name)
        if type_id is None:
            raise KeyError(f"struct {struct_name} is not in the kernel's BTF")
        found = self._member_bits(type_id, member)
        if found is None:
            raise KeyError(f"struct {struct_name} has no member {member}")
        if found % 8:
            raise KeyError(f"{struct_name}.{member} is a bit field")
        return found // 8

    def offsets(self, members: Mapping[str, tuple[str, str]], reader: str) -> dict[str, int]:
        """:meth:`offset` of each ``(struct, member)``, by the caller's names for them;
        :class:`BpfUnavailable` when this kernel lacks one (``reader`` says what needed
        it)."""
        try:
            return {key: self.offset(*where) for key, where in members.items()}
        except KeyError as exc:
            raise BpfUnavailable(0, f"the kernel's BTF lacks what {reader} reads: {exc}") from exc

    def _member_bits(self, type_id: int, member: str) -> int | None:
        header = self._types[type_id]
        _name_off, info, _size = _BTF_TYPE.unpack_from(self._data, header)
        kind, vlen, bitfields = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        if kind not in (_STRUCT, _UNION):
            return None
        for index in range(vlen):
            name_off, member_type, raw = struct.unpack_from(
                "=III", self._data, header + _BTF_TYPE.size + 12 * index
            )
            bits = int(raw & 0xFFFFFF if bitfields else raw)
            if name_off and self._name(name_off) == member:
                return bits
            if not name_off:
                inner = self._member_bits(self._resolve(member_type), member)
                if inner is not None:
                    return bits + inner
        return None
