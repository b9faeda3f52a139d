"""What the Defender's sensors report, and the Falco fields read from it.

Three kinds of event leave the sensors, each a frozen record holding the process that
caused it (with its parent chain and container):

* :class:`ProcessEvent`: exec, fork and exit from the kernel proc connector, enriched
  from ``/proc`` (exe path, argv, cwd, ids, tty, capabilities, parent chain).
* :class:`FileEvent`: opens, writes, renames, unlinks, links and directory changes on
  watched filesystems, from fanotify.
* :class:`NetworkEvent`: outbound connections, accepted connections and listening
  sockets, from sock_diag and ``/proc/PID/net``.

The sensors mostly cannot tell which of a family of system calls did the work (fanotify
sees a file created, not whether ``link`` or ``linkat`` made it), so such an event
carries one canonical ``evt.type`` per family. Opens are the exception: an opener that
waits for a permission verdict can be asked which call it is in (``open``, ``openat``,
``openat2``, ``creat``); opens only notified of are ``openat``.
:data:`OBSERVED_EVENT_TYPES` lists every type the sensors report. A Falco condition that
can only match other event types can never match here; the rules compiler uses this list
to say so rather than to evaluate such rules for ever in vain.

:data:`FIELDS` is the field catalogue: every Falco field name the rules language knows,
with a typed extractor where our events carry the value and, where they do not, the
reason. The extractors return ``None`` for "no value" (a host process has no
``k8s.ns.name``), which the rules language treats as Falco does: every comparison with
it is false.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Final

__all__ = [
    "FIELDS",
    "HOST",
    "OBSERVED_EVENT_TYPES",
    "OPEN_CALLS",
    "Container",
    "Event",
    "Extractor",
    "FieldSpec",
    "FieldType",
    "FileEvent",
    "NetworkEvent",
    "Process",
    "ProcessEvent",
    "Value",
    "field_spec",
    "open_flag_names",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Value = str | int | bool | IPAddress | tuple["Value", ...]
"""What an extractor returns: a scalar, or a tuple for fields with several values."""


@dataclass(frozen=True, slots=True)
class Container:
    """The container a process runs in, as container discovery resolved it."""

    id: str
    """Short (12 hex digits) id, as Falco prints it; ``host`` for the host itself."""
    name: str | None = None
    image: str | None = None
    """The image reference the container was started from (``nginx:1.27``)."""
    image_repository: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    image_id: str | None = None
    runtime: str | None = None
    """docker, containerd, cri-o, podman."""
    privileged: bool | None = None
    start_ts: int | None = None
    """Start time, nanoseconds since the epoch."""
    k8s_namespace: str | None = None
    k8s_pod_name: str | None = None
    k8s_pod_uid: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def is_host(self) -> bool:
        return self.id == "host"


HOST: Final = Container(id="host", name="host")
"""Processes that run in no container."""


@dataclass(frozen=True, slots=True)
class Process:
    """A process as ``/proc`` showed it when the event happened.

    Falco's conventions hold: ``name`` is the kernel's ``comm`` (15 characters at most),
    ``exe`` is ``argv[0]`` as the program was called, ``exepath`` the resolved path of
    the executable, and ``args`` the arguments after ``argv[0]``.
    """

    pid: int
    name: str
    exe: str = ""
    exepath: str = ""
    args: tuple[str, ...] = ()
    cwd: str | None = None
    uid: int | None = None
    user_name: str | None = None
    gid: int | None = None
    group_name: str | None = None
    loginuid: int = -1
    """The audit login uid; -1 when the process descends from no login."""
    login_name: str | None = None
    tty: int = 0
    """The controlling terminal's device number; 0 for none."""
    ppid: int | None = None
    sid: int | None = None
    session_leader_name: str | None = None
    vpid: int | None = None
    """The pid inside the process's own pid namespace."""
    vpgid: int | None = None
    env: tuple[str, ...] = ()
    start_ts: int | None = None
    """Start time, nanoseconds since the epoch."""
    exe_writable: bool = False
    exe_upper_layer: bool = False
    """The executable lives in the writable (upper) layer of an overlay root: dropped."""
    exe_lower_layer: bool = False
    exe_from_memfd: bool = False
    exe_ino: int | None = None
    exe_ino_ctime: int | None = None
    exe_ino_mtime: int | None = None
    cap_effective: frozenset[str] | None = None
    cap_permitted: frozenset[str] | None = None
    cap_inheritable: frozenset[str] | None = None
    stdio: tuple[str, ...] = ()
    """What descriptors 0, 1 and 2 pointed at when the sensor looked (``socket:[123]``,
    ``/dev/pts/0``, ``pipe:[9]``); empty when unknown."""
    container: Container = HOST
    parent: Process | None = field(default=None, repr=False)

    @property
    def cmdline(self) -> str:
        return " ".join((self.name, *self.args)) if self.args else self.name

    def ancestors(self) -> Iterator[Process]:
        """The parent, the grandparent, … as far as the sensor knew them."""
        current = self.parent
        while current is not None:
            yield current
            current = current.parent


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """exec (``execve``), fork (``clone``) or exit (``procexit``) of :attr:`process`."""

    type: str
    process: Process
    ts: int = 0
    num: int = 0
    """Sequence number the sensor gives, from 1; 0 for an unnumbered event."""
    res: int = 0


