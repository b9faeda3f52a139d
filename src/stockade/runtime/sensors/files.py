"""File events from containers, through fanotify: sensitive reads, writes, executions,
new links.

Three fanotify groups watch every container the Defender knows of: one for
notifications, one for permission events, read first, so that an open waiting for its
verdict never waits behind a long queue of writes, and one for directory entries. For
each container:

* each of its mounts (the overlay root, volumes, bind-mounted files; not ``/proc``,
  ``/sys`` and the other kernel filesystems) gets a *mount* mark for ``FAN_CLOSE_WRITE``
  and ``FAN_OPEN_EXEC``. A mount mark sees exactly the accesses made through the
  container's view of the file system: the host reading the same files through the
  overlay's host-side mount point is not reported. Writes are reported when the writer
  closes the file (and not when the file is left as the image has it: an open for
  writing that wrote nothing, like a lock file's); executions when ``execve`` opens the
  program, so a program that exits before ``/proc`` can be read is still known by its
  file;
* each existing file of the sensitive-read list (``/etc/shadow``, SSH private keys, …)
  gets an *inode* mark for ``FAN_OPEN_PERM``: the opener waits until the Defender has
  judged the open, so the opener is alive when it is described, and prevent mode can
  refuse the open (``FAN_DENY``: the program gets ``EPERM``). Without the kernel's
  permission events (``CONFIG_FANOTIFY_ACCESS_PERMISSIONS``) plain ``FAN_OPEN`` is used.
  While the opener waits, what it asked for is read from ``/proc`` (:mod:`.syscalls`):
  the call, its flags, the path as written, the descriptor it will get;
* each write directory (``/var/log``) gets an inode mark for ``FAN_OPEN_PERM`` on its
  children: an open of one of its files for writing is reported as it opens, with its
  flags (``O_TRUNC``), instead of at its close;
* each link directory (``/tmp``, ``/root``, …) gets an inode mark for ``FAN_CREATE``: a
  new symbolic link is reported with its target, a new hard link with the sensitive file
  it is another name of.

No other open is reported: every library a program maps would otherwise be an event.

Writes of the same file by the same process within a second are told once. The kernel
hands each event over with a descriptor of the file; its path, read through
``/proc/self/fd``, is already the path inside the container (the container's root is
not reachable from the host's root, so the kernel names the file from the container's
root), and ``/proc/self/fdinfo`` names the mount, which says which container's file it
is. Events whose mount belongs to no watched container, or whose opener is a host
process reaching in through ``/proc/PID/root``, are counted in :attr:`FileSensor.foreign`
and dropped.

Paths inside a container are resolved with ``openat2(RESOLVE_IN_ROOT)`` from the
container's root, so a symbolic link planted in the container cannot make the sensor
mark a file of the host; every descriptor marked is checked to lie on one of the
container's own mounts.

Marks die with what they mark: when a container's mount namespace goes, so do its mount
marks, and inode marks go when the overlay is unmounted. :meth:`FileSensor.prune` drops
the bookkeeping of containers whose processes are all gone; :meth:`FileSensor.refresh`
marks sensitive files created or replaced since (a rename over ``/etc/shadow`` is a new
inode).

A queue overflow (the kernel keeps 16,384 events per group by default) is reported by
the kernel as one ``FAN_Q_OVERFLOW`` event for any number of lost events; each is
counted in :attr:`FileSensor.lost`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import itertools
import os
import posixpath
import select
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from stockade.runtime.events import Container, FileEvent, Process
from stockade.runtime.sensors.opens import AT_FDCWD, OpenRecord, OpenRecorder, mount_namespace
from stockade.runtime.sensors.procconn import SensorUnavailable
from stockade.runtime.sensors.procinfo import readlink_or_none, runs_other_program
from stockade.runtime.sensors.syscalls import pending_open, thread_group

__all__ = [
    "DEFAULT_SENSITIVE_READS",
    "FileSensor",
    "MountEntry",
    "RawFanotifyEvent",
    "is_sensitive_read",
    "parse_events",
    "parse_mountinfo",
]

# linux/fanotify.h
FAN_ACCESS: Final = 0x0000_0001
FAN_MODIFY: Final = 0x0000_0002
FAN_CLOSE_WRITE: Final = 0x0000_0008
FAN_OPEN: Final = 0x0000_0020
FAN_CREATE: Final = 0x0000_0100
FAN_OPEN_EXEC: Final = 0x0000_1000
FAN_Q_OVERFLOW: Final = 0x0000_4000
FAN_EVENT_ON_CHILD: Final = 0x0800_0000
FAN_OPEN_PERM: Final = 0x0001_0000
FAN_ACCESS_PERM: Final = 0x0002_0000
FAN_OPEN_EXEC_PERM: Final = 0x0004_0000
_PERMISSION_EVENTS: Final = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM

FAN_CLOEXEC: Final = 0x01
FAN_NONBLOCK: Final = 0x02
FAN_CLASS_NOTIF: Final = 0x00
FAN_CLASS_CONTENT: Final = 0x04
FAN_REPORT_TID: Final = 0x100
FAN_REPORT_DFID_NAME: Final = 0x400 | 0x800  # FAN_REPORT_DIR_FID | FAN_REPORT_NAME
FAN_EVENT_INFO_TYPE_DFID_NAME: Final = 2

FAN_MARK_ADD: Final = 0x01
FAN_MARK_REMOVE: Final = 0x02
FAN_MARK_MOUNT: Final = 0x10

FAN_ALLOW: Final = 0x01
FAN_DENY: Final = 0x02
FAN_NOFD: Final = -1
FANOTIFY_METADATA_VERSION: Final = 3

_O_LARGEFILE: Final = 0o100000  # the kernel's value; Python's os.O_LARGEFILE is 0 on 64-bit
_AT_FDCWD: Final = -100
_SYS_OPENAT2: Final = 437  # x86_64, arm64 and the other architectures of the unified table
_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_IN_ROOT: Final = 0x10
_AT_HANDLE_FID: Final = 0x200
_MAX_HANDLE: Final = 128

_METADATA = struct.Struct("=IBBHQii")
"""``struct fanotify_event_metadata``: event_len, vers, reserved, metadata_len, mask, fd, pid."""
_RESPONSE = struct.Struct("=iI")
"""``struct fanotify_response``: fd, response."""
_INFO_HEADER = struct.Struct("=BBH")
"""``struct fanotify_event_info_header``: info_type, pad, len."""
_HANDLE_HEADER = struct.Struct("=Ii")
"""``struct file_handle``: handle_bytes, handle_type (the handle's bytes follow)."""

MOUNT_EVENTS: Final = FAN_CLOSE_WRITE | FAN_OPEN_EXEC
READ_BUFFER: Final = 4096
"""Bytes of permission events read at once: at most 170 events (and descriptors)."""
NOTIFY_BUFFER: Final = 1024
"""Bytes of notifications read at once (42 events): permission events are looked at
again after each such batch, so an opener never waits behind a long queue of writes."""
NOTIFY_BATCH: Final = 64
"""Recorded opens handled between two looks at the permission queue."""

DEFAULT_SENSITIVE_READS: Final = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d/*",
    "/etc/pam.conf",
    "/etc/pam.d/*",
    "/etc/security/pwquality.conf",
    "/etc/ssh/ssh_host_*_key",
    "/root/.ssh/*",
    "/home/*/.ssh/*",
)
"""Files whose every open is reported (shell patterns; ``*`` stays within one name):
password hashes, who may become root, how logins are checked (Falco's
``sensitive_files``), host keys, and everything in users' SSH directories."""
DEFAULT_LINK_DIRECTORIES: Final = (
    "/",
    "/etc",
    "/root",
    "/home/*",
    "/tmp",  # noqa: S108 (a container's directory, watched, not used)
    "/var/tmp",  # noqa: S108
    "/dev/shm",  # noqa: S108
    "/run",
)
"""Directories whose new symbolic and hard links are reported: where anyone may write, and
where accounts and keys live (a link is reported where it is made, whatever it points to)."""
DEFAULT_WRITE_DIRECTORIES: Final = ("/var/log",)
"""Directories whose files' opens for writing are reported when they open, with the
open's flags (``O_TRUNC``: a log emptied) and descriptor, rather than at their close.
Every open of their files waits for the Defender's answer, so they are few."""
SENSITIVE_READ_EXCLUDES: Final = ("*.pub",)
"""Names never treated as sensitive though a pattern matches them (public keys)."""

_PSEUDO_FILESYSTEMS: Final = frozenset(
    {
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "bpf",
        "configfs",
        "fusectl",
        "pstore",
        "binfmt_misc",
        "hugetlbfs",
        "autofs",
        "nsfs",
        "efivarfs",
    }
)
"""Kernel filesystems: nothing a program writes or runs lives there."""
_MAX_GLOB_MATCHES: Final = 64
_COMPARE_LIMIT: Final = 1 << 20
_MAX_RECENT: Final = 8192
_SETTLE_NS: Final = 2_000_000_000
"""How long a new link waits for the process sensor to tell who made it."""


@dataclass(frozen=True, slots=True)
class RawFanotifyEvent:
    """One event as the kernel wrote it: what happened (``mask``), the descriptor the
    kernel opened on the file for the reader (``-1`` for an overflow), the opener's pid."""

    mask: int
    fd: int
    pid: int
    info: bytes = b""
    """The information records after the metadata (a creation's directory and name)."""

    @property
    def needs_response(self) -> bool:
        return bool(self.mask & _PERMISSION_EVENTS) and self.fd >= 0


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of ``/proc/PID/mountinfo``."""

    mount_id: int
    mount_point: str
    fstype: str
    super_options: str

    def overlay_dirs(self) -> tuple[str | None, tuple[str, ...]]:
        """An overlay's upper directory and lower directories (host paths)."""
        upper: str | None = None
        lower: tuple[str, ...] = ()
        if self.fstype != "overlay":
            return None, ()
        for option in _split_escaped(self.super_options, ","):
            key, _, value = option.partition("=")
            if key == "upperdir":
                upper = _unescape_option(value)
            elif key == "lowerdir":
                lower = tuple(_unescape_option(d) for d in _split_escaped(value, ":") if d)
        return upper, lower


def parse_events(data: bytes) -> list[RawFanotifyEvent]:
    """The events of one ``read`` of a fanotify descriptor. A short or malformed record
    ends the parse (nothing after it can be located); nothing raises."""
    events = []
    offset = 0
    while offset + _METADATA.size <= len(data):
        length, version, _reserved, metadata_len, mask, fd, pid = _METADATA.unpack_from(
            data, offset
        )
        if (
            version != FANOTIFY_METADATA_VERSION
            or metadata_len < _METADATA.size
            or length < metadata_len
            or offset + length > len(data)
        ):
            break
        info = data[offset + metadata_len : offset + length] if length > metadata_len else b""
        events.append(RawFanotifyEvent(mask, fd, pid, info))
        offset += length
    return events


def parse_dir_entry(info: bytes) -> tuple[bytes, str] | None:
    """A directory-entry event's directory (its file system id and handle, as one key)
    and entry name, from the information records; None when there is no such record."""
    offset = 0
    while offset + _INFO_HEADER.size <= len(info):
        kind, _pad, length = _INFO_HEADER.unpack_from(info, offset)
        if length < _INFO_HEADER.size or offset + length > len(info):
            return None
        if kind == FAN_EVENT_INFO_TYPE_DFID_NAME:
            record = info[offset + _INFO_HEADER.size : offset + length]
            start = 8 + _HANDLE_HEADER.size  # fsid, then struct file_handle
            if len(record) < start:
                return None
            size, _type = _HANDLE_HEADER.unpack_from(record, 8)
            name = record[start + size :].split(b"\0", 1)[0]
            if len(record) < start + size or not name or b"/" in name:
                return None
            return record[: start + size], os.fsdecode(name)
        offset += length
    return None


def _unescape_mountinfo(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in text:
        return text
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        octal = text[index + 1 : index + 4]
        if char == "\\" and len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(chr(int(octal, 8)))
            index += 4
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _split_escaped(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where no backslash escapes it."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape_option(text: str) -> str:
    """overlayfs escapes ``,``, ``:``, ``=`` and ``\\`` in its directory options."""
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mounts of a ``/proc/PID/mountinfo`` file; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        before, separator, after = line.partition(" - ")
        fields, super_fields = before.split(), after.split()
        if not separator or len(fields) < 5 or len(super_fields) < 2:
            continue
        try:
            mount_id = int(fields[0])
        except ValueError:
            continue
        entries.append(
            MountEntry(
                mount_id=mount_id,
                mount_point=_unescape_mountinfo(fields[4]),
                fstype=super_fields[0],
                super_options=_unescape_mountinfo(super_fields[2]) if len(super_fields) > 2 else "",
            )
        )
    return entries


def _matches(path: str, pattern: str) -> bool:
    names, wanted = path.strip("/").split("/"), pattern.strip("/").split("/")
    return len(names) == len(wanted) and all(
        fnmatch.fnmatchcase(name, want) for name, want in zip(names, wanted, strict=True)
    )


def is_sensitive_read(path: str, patterns: Iterable[str] = DEFAULT_SENSITIVE_READS) -> bool:
    """Whether opening ``path`` (inside a container) is reported, by the read list."""
    name = posixpath.basename(path)
    if any(fnmatch.fnmatchcase(name, excluded) for excluded in SENSITIVE_READ_EXCLUDES):
        return False
    return any(_matches(path, pattern) for pattern in patterns)


# -- system calls -------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_fanotify_init = _libc.fanotify_init
_fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
_fanotify_init.restype = ctypes.c_int
_fanotify_mark = _libc.fanotify_mark
_fanotify_mark.argtypes = [
    ctypes.c_int,
    ctypes.c_uint,
    ctypes.c_uint64,
    ctypes.c_int,
    ctypes.c_char_p,
]
_fanotify_mark.restype = ctypes.c_int
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_name_to_handle_at = _libc.name_to_handle_at
_name_to_handle_at.restype = ctypes.c_int


class _FileHandle(ctypes.Structure):
    _fields_ = (
        ("handle_bytes", ctypes.c_uint),
        ("handle_type", ctypes.c_int),
        ("f_handle", ctypes.c_ubyte * _MAX_HANDLE),
    )


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_missing_calls: set[str] = set()
"""System calls this kernel lacks (learned once)."""


def _open_in_root(root_fd: int, root_path: str, path: str, flags: int) -> int:
    """A descriptor of ``path`` as the container sees it from its root (symbolic links
    followed inside the root, never out of it). Without ``openat2`` (Linux < 5.6) the
    path goes through ``/proc/PID/root``; the callers check the mount of the result."""
    relative = path.lstrip("/") or "."
    if "openat2" not in _missing_calls:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(root_fd),
            ctypes.c_char_p(os.fsencode(relative)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.ENOSYS:
            raise OSError(code, os.strerror(code), path)
        _missing_calls.add("openat2")
    return os.open(f"{root_path}/{relative}", flags | os.O_CLOEXEC)


def _new_group(kind: int) -> int:
    flags = os.O_RDONLY | os.O_CLOEXEC | _O_LARGEFILE
    fd = int(_fanotify_init(kind | FAN_CLOEXEC | FAN_NONBLOCK, flags))
    if fd < 0:
        code = ctypes.get_errno()
        hint = " (root needed)" if code == errno.EPERM else ""
        raise SensorUnavailable(code, f"no fanotify: {os.strerror(code)}{hint}")
    return fd


def _directory_key(fd: int) -> bytes | None:
    """How fanotify names the directory ``fd`` in its directory-entry events: the file
    system id and the file handle (``AT_HANDLE_FID``: a handle only to compare, which
    file systems that cannot reopen by handle, overlayfs among them, still give)."""
    handle = _FileHandle(_MAX_HANDLE, 0)
    mount = ctypes.c_int()
    flags = _AT_HANDLE_FID | 0x1000  # AT_EMPTY_PATH
    if _name_to_handle_at(fd, b"", ctypes.byref(handle), ctypes.byref(mount), flags) != 0:
        return None
    try:
        fsid = os.fstatvfs(fd).f_fsid
    except OSError:
        return None
    size = handle.handle_bytes
    return (
        struct.pack("=II", fsid & 0xFFFF_FFFF, fsid >> 32)
        + _HANDLE_HEADER.pack(size, handle.handle_type)
        + bytes(handle.f_handle[:size])
    )


def _mount_id(fd: int) -> int | None:
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as handle:
            for line in handle:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _fd_path(fd: int) -> str | None:
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return path.removesuffix(" (deleted)")


# -- the sensor ---------------------------------------------------------------------------


@dataclass
class _Watched:
    container: Container
    pid: int
    """A process of the container, through whose ``/proc/PID/root`` it is reached."""
    root_mount: int
    mounts: dict[int, str] = field(default_factory=dict)
    """Mount id → mount point inside the container."""
    upperdir: str | None = None
    lowerdirs: tuple[str, ...] = ()
    dirty: bool = False
    """A write landed where a sensitive file may have been created or replaced."""
    namespace: int | None = None
    """Its mount namespace, when the open recorder records its opens."""


Judge = Callable[[FileEvent], bool | None]
"""Called with each reported event; ``False`` refuses a permission event (the open fails
with ``EPERM``). The answer is ignored for events that only notify."""


class FileSensor:
    """fanotify marks on the watched containers' mounts and sensitive files.

    ``process_of(pid)`` describes the process behind an event (the process tracker's
    knowledge, or a fresh read of ``/proc``); ``describe(pid)`` reads ``/proc`` first
    (default: ``process_of``), for openers waiting on a verdict and wherever what the
    tracker knows is stale (it predates an exec into the container). ``permission``
    lets sensitive opens wait for the judgement (and be refused); the sensor falls back
    to plain notification where the kernel has no permission events, saying so in
    :attr:`permission`. Needs root (``CAP_SYS_ADMIN``);
    :class:`~.procconn.SensorUnavailable` otherwise.
    """

    def __init__(
        self,
        process_of: Callable[[int], Process | None],
        *,
        describe: Callable[[int], Process | None] | None = None,
        sensitive_reads: Iterable[str] = DEFAULT_SENSITIVE_READS,
        link_directories: Iterable[str] = DEFAULT_LINK_DIRECTORIES,
        write_directories: Iterable[str] = DEFAULT_WRITE_DIRECTORIES,
        permission: bool = True,
        proc: Path = Path("/proc"),
        repeat_window: float = 1.0,
        opens: OpenRecorder | None = None,
    ) -> None:
        self._process_of = process_of
        self.opens = opens
        """The kernel's record of each open for writing, and of each read that climbs
        out of directories twice (eBPF), when available: such opens are told as they
        happen, with their flags and descriptor."""
        self._describe_now = describe or process_of
        self._proc = proc
        self.sensitive_reads = tuple(sensitive_reads)
        self._sensitive_dirs = frozenset(posixpath.dirname(p) for p in self.sensitive_reads)
        self._repeat_ns = int(repeat_window * 1e9)
        self._notify_fd = _new_group(FAN_CLASS_NOTIF)
        self._perm_fd = -1
        self._thread_ids = False
        """Permission events name the opening thread (Linux 4.20), whose open is read."""
        if permission:
            for kind in (FAN_CLASS_CONTENT | FAN_REPORT_TID, FAN_CLASS_CONTENT):
                try:
                    self._perm_fd = _new_group(kind)
                except SensorUnavailable as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: no permission events, or no TID
                        os.close(self._notify_fd)
                        raise
                else:
                    self._thread_ids = bool(kind & FAN_REPORT_TID)
                    break
        self.permission = self._perm_fd >= 0
        self.link_directories = tuple(link_directories)
        self.write_directories = tuple(write_directories)
        self._entries_fd = -1
        """Directory-entry events (Linux 5.9): new links in the link directories."""
        if self.link_directories:
            try:
                self._entries_fd = _new_group(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME)
            except SensorUnavailable as exc:
                if exc.errno != errno.EINVAL:
                    self.close()
                    raise
        self.links = self._entries_fd >= 0
        """Whether new symbolic and hard links are reported."""
        self._own_pid = os.getpid()
        self._host_root = self._root_mount_of("self")
        self._host_namespace = mount_namespace(self._own_pid, str(proc))
        self._lock = threading.Lock()
        self._containers: dict[str, _Watched] = {}
        self._mounts: dict[int, _Watched] = {}
        self._namespaces: dict[int, _Watched] = {}
        self._boot_ns = time.time_ns() - time.monotonic_ns()
        self._directories: dict[bytes, tuple[_Watched, str]] = {}
        """fanotify's key of each link directory marked → its container and path."""
        self._undecided: list[tuple[int, int, _Watched, FileEvent]] = []
        """New links whose creator was gone before it was known: (deadline, pid, …)."""
        self._recent: dict[tuple[int, str], int] = {}
        self._written_at_open: dict[tuple[int, str], int] = {}
        self._numbers = itertools.count(1)
        self.lost = 0
        """Queue overflows the kernel reported (each one or more lost events)."""
        self.reported = 0
        self.foreign = 0
        """Events on files of no watched container, or from processes outside it."""
        self.unchanged = 0
        """Files closed after an open for writing that left them as the image has them."""
        self.coalesced = 0
        """Writes of the same file by the same process within ``repeat_window``."""
        self.unread_opens = 0
        """Openers waiting for a verdict whose open could not be read (not in an open
        call: ``execve``, ``io_uring``; or gone): reported as ``openat`` without flags."""
        self.caught_up_ns = time.time_ns()
        """Wall-clock time before which every event has been handed over (when the
        queues were last found empty)."""

    # -- containers ------------------------------------------------------------------------

    def is_watching(self, container_id: str) -> bool:
        return container_id in self._containers

    def watching(self) -> list[Container]:
        with self._lock:
            return [w.container for w in self._containers.values()]

    def _root_mount_of(self, pid: int | str) -> int | None:
        try:
            fd = os.open(f"{self._proc}/{pid}/root", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _mount_id(fd)
        finally:
            os.close(fd)

    def watch(self, container: Container, pid: int) -> bool:
        """Mark the mounts and sensitive files of ``container``, reached through the root
        of ``pid`` (one of its processes). False when that cannot be done now: the
        process is gone, or it does not run in its own root yet (a runtime's init before
        ``pivot_root``); the caller tries again with a later process."""
        if container.is_host or self.is_watching(container.id):
            return not container.is_host
        root_path = f"{self._proc}/{pid}/root"
        try:
            root_fd = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            root_mount = _mount_id(root_fd)
            if root_mount is None or root_mount == self._host_root:
                return False
            try:
                entries = parse_mountinfo((self._proc / str(pid) / "mountinfo").read_text())
            except OSError:
                return False
            watched = _Watched(container, pid, root_mount)
            for entry in entries:
                if entry.mount_id == root_mount:
                    watched.upperdir, watched.lowerdirs = entry.overlay_dirs()
            with self._lock:
                if container.id in self._containers:
                    return True
                self._containers[container.id] = watched
            for entry in entries:
                if entry.fstype not in _PSEUDO_FILESYSTEMS:
                    self._mark_mount(watched, root_fd, root_path, entry)
            if root_mount not in watched.mounts:
                self._forget(container.id)
                return False
            self._mark_sensitive(watched, root_fd, root_path)
            self._mark_link_directories(watched, root_fd, root_path)
            self._mark_write_directories(watched, root_fd, root_path)
            self._record_opens(watched)
            return True
        finally:
            os.close(root_fd)

    def _record_opens(self, watched: _Watched) -> None:
        """Have the kernel record the opens in ``watched``'s mount namespace (not the
        host's: a container sharing it is not told apart by namespace)."""
        if self.opens is None:
            return
        namespace = mount_namespace(watched.pid, str(self._proc))
        if namespace is None or namespace == self._host_namespace:
            return
        if self.opens.watch(namespace):
            with self._lock:
                watched.namespace = namespace
                self._namespaces[namespace] = watched

    def _mark(
        self, flags: int, mask: int, fd: int, *, sensitive: bool = False, group: int = -1
    ) -> bool:
        # fanotify_mark wants a path or a non-O_PATH descriptor; the magic link of our
        # O_PATH descriptor is a path to exactly the object we opened.
        if group < 0:
            group = self._perm_fd if sensitive and self.permission else self._notify_fd
        result = _fanotify_mark(group, flags, mask, _AT_FDCWD, f"/proc/self/fd/{fd}".encode())
        return bool(result == 0)

    def _mark_mount(
        self, watched: _Watched, root_fd: int, root_path: str, entry: MountEntry
    ) -> None:
        try:
            fd = _open_in_root(root_fd, root_path, entry.mount_point, os.O_PATH)
        except OSError:
            return
        try:
            if _mount_id(fd) != entry.mount_id:
                return  # another mount lies over it: nothing reaches this one
            with self._lock:
                watched.mounts[entry.mount_id] = entry.mount_point
                self._mounts[entry.mount_id] = watched
            if not self._mark(FAN_MARK_ADD | FAN_MARK_MOUNT, MOUNT_EVENTS, fd):
                with self._lock:
                    watched.mounts.pop(entry.mount_id, None)
                    self._mounts.pop(entry.mount_id, None)
        finally:
            os.close(fd)

    def _expand(self, root_fd: int, root_path: str, pattern: str) -> Iterator[str]:
        """Paths inside the container that ``pattern`` names (``*`` listed per directory)."""
        candidates = [""]
        for name in pattern.strip("/").split("/"):
            if not any(c in name for c in "*?["):
                candidates = [f"{c}/{name}" for c in candidates]
                continue
            found: list[str] = []
            for directory in candidates:
                try:
                    fd = _open_in_root(
                        root_fd, root_path, directory or "/", os.O_RDONLY | os.O_DIRECTORY
                    )
                except OSError:
                    continue
                try:
                    names = sorted(os.listdir(fd))
                except OSError:
                    names = []
                finally:
                    os.close(fd)
                found.extend(f"{directory}/{n}" for n in names if fnmatch.fnmatchcase(n, name))
            candidates = found[:_MAX_GLOB_MATCHES]
        for candidate in candidates:
            if is_sensitive_read(candidate, (pattern,)):
                yield candidate

    def _mark_sensitive(self, watched: _Watched, root_fd: int, root_path: str) -> int:
        mask = FAN_OPEN_PERM if self.permission else FAN_OPEN
        marked = 0
        for pattern in self.sensitive_reads:
            for path in self._expand(root_fd, root_path, pattern):
                try:
                    fd = _open_in_root(root_fd, root_path, path, os.O_PATH)
                except OSError:
                    continue
                try:
                    if (
                        stat.S_ISREG(os.fstat(fd).st_mode)
                        and _mount_id(fd) in watched.mounts
                        and self._mark(FAN_MARK_ADD, mask, fd, sensitive=True)
                    ):
                        marked += 1
                finally:
                    os.close(fd)
        return marked

    def refresh(self, *, everything: bool = False) -> int:
        """Mark the sensitive files of containers where a write may have created or
        replaced one (every watched container with ``everything``), and their link and
        write directories made since; how many marks were placed (marking a marked file
        again changes nothing)."""
        with self._lock:
            due = [w for w in self._containers.values() if everything or w.dirty]
            for watched in due:
                watched.dirty = False
        marked = 0
        for watched in due:
            root_path = f"{self._proc}/{watched.pid}/root"
            try:
                root_fd = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if _mount_id(root_fd) == watched.root_mount:
                    marked += self._mark_sensitive(watched, root_fd, root_path)
                    marked += self._mark_link_directories(watched, root_fd, root_path)
                    marked += self._mark_write_directories(watched, root_fd, root_path)
            finally:
                os.close(root_fd)
        return marked

    def _directories_of(
        self, watched: _Watched, root_fd: int, root_path: str, patterns: Iterable[str]
    ) -> Iterator[tuple[str, int]]:
        """The container's directories that ``patterns`` name, with a descriptor each
        (closed after the loop body); only those on the container's own mounts."""
        for pattern in patterns:
            for path in list(self._expand(root_fd, root_path, pattern)):
                try:
                    fd = _open_in_root(root_fd, root_path, path, os.O_PATH | os.O_DIRECTORY)
                except OSError:
                    continue
                try:
                    if _mount_id(fd) in watched.mounts:
                        yield path or "/", fd
                finally:
                    os.close(fd)

    def _mark_link_directories(self, watched: _Watched, root_fd: int, root_path: str) -> int:
        marked = 0
        if not self.links:
            return marked
        for path, fd in self._directories_of(watched, root_fd, root_path, self.link_directories):
            key = _directory_key(fd)
            if key is None or not self._mark(FAN_MARK_ADD, FAN_CREATE, fd, group=self._entries_fd):
                continue
            with self._lock:
                self._directories[key] = (watched, path)
            marked += 1
        return marked

    def _mark_write_directories(self, watched: _Watched, root_fd: int, root_path: str) -> int:
        marked = 0
        if not self.permission:
            return marked
        directories = self._directories_of(watched, root_fd, root_path, self.write_directories)
        for _path, fd in directories:
            marked += self._mark(
                FAN_MARK_ADD, FAN_OPEN_PERM | FAN_EVENT_ON_CHILD, fd, sensitive=True
            )
        return marked

    def prune(self) -> list[str]:
        """Forget containers that are gone (no process has their root any more); the
        kernel has dropped their marks with their mounts. The ids forgotten."""
        with self._lock:
            watched = list(self._containers.values())
        gone = []
        for entry in watched:
            if self._root_mount_of(entry.pid) == entry.root_mount:
                continue
            successor = self._find_process(entry.root_mount)
            if successor is not None:
                entry.pid = successor
                continue
            self._forget(entry.container.id)
            gone.append(entry.container.id)
        return gone

    def _find_process(self, root_mount: int) -> int | None:
        try:
            pids = [int(p.name) for p in self._proc.iterdir() if p.name.isdigit()]
        except OSError:
            return None
        for pid in pids:
            if self._root_mount_of(pid) == root_mount:
                return pid
        return None

    def _forget(self, container_id: str) -> None:
        with self._lock:
            watched = self._containers.pop(container_id, None)
            if watched is not None:
                for mount in watched.mounts:
                    self._mounts.pop(mount, None)
                if watched.namespace is not None:
                    self._namespaces.pop(watched.namespace, None)
                    if self.opens is not None:
                        self.opens.forget(watched.namespace)
                for key in [k for k, (w, _) in self._directories.items() if w is watched]:
                    del self._directories[key]

    def unwatch(self, container_id: str) -> None:
        """Stop watching a container that still runs: its marks are removed."""
        with self._lock:
            watched = self._containers.get(container_id)
        if watched is None:
            return
        root_path = f"{self._proc}/{watched.pid}/root"
        try:
            root_fd = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            self._forget(container_id)
            return
        try:
            if _mount_id(root_fd) == watched.root_mount:
                for mount_point in list(watched.mounts.values()):
                    self._unmark(root_fd, root_path, mount_point, FAN_MARK_MOUNT, MOUNT_EVENTS)
                mask = FAN_OPEN_PERM if self.permission else FAN_OPEN
                for pattern in self.sensitive_reads:
                    for path in list(self._expand(root_fd, root_path, pattern)):
                        self._unmark(root_fd, root_path, path, 0, mask, sensitive=True)
                with self._lock:
                    directories = [p for w, p in self._directories.values() if w is watched]
                for path in directories:
                    self._unmark(root_fd, root_path, path, 0, FAN_CREATE, group=self._entries_fd)
                if self.permission:
                    children = FAN_OPEN_PERM | FAN_EVENT_ON_CHILD
                    for path, _fd in self._directories_of(
                        watched, root_fd, root_path, self.write_directories
                    ):
                        self._unmark(root_fd, root_path, path, 0, children, sensitive=True)
        finally:
            os.close(root_fd)
            self._forget(container_id)

    def _unmark(
        self,
        root_fd: int,
        root_path: str,
        path: str,
        kind: int,
        mask: int,
        *,
        sensitive: bool = False,
        group: int = -1,
    ) -> None:
        try:
            fd = _open_in_root(root_fd, root_path, path, os.O_PATH)
        except OSError:
            return
        try:
            self._mark(FAN_MARK_REMOVE | kind, mask, fd, sensitive=sensitive, group=group)
        finally:
            os.close(fd)

    # -- events ----------------------------------------------------------------------------

    def read(self, timeout: float | None = None, judge: Judge | None = None) -> list[FileEvent]:
        """The events the kernel has: every waiting permission event, and one batch of
        notifications (``[]`` after ``timeout`` seconds without any). Each is given to
        ``judge`` first; permission events are answered with its verdict before this
        returns, whatever happens."""
        groups = [fd for fd in (self._perm_fd, self._notify_fd, self._entries_fd) if fd >= 0]
        if self.opens is not None:
            groups.append(self.opens.fileno())
        started = time.time_ns()
        if self._undecided:
            timeout = min(timeout, 0.1) if timeout is not None else 0.1
        try:
            ready, _, _ = select.select(groups, [], [], 0)
            if not ready:
                # nothing queued: all handed over, but for links still waiting for their
                # process to be known
                waiting = [event.ts for _, _, _, event in self._undecided]
                self.caught_up_ns = min([started, *waiting])
                ready, _, _ = select.select(groups, [], [], timeout)
        except (OSError, ValueError):
            return []
        if not ready:
            return self._decide(judge) if self._undecided else []
        reported = self._decide(judge) if self._undecided else []
        reported.extend(self._drain_permission(judge))
        if self.opens is not None:
            reported.extend(self._recorded_opens(judge))
        for group in (self._notify_fd, self._entries_fd):
            if group in ready:
                reported.extend(self._batch(group, NOTIFY_BUFFER, judge)[0])
                reported.extend(self._drain_permission(judge))
        return reported

    def _recorded_opens(
        self, judge: Judge | None, limit: int | None = NOTIFY_BATCH
    ) -> list[FileEvent]:
        """The opens the kernel recorded (for writing, or reads that climb out of
        directories with ``../``; by default at most
        :data:`NOTIFY_BATCH`, so that permission events never wait long), each judged."""
        assert self.opens is not None  # noqa: S101 - narrowing for the caller's check
        reported = []
        for record in self.opens.records(limit):
            event = self._recorded_open(record)
            if event is None:
                continue
            self.reported += 1
            reported.append(event)
            if judge is not None:
                judge(event)  # done already: the verdict cannot refuse it
        return reported

    def _recorded_open(self, record: OpenRecord) -> FileEvent | None:
        """The event of a recorded open in a watched container; None for one told by
        its waiting opener, or from a namespace no longer watched (or this process)."""
        with self._lock:
            watched = self._namespaces.get(record.mount_namespace)
        if watched is None or record.pid == self._own_pid:
            self.foreign += 1
            return None
        process = self._known(record.pid)
        path = self._open_path(record, process)
        if self.permission and (
            is_sensitive_read(path, self.sensitive_reads)
            or any(_matches(posixpath.dirname(path), d) for d in self.write_directories)
        ):
            return None  # its opener waited for the verdict: told from there
        if process is None or process.container.id != watched.container.id:
            process = replace(process, container=watched.container) if process else None
        if _writes(record.flags):
            self._note_write_open(record.pid, path)
        return FileEvent(
            record.call,
            process or _unknown(record.pid, watched.container),
            path,
            raw_path=record.path,
            flags=record.flags,
            mode=record.mode,
            fd=record.fd,
            ts=self._boot_ns + record.timestamp_ns,
            num=next(self._numbers),
        )

    def _open_path(self, record: OpenRecord, process: Process | None) -> str:
        """The absolute path of a recorded open, as the container sees it: the path as
        given, from the directory it is relative to (the working directory, or the
        directory descriptor's), normalised (``..`` taken away, links not followed, as
        Falco's ``fd.name``)."""
        raw = record.path
        if raw.startswith("/"):
            return posixpath.normpath(raw).replace("//", "/", 1)
        base: str | None
        if record.dirfd == AT_FDCWD:
            base = readlink_or_none(f"{self._proc}/{record.pid}/cwd") or (
                process.cwd if process is not None else None
            )
        else:
            base = readlink_or_none(f"{self._proc}/{record.pid}/fd/{record.dirfd}")
        if not base or not base.startswith("/"):
            return raw
        return posixpath.normpath(posixpath.join(base, raw)).replace("//", "/", 1)

    def _drain_permission(self, judge: Judge | None) -> list[FileEvent]:
        reported: list[FileEvent] = []
        while self._perm_fd >= 0:
            events, more = self._batch(self._perm_fd, READ_BUFFER, judge)
            reported.extend(events)
            if not more:
                break
        return reported

    def _batch(self, group: int, size: int, judge: Judge | None) -> tuple[list[FileEvent], bool]:
        """The events of one read of ``group``; whether anything was read."""
        try:
            data = os.read(group, size)
        except (BlockingIOError, InterruptedError):
            return [], False
        except OSError as exc:
            if exc.errno == errno.EBADF:
                return [], False
            raise
        raws = parse_events(data)
        reported: list[FileEvent] = []
        if group == self._notify_fd and self.opens is not None:
            # every open recorded before these notifications first: a close after a
            # recorded open is then known as its close, not told as a write of its own
            reported.extend(self._recorded_opens(judge, None))
        index = 0
        try:
            while index < len(raws):
                raw = raws[index]
                index += 1
                reported.extend(self._one(raw, judge))
        finally:
            for raw in raws[index:]:
                self._finish(raw, allow=True)
        return reported, bool(data)

    def _one(self, raw: RawFanotifyEvent, judge: Judge | None) -> list[FileEvent]:
        allow = True
        try:
            if raw.mask & FAN_Q_OVERFLOW:
                self.lost += 1
                return []
            if raw.mask & FAN_CREATE:
                events = self._created(raw)
            elif raw.fd < 0:
                return []
            else:
                events = self._describe(raw)
            self.reported += len(events)
            for event in events:
                if judge is not None and judge(event) is False:
                    allow = False
            return events
        finally:
            self._finish(raw, allow=allow)

    def _finish(self, raw: RawFanotifyEvent, *, allow: bool) -> None:
        if raw.needs_response:
            with contextlib.suppress(OSError):  # the opener was killed meanwhile
                os.write(self._perm_fd, _RESPONSE.pack(raw.fd, FAN_ALLOW if allow else FAN_DENY))
        if raw.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(raw.fd)

    def _describe(self, raw: RawFanotifyEvent) -> list[FileEvent]:
        pid, pending = raw.pid, None
        if raw.needs_response and self._thread_ids:
            # the opener waits in its open(2): what it asked for can be read now
            pending = pending_open(raw.pid, self._proc)
            pid = thread_group(raw.pid, self._proc) or raw.pid
            if pending is None:
                self.unread_opens += 1
        if pid == self._own_pid:
            return []
        path = _fd_path(raw.fd)
        mount = _mount_id(raw.fd)
        with self._lock:
            watched = self._mounts.get(mount) if mount is not None else None
        if path is None or watched is None:
            self.foreign += 1
            return []
        if (
            raw.mask & (FAN_OPEN_PERM | FAN_OPEN)
            and not is_sensitive_read(path, self.sensitive_reads)
            and not (pending is not None and _writes(pending.flags))
        ):
            return []  # a file of a write directory, opened for reading
        waiting = bool(raw.mask & (FAN_OPEN_PERM | FAN_OPEN))
        inside, process = self._attribute(pid, watched, fresh=waiting)
        if not inside:
            self.foreign += 1
            return []
        events = []
        now = time.time_ns()
        if raw.mask & (FAN_OPEN_PERM | FAN_OPEN):
            opener = process or _unknown(pid, watched.container)
            if pending is None:
                event = FileEvent("openat", opener, path, flags=os.O_RDONLY)
            else:
                event = FileEvent(
                    pending.call,
                    opener,
                    path,
                    raw_path=pending.raw_path,
                    flags=pending.flags,
                    mode=pending.mode,
                    fd=pending.fd,
                )
                if pending.flags & os.O_ACCMODE != os.O_RDONLY:  # its close is a write
                    self._note_write_open(pid, path)
            events.append(replace(event, ts=now, num=next(self._numbers)))
        if raw.mask & FAN_OPEN_EXEC:
            runner = process
            if runner is None or (runner.exepath != path and not _alive(self._proc, raw.pid)):
                # gone, and known (if at all) from before the exec: the exec event could
                # not read it either, so the file says what ran
                runner = self._executed(raw, watched, path, runner)
            events.append(
                FileEvent(
                    "openat",
                    runner,
                    path,
                    flags=os.O_RDONLY,
                    opened_for_exec=True,
                    ts=now,
                    num=next(self._numbers),
                )
            )
        if raw.mask & FAN_CLOSE_WRITE:
            directory = posixpath.dirname(path)
            if any(_matches(directory, d) for d in self._sensitive_dirs):
                watched.dirty = True  # perhaps a sensitive file, new or renamed over one
            if self._closing_told_open(pid, path):
                self.coalesced += 1  # told when it was opened, with the open's flags
            elif mount == watched.root_mount and self._unchanged(raw.fd, watched, path):
                self.unchanged += 1
            elif self._repeat(pid, path, now):
                self.coalesced += 1
            else:
                events.append(
                    FileEvent(
                        "openat",
                        process or _unknown(pid, watched.container),
                        path,
                        flags=os.O_WRONLY,
                        ts=now,
                        num=next(self._numbers),
                    )
                )
        return events

    def _created(self, raw: RawFanotifyEvent) -> list[FileEvent]:
        """A new entry in a link directory: reported when it is a symbolic link, or a
        hard link (a file with more than one name; the other name is found among the
        sensitive files). Anything else created is told by its writes, at close."""
        entry = parse_dir_entry(raw.info)
        with self._lock:
            found = self._directories.get(entry[0]) if entry is not None else None
        if entry is None or found is None or raw.pid == self._own_pid:
            self.foreign += 1
            return []
        watched, directory = found
        root_path = f"{self._proc}/{watched.pid}/root"
        try:
            root_fd = os.open(root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return []
        try:
            if _mount_id(root_fd) != watched.root_mount:
                return []
            event = self._link_made(root_fd, root_path, directory, entry[1])
        finally:
            os.close(root_fd)
        if event is None:
            return []
        now = time.time_ns()
        return self._attributed(raw.pid, watched, replace(event, ts=now), now + _SETTLE_NS)

    @property
    def waiting(self) -> int:
        """New links held until the process sensor has told who made them."""
        return len(self._undecided)

    def _attributed(
        self, pid: int, watched: _Watched, event: FileEvent, deadline: int
    ) -> list[FileEvent]:
        """``event`` with its process, unless that is a host process. An inode mark's
        event may also come from the host working on the overlay's host side: a live
        process's root says which it is. A process gone before the process sensor told
        its exec (``runc exec`` of a short ``ln`` is known from ``runc init``, a host
        process) is waited for until ``deadline``, then taken as the container's: the
        event happened on the container's directory."""
        process = self._known(pid)
        if process is None or process.container.id != watched.container.id:
            root = self._root_mount_of(pid)
            if root is None and time.time_ns() < deadline and len(self._undecided) < _MAX_RECENT:
                self._undecided.append((deadline, pid, watched, event))
                return []
            if root is not None and root != watched.root_mount:
                self.foreign += 1
                return []
            if root is not None:
                process = self._describe_now(pid)
            process = process or _unknown(pid, watched.container)
            if process.container.id != watched.container.id:
                process = replace(process, container=watched.container)
        return [replace(event, process=process, num=next(self._numbers))]

    def _decide(self, judge: Judge | None) -> list[FileEvent]:
        """Events whose process was not known yet, looked at again (and judged)."""
        undecided, self._undecided = self._undecided, []
        decided: list[FileEvent] = []
        for deadline, pid, watched, event in undecided:
            decided.extend(self._attributed(pid, watched, event, deadline))
        self.reported += len(decided)
        if judge is not None:
            for event in decided:
                judge(event)
        return decided

    def _link_made(
        self, root_fd: int, root_path: str, directory: str, name: str
    ) -> FileEvent | None:
        path = posixpath.join(directory, name)
        try:
            parent = _open_in_root(root_fd, root_path, directory, os.O_PATH | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            info = os.lstat(name, dir_fd=parent)
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(name, dir_fd=parent)
                return FileEvent("symlinkat", _NOBODY, path, link_target=target)
        except OSError:
            return None  # gone already
        finally:
            os.close(parent)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink < 2:
            return None
        source = None
        for pattern in self.sensitive_reads:
            for candidate in self._expand(root_fd, root_path, pattern):
                if candidate != path and _same_file(root_fd, root_path, candidate, info):
                    source = candidate
                    break
            if source is not None:
                break
        return FileEvent("linkat", _NOBODY, path, source_path=source)

    def _known(self, pid: int) -> Process | None:
        """What is known of ``pid``, read from ``/proc`` again when the tracker knows it
        from before an exec it has not handled yet."""
        process = self._process_of(pid)
        if process is not None and runs_other_program(process, self._proc):
            return self._describe_now(pid) or process
        return process

    def _attribute(
        self, pid: int, watched: _Watched, *, fresh: bool
    ) -> tuple[bool, Process | None]:
        """Whether the process behind an event on ``watched``'s files runs in that
        container (not a host process reading them through ``/proc/PID/root``), and what
        is known of it (None: it was gone before it could be described). ``fresh``: the
        opener waits for the verdict, so ``/proc`` describes it as it is now."""
        process = self._describe_now(pid) if fresh else self._known(pid)
        if process is not None and process.container.id == watched.container.id:
            return True, process
        root = self._root_mount_of(pid)
        if root is None:  # gone: the event happened through the container's mount
            return True, None
        if root != watched.root_mount:
            return False, None
        if not fresh:  # known from before it entered the container (a runtime's exec)
            process = self._describe_now(pid)
        if process is None:
            return True, None
        if process.container.id != watched.container.id:
            process = replace(process, container=watched.container)
        return True, process

    def _executed(
        self, raw: RawFanotifyEvent, watched: _Watched, path: str, before: Process | None
    ) -> Process:
        """A process that was gone before ``/proc`` showed what it executed: what it was
        before (its parents, ids), running the program the executable's file describes."""
        process = replace(
            before or _unknown(raw.pid, watched.container),
            name=posixpath.basename(path)[:15],
            exe=path,
            exepath=path,
            args=(),
            exe_from_memfd=False,
            container=watched.container,
        )
        try:
            info = os.fstat(raw.fd)
        except OSError:
            return process
        upper = bool(watched.upperdir) and os.path.lexists(f"{watched.upperdir}{path}")
        return replace(
            process,
            exe_ino=info.st_ino,
            exe_ino_ctime=info.st_ctime_ns,
            exe_ino_mtime=info.st_mtime_ns,
            exe_upper_layer=upper,
            exe_lower_layer=not upper,
        )

    def _unchanged(self, fd: int, watched: _Watched, path: str) -> bool:
        """Whether a file closed after an open for writing is still the image's file:
        the same size, modification time and bytes as in a lower layer. Opening an
        image's file for writing copies it up (lock files: ``apt``'s, ``dpkg``'s) without
        changing it; that is not a write."""
        if not watched.lowerdirs or is_sensitive_read(path, self.sensitive_reads):
            # (never opened here: that open would wait for this very thread's verdict
            # if a layer were another container's view of a watched file)
            return False
        try:
            current = os.fstat(fd)
        except OSError:
            return False
        for lower in watched.lowerdirs:
            try:
                original = _open_lower(lower, path)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    continue  # not in this layer: look in the next one down
                return False
            try:
                info = os.fstat(original)
                return (
                    info.st_size == current.st_size
                    and info.st_mtime_ns == current.st_mtime_ns
                    and current.st_size <= _COMPARE_LIMIT
                    and _same_bytes(fd, original, current.st_size)
                )
            finally:
                os.close(original)
        return False

    def _note_write_open(self, pid: int, path: str) -> None:
        """An open for writing was reported with its flags: its close is not told again."""
        if len(self._written_at_open) >= _MAX_RECENT:
            self._written_at_open.clear()
        key = (pid, path)
        self._written_at_open[key] = self._written_at_open.get(key, 0) + 1

    def _closing_told_open(self, pid: int, path: str) -> bool:
        """Whether a close after writing ends an open already told (one per open)."""
        key = (pid, path)
        opens = self._written_at_open.get(key, 0)
        if opens <= 1:
            self._written_at_open.pop(key, None)
        else:
            self._written_at_open[key] = opens - 1
        return opens > 0

    def _repeat(self, pid: int, path: str, now: int) -> bool:
        key = (pid, path)
        last = self._recent.get(key)
        if last is not None and 0 <= now - last < self._repeat_ns:
            return True
        if len(self._recent) >= _MAX_RECENT:
            self._recent.clear()
        self._recent[key] = now
        return False

    def close(self) -> None:
        """Stop: every mark goes, and opens waiting for a verdict are allowed."""
        for fd in (self._perm_fd, self._notify_fd, self._entries_fd):
            if fd >= 0:
                os.close(fd)
        self._perm_fd = self._notify_fd = self._entries_fd = -1

    def __enter__(self) -> FileSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_NOBODY: Final = Process(pid=0, name="<NA>", exe="", exepath="", container=Container("host"))
"""A placeholder until the event's process is filled in."""


def _same_file(root_fd: int, root_path: str, path: str, info: os.stat_result) -> bool:
    try:
        fd = _open_in_root(root_fd, root_path, path, os.O_PATH | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        other = os.fstat(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)


def _writes(flags: int) -> bool:
    """Whether an open with ``flags`` may change the file."""
    return flags & os.O_ACCMODE != os.O_RDONLY or bool(flags & (os.O_TRUNC | os.O_CREAT))


def _alive(proc: Path, pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie's executable can no longer be read)."""
    try:
        os.readlink(f"{proc}/{pid}/exe")
    except OSError:
        return False
    return True


def _open_lower(layer: str, path: str) -> int:
    """``path`` in an image layer's directory, resolved inside it (a layer's symbolic
    links never lead out to the host's files), opened for reading only when it is a
    regular file (a FIFO would block, a whiteout is a device)."""
    root = os.open(layer, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        found = _open_in_root(root, layer, path, os.O_PATH | os.O_NOFOLLOW)
    finally:
        os.close(root)
    try:
        if not stat.S_ISREG(os.fstat(found).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.open(f"/proc/self/fd/{found}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(found)


def _same_bytes(fd: int, other: int, size: int) -> bool:
    if size == 0:
        return True
    try:
        return os.pread(fd, size + 1, 0) == os.pread(other, size + 1, 0)
    except OSError:
        return False


def _unknown(pid: int, container: Container, *, exe: str = "") -> Process:
    """A process that was gone before it could be described (Falco writes ``<NA>``)."""
    name = posixpath.basename(exe)[:15] if exe else "<NA>"
    return Process(pid=pid, name=name, exe=exe, exepath=exe, container=container)