@dataclass(frozen=True, slots=True)
class FileEvent:
    """A completed file operation of :attr:`process`.

    ``path`` is the absolute, normalised path; ``raw_path`` the path as the program
    passed it when known (fanotify reports only the resolved one). For ``renameat2`` and
    ``linkat``, ``source_path`` is the old path and ``path`` the new one; for
    ``symlinkat``, ``path`` is the link and ``link_target`` what it points at.
    """

    type: str
    process: Process
    path: str
    raw_path: str | None = None
    flags: int = 0
    """``open(2)`` flags (``os.O_*``) for opens; call flags otherwise."""
    mode: int | None = None
    fd: int | None = None
    """The descriptor number in the process; -1 when the open failed; None if unknown."""
    is_directory: bool = False
    created: bool = False
    """The open created the file (Falco's ``O_F_CREATED``)."""
    opened_for_exec: bool = False
    source_path: str | None = None
    link_target: str | None = None
    ts: int = 0
    num: int = 0
    """Sequence number the sensor gives, from 1; 0 for an unnumbered event."""
    res: int = 0


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """A connection or listening socket of :attr:`process`.

    Falco's tuple convention: the client is the side that connected, the server the side
    that accepted; for ``connect`` the process is the client, for ``accept4`` and
    ``listen`` the server.
    """

    type: str
    process: Process
    family: str = "ipv4"
    """ipv4, ipv6 or unix."""
    l4proto: str = "tcp"
    client_ip: IPAddress | None = None
    client_port: int | None = None
    server_ip: IPAddress | None = None
    server_port: int | None = None
    server_name: str | None = None
    """A DNS name the process resolved for the server address, when the sensor saw it."""
    client_name: str | None = None
    unix_path: str | None = None
    fd: int | None = None
    ts: int = 0
    num: int = 0
    """Sequence number the sensor gives, from 1; 0 for an unnumbered event."""
    res: int = 0

    @property
    def is_server(self) -> bool:
        return self.type in ("accept", "accept4", "listen")


Event = ProcessEvent | FileEvent | NetworkEvent

OPEN_CALLS: Final[frozenset[str]] = frozenset({"open", "openat", "openat2", "creat"})
"""The :attr:`FileEvent.type` values of opens."""

OBSERVED_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        # proc connector: PROC_EVENT_EXEC / FORK / EXIT
        "execve",
        "clone",
        "procexit",
        # fanotify: FAN_OPEN*/FAN_MODIFY (a permission event's opener tells which open
        # call), FAN_CREATE (files, links, dirs), FAN_RENAME, FAN_DELETE, FAN_ATTRIB
        "open",
        "openat",
        "openat2",
        "creat",
        "linkat",
        "symlinkat",
        "renameat2",
        "unlinkat",
        "mkdirat",
        "fchmodat",
        # sock_diag and /proc/PID/net: sockets in SYN_SENT/ESTABLISHED and LISTEN
        "connect",
        "accept4",
        "listen",
    }
)
"""The ``evt.type`` of every event our sensors report: one name per system-call family."""


# -- open flags, as Falco names them --------------------------------------------------

_OPEN_FLAG_BITS: Final = (
    ("O_CREAT", os.O_CREAT),
    ("O_EXCL", os.O_EXCL),
    ("O_NOCTTY", os.O_NOCTTY),
    ("O_TRUNC", os.O_TRUNC),
    ("O_APPEND", os.O_APPEND),
    ("O_NONBLOCK", os.O_NONBLOCK),
    ("O_DSYNC", os.O_DSYNC),
    ("O_DIRECT", getattr(os, "O_DIRECT", 0o40000)),
    ("O_LARGEFILE", getattr(os, "O_LARGEFILE", 0)),
    ("O_DIRECTORY", os.O_DIRECTORY),
    ("O_NOFOLLOW", os.O_NOFOLLOW),
    ("O_CLOEXEC", os.O_CLOEXEC),
    ("O_SYNC", os.O_SYNC & ~os.O_DSYNC),
    ("O_TMPFILE", getattr(os, "O_TMPFILE", 0o20000000) & ~os.O_DIRECTORY),
    ("O_PATH", getattr(os, "O_PATH", 0o10000000)),
)


def open_flag_names(flags: int, *, created: bool = False) -> tuple[str, ...]:
    """``open(2)`` flags as Falco prints them: the access mode first, then each set bit."""
    access = flags & os.O_ACCMODE
    names = [{os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY"}.get(access, "O_RDWR")]
    names.extend(name for name, bit in _OPEN_FLAG_BITS if bit and flags & bit == bit)
    if created:
        names.append("O_F_CREATED")
    return tuple(names)


def _exe_flags(process: Process) -> str:
    names = [
        name
        for name, present in (
            ("EXE_WRITABLE", process.exe_writable),
            ("EXE_UPPER_LAYER", process.exe_upper_layer),
            ("EXE_FROM_MEMFD", process.exe_from_memfd),
            ("EXE_LOWER_LAYER", process.exe_lower_layer),
        )
        if present
    ]
    return "|".join(names) if names else "0"


# -- the field catalogue ----------------------------------------------------------------


class FieldType(Enum):
    """How a field's values compare, and how literals in conditions are read for it."""

    STRING = "string"
    INT = "int"
    BOOL = "bool"
    IP = "ip"
    """An address; compared with addresses."""
    NET = "net"
    """An address compared with networks (``fd.net = 10.0.0.0/8``)."""


Extractor = Callable[[Event], Value | None]
"""Reads one field from an event; None when the event has no value for it."""


class ArgKind(Enum):
    NONE = "none"
    INDEX = "index"
    """``[N]``: an ancestor level, optional (no index: any of them)."""
    KEY = "key"
    """``[name]``: required (``container.mount.dest[/etc]``, ``proc.env[HOME]``)."""
    OPTIONAL_KEY = "optional_key"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One Falco field: how to read it from our events, or why we cannot."""

    name: str
    type: FieldType
    description: str
    bind: Callable[[str | None], Extractor] | None = None
    """Given the field's argument (``2`` of ``proc.aname[2]``), the extractor."""
    unsupported: str | None = None
    """Why our sensors cannot provide the field; None when they can."""
    arg: ArgKind = ArgKind.NONE
    any_value: Callable[[str | None], bool] = lambda arg: False
    """Whether, with this argument, the field has several values and a comparison holds
    when it holds for any one (``proc.aname`` without an index, ``fd.ip``)."""

    @property
    def supported(self) -> bool:
        return self.unsupported is None


def _plain(read: Callable[[Event], Value | None]) -> Callable[[str | None], Extractor]:
    return lambda arg: read


def _proc(read: Callable[[Process], Value | None]) -> Callable[[str | None], Extractor]:
    return lambda arg: lambda event: read(event.process)


def _parent(read: Callable[[Process], Value | None]) -> Callable[[str | None], Extractor]:
    def extractor(event: Event) -> Value | None:
        parent = event.process.parent
        return None if parent is None else read(parent)

    return lambda arg: extractor


def _ancestor(read: Callable[[Process], Value | None]) -> Callable[[str | None], Extractor]:
    def bind(arg: str | None) -> Extractor:
        if arg is None:

            def every(event: Event) -> Value | None:
                values = tuple(v for p in event.process.ancestors() if (v := read(p)) is not None)
                return values or None

            return every
        level = int(arg)

        def at_level(event: Event) -> Value | None:
            process: Process | None = event.process
            for _ in range(level):
                if process is None:
                    return None
                process = process.parent
            return None if process is None else read(process)

        return at_level

    return bind


def _exe_path(process: Process) -> str | None:
    return process.exepath or None


def _duration(event: Event) -> int | None:
    start = event.process.start_ts
    return None if start is None or not event.ts else event.ts - start


def _env(arg: str | None) -> Extractor:
    if arg is None:
        return lambda event: " ".join(event.process.env) or None

    prefix = f"{arg}="

    def one(event: Event) -> str | None:
        for entry in event.process.env:
            if entry.startswith(prefix):
                return entry[len(prefix) :]
        return None

    return one


def _caps(name: str) -> Callable[[str | None], Extractor]:
    def read(process: Process) -> str | None:
        caps: frozenset[str] | None = getattr(process, name)
        return None if caps is None else " ".join(sorted(caps))

    return _proc(read)


def _container(read: Callable[[Container], Value | None]) -> Callable[[str | None], Extractor]:
    return lambda arg: lambda event: read(event.process.container)


def _container_label(arg: str | None) -> Extractor:
    def read(event: Event) -> str | None:
        labels = event.process.container.labels
        if arg is None:
            return ", ".join(f"{k}:{v}" for k, v in labels) or None
        return dict(labels).get(arg)

    return read


def _pod_label(arg: str | None) -> Extractor:
    keys = ("io.kubernetes.pod.", "io.kubernetes.container.")

    def read(event: Event) -> str | None:
        container = event.process.container
        if container.k8s_pod_name is None:
            return None
        labels = [(k, v) for k, v in container.labels if not k.startswith(keys)]
        if arg is None:
            return ", ".join(f"{k}:{v}" for k, v in labels) or None
        return dict(labels).get(arg)

    return read


def _evt_time(event: Event) -> str:
    moment = datetime.fromtimestamp(event.ts / 1e9, tz=UTC)
    return moment.strftime("%H:%M:%S.") + f"{event.ts % 1_000_000_000:09d}"


def _evt_iso(event: Event) -> str:
    moment = datetime.fromtimestamp(event.ts // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.ts % 1_000_000_000:09d}+0000"


def _evt_res(event: Event) -> str:
    if event.res >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-event.res, str(event.res))


def _is_open(event: Event) -> bool:
    return isinstance(event, FileEvent) and event.type in OPEN_CALLS


def _open_read(event: Event) -> bool:
    return _is_open(event) and event.flags & os.O_ACCMODE in (os.O_RDONLY, os.O_RDWR)  # type: ignore[union-attr]


def _open_write(event: Event) -> bool:
    return _is_open(event) and event.flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)  # type: ignore[union-attr]


def _open_exec(event: Event) -> bool:
    return _is_open(event) and event.opened_for_exec  # type: ignore[union-attr]


def _open_create(event: Event) -> bool:
    return _is_open(event) and event.created  # type: ignore[union-attr]


def event_args(event: Event) -> dict[str, Value]:
    """The event's arguments under Falco's names for its ``evt.type`` (``evt.arg.*``)."""
    if isinstance(event, ProcessEvent):
        process = event.process
        if event.type == "execve":
            args: dict[str, Value] = {
                "res": event.res,
                "exe": process.exe,
                "args": " ".join(process.args),
                "pid": process.pid,
                "comm": process.name,
                "tty": process.tty,
                "loginuid": process.loginuid,
                "flags": _exe_flags(process),
            }
            if process.ppid is not None:
                args["ptid"] = process.ppid
            if process.cwd is not None:
                args["cwd"] = process.cwd
            if process.uid is not None:
                args["uid"] = process.uid
            return args
        if event.type == "procexit":
            return {"status": event.res}
        return {"res": event.res, "exe": process.exe, "args": " ".join(process.args)}
    if isinstance(event, FileEvent):
        return _file_args(event)
    tuple_text = _socket_name(event)
    args = {"fd": event.fd if event.fd is not None else -1}
    if event.type == "listen":
        return args
    if tuple_text is not None:
        args["tuple"] = tuple_text
    if event.type == "connect":
        args["res"] = event.res
    return args


def _file_args(event: FileEvent) -> dict[str, Value]:
    raw = event.raw_path if event.raw_path is not None else event.path
    if event.type in OPEN_CALLS:
        args: dict[str, Value] = {
            "fd": event.fd if event.fd is not None else -1,
            "name": raw,
            "flags": "|".join(open_flag_names(event.flags, created=event.created)),
        }
        if event.mode is not None:
            args["mode"] = f"0{event.mode:o}"
        return args
    if event.type == "linkat":
        return {"res": event.res, "oldpath": event.source_path or "", "newpath": raw}
    if event.type == "symlinkat":
        return {"res": event.res, "target": event.link_target or "", "linkpath": raw}
    if event.type == "renameat2":
        return {"res": event.res, "oldpath": event.source_path or "", "newpath": raw}
    if event.type == "unlinkat":
        return {"res": event.res, "name": raw, "flags": event.flags}
    if event.type == "mkdirat":
        args = {"res": event.res, "path": raw}
        if event.mode is not None:
            args["mode"] = f"0{event.mode:o}"
        return args
    args = {"res": event.res, "filename": raw}
    if event.mode is not None:
        args["mode"] = f"0{event.mode:o}"
    return args


def _render_args(event: Event) -> str:
    return " ".join(f"{name}={value}" for name, value in event_args(event).items())


_RAW_ARGS: Final = frozenset({"res", "fd", "flags", "mode", "uid", "pid", "ptid", "status"})


def _evt_arg(arg: str | None, *, raw: bool = False) -> Extractor:
    assert arg is not None  # noqa: S101 - the catalogue only binds evt.arg with a name

    def read(event: Event) -> Value | None:
        value: Value | None
        if raw and isinstance(event, FileEvent) and arg in ("flags", "mode"):
            value = event.flags if arg == "flags" else event.mode
        else:
            value = event_args(event).get(arg)
        # Arguments are text, as Falco renders them, whatever their type.
        return None if value is None else str(value)

    return read


def _fd_ip_pair(event: Event) -> tuple[IPAddress | None, IPAddress | None] | None:
    if not isinstance(event, NetworkEvent) or event.family == "unix":
        return None
    return event.client_ip, event.server_ip


def _socket_name(event: NetworkEvent) -> str | None:
    if event.family == "unix":
        return event.unix_path
    if event.type == "listen":
        if event.server_ip is None:
            return None
        return f"{_host(event.server_ip)}:{event.server_port}"
    if event.client_ip is None or event.server_ip is None:
        return None
    return (
        f"{_host(event.client_ip)}:{event.client_port}->"
        f"{_host(event.server_ip)}:{event.server_port}"
    )


def _host(address: IPAddress) -> str:
    return str(address)


def _fd_name(event: Event) -> str | None:
    if isinstance(event, FileEvent):
        return event.path
    if isinstance(event, NetworkEvent):
        return _socket_name(event)
    return None


def _fd_nameraw(event: Event) -> str | None:
    if isinstance(event, FileEvent):
        return event.raw_path if event.raw_path is not None else event.path
    return _fd_name(event)


def _fd_type(event: Event) -> str | None:
    if isinstance(event, FileEvent):
        return "directory" if event.is_directory else "file"
    if isinstance(event, NetworkEvent):
        return event.family
    return None


_TYPECHARS: Final = {"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u"}


def _fd_typechar(event: Event) -> str | None:
    kind = _fd_type(event)
    return None if kind is None else _TYPECHARS[kind]


def _fd_directory(event: Event) -> str | None:
    if not isinstance(event, FileEvent):
        return None
    return event.path if event.is_directory else posixpath.dirname(event.path)


def _fd_filename(event: Event) -> str | None:
    if not isinstance(event, FileEvent) or event.is_directory:
        return None
    return posixpath.basename(event.path)


def _fd_num(event: Event) -> int | None:
    if isinstance(event, FileEvent | NetworkEvent):
        return event.fd
    return None


def _net(read: Callable[[NetworkEvent], Value | None]) -> Callable[[str | None], Extractor]:
    def extractor(event: Event) -> Value | None:
        if not isinstance(event, NetworkEvent):
            return None
        return read(event)

    return lambda arg: extractor


def _ip_net(read: Callable[[NetworkEvent], Value | None]) -> Callable[[str | None], Extractor]:
    def extractor(event: Event) -> Value | None:
        if not isinstance(event, NetworkEvent) or event.family == "unix":
            return None
        return read(event)

    return lambda arg: extractor


def _local(event: NetworkEvent, server: object, client: object) -> object:
    return server if event.is_server else client


def _both(first: Value | None, second: Value | None) -> Value | None:
    values = tuple(v for v in (first, second) if v is not None)
    return values or None


def _fs_path(which: str) -> Callable[[str | None], Extractor]:
    def read(event: Event) -> str | None:
        if not isinstance(event, FileEvent):
            return None
        if which == "name":
            return event.path
        if which == "nameraw":
            return event.raw_path if event.raw_path is not None else event.path
        if which == "source":
            if event.type == "symlinkat":
                return event.link_target
            return event.source_path
        return event.path if event.type in ("linkat", "renameat2", "symlinkat") else None

    return lambda arg: read


_ANY: Final = lambda arg: arg is None  # noqa: E731 - one shared predicate
_ALWAYS: Final = lambda arg: True  # noqa: E731


def _catalogue() -> dict[str, FieldSpec]:
    s, i, b = FieldType.STRING, FieldType.INT, FieldType.BOOL
    specs: list[FieldSpec] = []

    def add(
        name: str,
        kind: FieldType,
        description: str,
        bind: Callable[[str | None], Extractor] | None = None,
        *,
        unsupported: str | None = None,
        arg: ArgKind = ArgKind.NONE,
        any_value: Callable[[str | None], bool] = lambda arg: False,
    ) -> None:
        specs.append(FieldSpec(name, kind, description, bind, unsupported, arg, any_value))

    # evt.*
    add("evt.type", s, "event type (system-call family)", _plain(lambda e: e.type))
    add("evt.dir", s, "direction: '<' (our events are all completed calls)", _plain(lambda e: "<"))
    # Sensors number events from 1; an unnumbered event (0) has no evt.num, so Falco's
    # "never_true" idiom (evt.num=0) stays false on it.
    add("evt.num", i, "event sequence number, from 1", _plain(lambda e: e.num or None))
    add("evt.time", s, "time of day with nanoseconds", _plain(_evt_time))
    add("evt.time.iso8601", s, "ISO 8601 time", _plain(_evt_iso))
    add("evt.datetime", s, "date and time", _plain(_evt_iso))
    add("evt.rawtime", i, "nanoseconds since the epoch", _plain(lambda e: e.ts))
    add("evt.time.s", s, "seconds part of the time", _plain(lambda e: str(e.ts // 10**9)))
    add("evt.args", s, "all arguments, name=value", _plain(_render_args))
    add("evt.res", s, "SUCCESS or the errno name", _plain(_evt_res))
    add("evt.rawres", i, "result as a number", _plain(lambda e: e.res))
    add("evt.failed", b, "the call failed", _plain(lambda e: e.res < 0))
    add("evt.is_open_read", b, "an open for reading", _plain(_open_read))
    add("evt.is_open_write", b, "an open for writing", _plain(_open_write))
    add("evt.is_open_exec", b, "an open for execution", _plain(_open_exec))
    add("evt.is_open_create", b, "an open that created the file", _plain(_open_create))
    add("evt.source", s, "event source", _plain(lambda e: "syscall"))
    add("evt.hostname", s, "host name", _plain(lambda e: os.uname().nodename))
    add(
        "evt.arg",
        s,
        "an argument by name (evt.arg.NAME)",
        _evt_arg,
        arg=ArgKind.KEY,
    )
    add(
        "evt.rawarg",
        s,
        "an argument's raw value by name (evt.rawarg.NAME)",
        lambda arg: _evt_arg(arg, raw=True),
        arg=ArgKind.KEY,
    )
    for name, reason in (
        ("evt.buffer", "our sensors do not capture I/O payloads"),
        ("evt.buflen", "our sensors do not capture I/O payloads"),
        ("evt.latency", "our sensors see completed calls, not their entry"),
        ("evt.deltatime", "our sensors keep no per-CPU event stream"),
        ("evt.cpu", "our sensors keep no per-CPU event stream"),
        ("evt.count", "counting filters are not supported"),
        ("evt.category", "our events are not classified into Falco's categories"),
        ("evt.is_io", "our sensors do not observe read/write calls"),
        ("evt.is_io_read", "our sensors do not observe read/write calls"),
        ("evt.is_io_write", "our sensors do not observe read/write calls"),
        ("evt.is_wait", "our sensors do not observe waiting calls"),
        ("evt.is_syslog", "our sensors do not observe writes to /dev/log"),
        ("evt.info", "no raw event text"),
        ("evt.pluginname", "plugin events are not supported"),
        ("evt.plugininfo", "plugin events are not supported"),
        ("evt.asynctype", "asynchronous plugin events are not supported"),
    ):
        add(name, s, name, unsupported=reason)
    add(
        "evt.arg[]",
        s,
        "an argument by position",
        unsupported="arguments are known by name; positions differ per system call",
        arg=ArgKind.KEY,
    )

    # proc.*
    add("proc.pid", i, "process id", _proc(lambda p: p.pid))
    add("proc.ppid", i, "parent process id", _proc(lambda p: p.ppid))
    add("proc.vpid", i, "pid in the process's pid namespace", _proc(lambda p: p.vpid))
    add("proc.pvpid", i, "parent's namespace pid", _parent(lambda p: p.vpid))
    add("proc.vpgid", i, "process group id in the namespace", _proc(lambda p: p.vpgid))
    add(
        "proc.is_vpgid_leader",
        b,
        "leader of its process group",
        _proc(lambda p: None if p.vpgid is None or p.vpid is None else p.vpgid == p.vpid),
    )
    add("proc.sid", i, "session id", _proc(lambda p: p.sid))
    add("proc.sname", s, "session leader's name", _proc(lambda p: p.session_leader_name))
    add(
        "proc.is_sid_leader",
        b,
        "leader of its session",
        _proc(lambda p: None if p.sid is None else p.sid == p.pid),
    )
    add("proc.name", s, "executable name (comm)", _proc(lambda p: p.name))
    add("proc.exe", s, "argv[0]", _proc(lambda p: p.exe or None))
    add("proc.exepath", s, "full executable path", _proc(_exe_path))
    add("proc.args", s, "arguments after argv[0]", _proc(lambda p: " ".join(p.args)))
    add("proc.cmdline", s, "name and arguments", _proc(lambda p: p.cmdline))
    add(
        "proc.exeline",
        s,
        "argv[0] and arguments",
        _proc(lambda p: " ".join((p.exe, *p.args))),
    )
    add("proc.cmdnargs", i, "number of arguments", _proc(lambda p: len(p.args)))
    add(
        "proc.cmdlenargs",
        i,
        "total length of the arguments",
        _proc(lambda p: sum(len(a) for a in p.args)),
    )
    add("proc.cwd", s, "working directory", _proc(lambda p: p.cwd))
    add("proc.tty", i, "controlling terminal, 0 for none", _proc(lambda p: p.tty))
    add("proc.env", s, "environment (proc.env[NAME] for one)", _env, arg=ArgKind.OPTIONAL_KEY)
    add("proc.duration", i, "nanoseconds since the process started", _plain(_duration))
    add("proc.start_ts", i, "start time", _proc(lambda p: p.start_ts))
    add("proc.pname", s, "parent's name", _parent(lambda p: p.name))
    add("proc.pcmdline", s, "parent's command line", _parent(lambda p: p.cmdline))
    add("proc.pexe", s, "parent's argv[0]", _parent(lambda p: p.exe or None))
    add("proc.pexepath", s, "parent's executable path", _parent(_exe_path))
    add("proc.pcwd", s, "parent's working directory", _parent(lambda p: p.cwd))
    for name, read in (
        ("proc.aname", lambda p: p.name),
        ("proc.apid", lambda p: p.pid),
        ("proc.aexe", lambda p: p.exe or None),
        ("proc.aexepath", _exe_path),
        ("proc.acmdline", lambda p: p.cmdline),
    ):
        add(
            name,
            i if name == "proc.apid" else s,
            f"{name[5:]} of an ancestor ([0] itself, [1] parent, no index: any ancestor)",
            _ancestor(read),
            arg=ArgKind.INDEX,
            any_value=_ANY,
        )
    add(
        "proc.is_exe_writable",
        b,
        "executable writable by the user",
        _proc(lambda p: p.exe_writable),
    )
    add(
        "proc.is_exe_upper_layer",
        b,
        "executable in the overlay's upper layer",
        _proc(lambda p: p.exe_upper_layer),
    )
    add(
        "proc.is_exe_lower_layer",
        b,
        "executable in an image layer",
        _proc(lambda p: p.exe_lower_layer),
    )
    add(
        "proc.is_exe_from_memfd",
        b,
        "executable is a memfd",
        _proc(lambda p: p.exe_from_memfd),
    )
    add("proc.exe_ino", i, "executable's inode", _proc(lambda p: p.exe_ino))
    add("proc.exe_ino.ctime", i, "executable's ctime", _proc(lambda p: p.exe_ino_ctime))
    add("proc.exe_ino.mtime", i, "executable's mtime", _proc(lambda p: p.exe_ino_mtime))
    add(
        "proc.exe_ino.ctime_duration_proc_start",
        i,
        "process start minus the executable's ctime",
        _proc(
            lambda p: (
                None
                if p.start_ts is None or p.exe_ino_ctime is None
                else p.start_ts - p.exe_ino_ctime
            )
        ),
    )
    for name, reason in (
        ("proc.exe_ino.ctime_duration_pidns_start", "pid-namespace start times are not tracked"),
        ("proc.pidns_init_start_ts", "pid-namespace start times are not tracked"),
        ("proc.loginshellid", "login shells are not tracked"),
        ("proc.is_container_healthcheck", "runtime health-check commands are not tracked"),
        ("proc.is_container_liveness_probe", "Kubernetes probes are not tracked"),
        ("proc.is_container_readiness_probe", "Kubernetes probes are not tracked"),
        ("proc.fdopencount", "descriptor tables are not tracked"),
        ("proc.fdlimit", "descriptor limits are not read"),
        ("proc.fdusage", "descriptor tables are not tracked"),
        ("proc.nthreads", "threads are not tracked"),
        ("proc.nchilds", "threads are not tracked"),
        ("proc.vmsize", "memory statistics are not read"),
        ("proc.vmrss", "memory statistics are not read"),
        ("proc.vmswap", "memory statistics are not read"),
        ("proc.pid.ts", "thread creation times are not tracked"),
        ("proc.ppid.ts", "thread creation times are not tracked"),
        ("proc.stdin.type", "descriptor tables are not tracked"),
        ("proc.stdout.type", "descriptor tables are not tracked"),
        ("proc.stderr.type", "descriptor tables are not tracked"),
        ("proc.stdin.name", "descriptor tables are not tracked"),
        ("proc.stdout.name", "descriptor tables are not tracked"),
        ("proc.stderr.name", "descriptor tables are not tracked"),
        ("proc.vpgid.name", "process-group leaders are not tracked"),
        ("proc.vpgid.exe", "process-group leaders are not tracked"),
        ("proc.vpgid.exepath", "process-group leaders are not tracked"),
    ):
        add(name, s, name, unsupported=reason)

    # thread.*
    add("thread.tid", i, "thread id (the process's main thread)", _proc(lambda p: p.pid))
    add("thread.vtid", i, "thread id in the namespace", _proc(lambda p: p.vpid))
    add("thread.cap_effective", s, "effective capabilities", _caps("cap_effective"))
    add("thread.cap_permitted", s, "permitted capabilities", _caps("cap_permitted"))
    add("thread.cap_inheritable", s, "inheritable capabilities", _caps("cap_inheritable"))
    for name in ("thread.ismain", "thread.exectime", "thread.totexectime", "thread.cgroups"):
        add(name, s, name, unsupported="threads are not tracked separately from processes")
    add("thread.cgroup", s, "thread.cgroup", unsupported="cgroups are resolved to containers")

    # user.* group.*
    add("user.uid", i, "user id", _proc(lambda p: p.uid))
    add("user.name", s, "user name", _proc(lambda p: p.user_name))
    add("user.loginuid", i, "audit login uid, -1 for none", _proc(lambda p: p.loginuid))
    add("user.loginname", s, "login user's name", _proc(lambda p: p.login_name))
    add("user.homedir", s, "user.homedir", unsupported="home directories are not read")
    add("user.shell", s, "user.shell", unsupported="login shells are not read")
    add("group.gid", i, "group id", _proc(lambda p: p.gid))
    add("group.name", s, "group name", _proc(lambda p: p.group_name))

    # container.*
    add("container.id", s, "short container id, 'host' on the host", _container(lambda c: c.id))
    add("container.full_id", s, "container id", _container(lambda c: c.id))
    add("container.name", s, "container name", _container(lambda c: c.name))
    add("container.image", s, "image reference", _container(lambda c: c.image))
    add("container.image.id", s, "image id", _container(lambda c: c.image_id))
    add(
        "container.image.repository",
        s,
        "image repository",
        _container(lambda c: c.image_repository),
    )
    add("container.image.tag", s, "image tag", _container(lambda c: c.image_tag))
    add("container.image.digest", s, "image digest", _container(lambda c: c.image_digest))
    add("container.type", s, "container runtime", _container(lambda c: c.runtime))
    add("container.privileged", b, "runs privileged", _container(lambda c: c.privileged))
    add("container.start_ts", i, "start time", _container(lambda c: c.start_ts))
    add(
        "container.duration",
        i,
        "nanoseconds since the container started",
        _plain(
            lambda e: (
                None
                if e.process.container.start_ts is None or not e.ts
                else e.ts - e.process.container.start_ts
            )
        ),
    )
    add("container.label", s, "a container label", _container_label, arg=ArgKind.OPTIONAL_KEY)
    add("container.labels", s, "all container labels", _container_label)
    for name, kind in (
        ("container.mounts", ArgKind.NONE),
        ("container.mount", ArgKind.KEY),
        ("container.mount.source", ArgKind.KEY),
        ("container.mount.dest", ArgKind.KEY),
        ("container.mount.mode", ArgKind.KEY),
        ("container.mount.rdwr", ArgKind.KEY),
        ("container.mount.propagation", ArgKind.KEY),
    ):
        add(name, s, name, unsupported="container discovery does not collect mounts yet", arg=kind)
    for name in (
        "container.healthcheck",
        "container.liveness_probe",
        "container.readiness_probe",
        "container.ip",
        "container.cni.json",
        "container.host_pid",
        "container.host_network",
        "container.host_ipc",
        "container.image.fullimage",
    ):
        add(name, s, name, unsupported="container discovery does not collect this yet")

    # k8s.*
    add("k8s.ns.name", s, "pod namespace", _container(lambda c: c.k8s_namespace))
    add("k8s.pod.name", s, "pod name", _container(lambda c: c.k8s_pod_name))
    add("k8s.pod.uid", s, "pod uid", _container(lambda c: c.k8s_pod_uid))
    add("k8s.pod.id", s, "pod uid", _container(lambda c: c.k8s_pod_uid))
    add("k8s.pod.label", s, "a pod label", _pod_label, arg=ArgKind.OPTIONAL_KEY)
    add("k8s.pod.labels", s, "all pod labels", _pod_label)
    for name in (
        "k8s.pod.ip",
        "k8s.pod.cni.json",
        "k8s.pod.sandbox_id",
        "k8s.pod.full_sandbox_id",
        "k8s.rc.name",
        "k8s.rs.name",
        "k8s.svc.name",
        "k8s.deployment.name",
        "k8s.ns.labels",
    ):
        add(name, s, name, unsupported="needs the Kubernetes API, which the Defender does not read")

    # fd.*
    add("fd.num", i, "descriptor number", _plain(_fd_num))
    add("fd.type", s, "file, directory, ipv4, ipv6, unix", _plain(_fd_type))
    add("fd.typechar", s, "f, d, 4, 6, u", _plain(_fd_typechar))
    add("fd.name", s, "path, or client:port->server:port", _plain(_fd_name))
    add("fd.nameraw", s, "path as the program passed it", _plain(_fd_nameraw))
    add("fd.directory", s, "directory of the file", _plain(_fd_directory))
    add("fd.filename", s, "file name without directory", _plain(_fd_filename))
    add("fd.l4proto", s, "tcp, udp, icmp, raw", _net(lambda n: n.l4proto))
    add(
        "fd.sockfamily",
        s,
        "ip or unix",
        _net(lambda n: "unix" if n.family == "unix" else "ip"),
    )
    add("fd.is_server", b, "the process is the server end", _net(lambda n: n.is_server))
    ip, net = FieldType.IP, FieldType.NET
    add("fd.cip", ip, "client address", _ip_net(lambda n: n.client_ip))
    add("fd.sip", ip, "server address", _ip_net(lambda n: n.server_ip))
    add(
        "fd.lip",
        ip,
        "local address",
        _ip_net(lambda n: n.server_ip if n.is_server else n.client_ip),
    )
    add(
        "fd.rip",
        ip,
        "remote address",
        _ip_net(lambda n: n.client_ip if n.is_server else n.server_ip),
    )
    add(
        "fd.ip",
        ip,
        "either address",
        _ip_net(lambda n: _both(n.client_ip, n.server_ip)),
        any_value=_ALWAYS,
    )
    add("fd.cnet", net, "client address (against networks)", _ip_net(lambda n: n.client_ip))
    add("fd.snet", net, "server address (against networks)", _ip_net(lambda n: n.server_ip))
    add(
        "fd.lnet",
        net,
        "local address (against networks)",
        _ip_net(lambda n: n.server_ip if n.is_server else n.client_ip),
    )
    add(
        "fd.rnet",
        net,
        "remote address (against networks)",
        _ip_net(lambda n: n.client_ip if n.is_server else n.server_ip),
    )
    add(
        "fd.net",
        net,
        "either address (against networks)",
        _ip_net(lambda n: _both(n.client_ip, n.server_ip)),
        any_value=_ALWAYS,
    )
    add("fd.cport", i, "client port", _ip_net(lambda n: n.client_port))
    add("fd.sport", i, "server port", _ip_net(lambda n: n.server_port))
    add(
        "fd.lport",
        i,
        "local port",
        _ip_net(lambda n: n.server_port if n.is_server else n.client_port),
    )
    add(
        "fd.rport",
        i,
        "remote port",
        _ip_net(lambda n: n.client_port if n.is_server else n.server_port),
    )
    add(
        "fd.port",
        i,
        "either port",
        _ip_net(lambda n: _both(n.client_port, n.server_port)),
        any_value=_ALWAYS,
    )
    add("fd.cip.name", s, "client's DNS name", _ip_net(lambda n: n.client_name))
    add("fd.sip.name", s, "server's DNS name", _ip_net(lambda n: n.server_name))
    add(
        "fd.lip.name",
        s,
        "local DNS name",
        _ip_net(lambda n: n.server_name if n.is_server else n.client_name),
    )
    add(
        "fd.rip.name",
        s,
        "remote DNS name",
        _ip_net(lambda n: n.client_name if n.is_server else n.server_name),
    )
    add(
        "fd.containername",
        s,
        "container id and descriptor name",
        _plain(
            lambda e: None if (name := _fd_name(e)) is None else f"{e.process.container.id}:{name}"
        ),
    )
    add(
        "fd.containerdirectory",
        s,
        "container id and directory",
        _plain(
            lambda e: (
                None if (name := _fd_directory(e)) is None else f"{e.process.container.id}:{name}"
            )
        ),
    )
    for name, reason in (
        ("fd.connected", "sendto/sendmsg on unconnected sockets are not observed"),
        ("fd.name_changed", "sendto/sendmsg on unconnected sockets are not observed"),
        ("fd.cproto", "service names of ports are not resolved"),
        ("fd.sproto", "service names of ports are not resolved"),
        ("fd.lproto", "service names of ports are not resolved"),
        ("fd.rproto", "service names of ports are not resolved"),
        ("fd.uid", "descriptor ids are not tracked"),
        ("fd.dev", "device numbers are not reported"),
        ("fd.dev.major", "device numbers are not reported"),
        ("fd.dev.minor", "device numbers are not reported"),
        ("fd.ino", "inode numbers are not reported"),
        ("fd.types", "descriptor tables are not tracked"),
        ("fd.is_upper_layer", "file layers are not resolved"),
        ("fd.is_lower_layer", "file layers are not resolved"),
        ("fdlist.names", "only single-descriptor calls are observed"),
        ("fdlist.nums", "only single-descriptor calls are observed"),
    ):
        add(name, s, name, unsupported=reason)

    # fs.path.*
    for which in ("name", "nameraw", "source", "target"):
        add(f"fs.path.{which}", s, f"path {which} of a file operation", _fs_path(which))
    for which in ("sourceraw", "targetraw"):
        add(f"fs.path.{which}", s, which, unsupported="raw paths of both ends are not reported")

    return {spec.name: spec for spec in specs}


FIELDS: Final[Mapping[str, FieldSpec]] = _catalogue()
"""Every Falco field the rules language knows, by name."""

_DYNAMIC_PREFIXES: Final = (("evt.arg.", "evt.arg"), ("evt.rawarg.", "evt.rawarg"))
_SUPPORTED_EVENT_ARGS: Final = frozenset(
    {
        "res",
        "exe",
        "args",
        "pid",
        "ptid",
        "cwd",
        "comm",
        "tty",
        "loginuid",
        "flags",
        "uid",
        "status",
        "fd",
        "name",
        "mode",
        "oldpath",
        "newpath",
        "target",
        "linkpath",
        "path",
        "filename",
        "tuple",
    }
)
"""The ``evt.arg.*`` names some event of ours carries (see :func:`event_args`)."""


def field_spec(name: str, arg: str | None = None) -> tuple[FieldSpec, str | None] | None:
    """The spec for a field as written in a condition, and its effective argument.

    ``evt.arg.flags`` is ``evt.arg`` with the argument ``flags``; ``evt.arg[0]`` is the
    positional form. None when the rules language does not know the field at all.
    """
    for prefix, base in _DYNAMIC_PREFIXES:
        if name.startswith(prefix) and arg is None:
            key = name[len(prefix) :]
            spec = FIELDS[base]
            if key not in _SUPPORTED_EVENT_ARGS:
                reason = f"no event of ours carries the argument {key!r}"
                return FieldSpec(spec.name, spec.type, spec.description, None, reason), key
            return spec, key
    if name == "evt.arg" and arg is not None:
        if arg.isdigit():
            return FIELDS["evt.arg[]"], arg
        return field_spec(f"evt.arg.{arg}")
    known = FIELDS.get(name)
    if known is None:
        return None
    return known, arg
