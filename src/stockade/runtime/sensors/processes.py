"""Process events as the rules and models see them: the proc connector's exec, fork and
exit, enriched from ``/proc`` at once, with the parent chain and the container.

:class:`ProcessTracker` keeps what it learned about each live process (so an exit can be
reported with what ran, after ``/proc/PID`` is gone, and so parents are known without
re-reading them), and turns each :class:`~.procconn.RawProcEvent` into a
:class:`~stockade.runtime.events.ProcessEvent`. It is fed events, not sockets: tests give
it recorded ones; :func:`watch` connects it to the kernel.
"""

from __future__ import annotations

import itertools
import operator
import os
import posixpath
import pwd
import select
import stat as stat_module
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Final

from stockade.runtime.events import HOST, Container, Process, ProcessEvent
from stockade.runtime.sensors.containers import ContainerResolver, parse_cgroup_file
from stockade.runtime.sensors.execs import ExecRecord, ExecRecorder
from stockade.runtime.sensors.procconn import ProcConnector, ProcEventKind, RawProcEvent
from stockade.runtime.sensors.procinfo import ProcSnapshot, read_process, runs_other_program

__all__ = ["ProcessTracker", "watch"]

MAX_ANCESTORS: Final = 8
"""How far up a parent chain is kept on each process (Falco's rules look 7 levels up)."""
MAX_TRACKED: Final = 200_000
_NS_PER_TICK: Final = 1_000_000_000 / os.sysconf("SC_CLK_TCK")
MAX_CONTAINER_DATABASES: Final = 4_096
"""Containers whose account database is kept parsed at once."""


def _inside_uid(proc: Path, pid: int, uid: int) -> int:
    """``uid`` (as this namespace sees it) as the process's user namespace sees it: the
    same without a user namespace (an identity map, or none readable)."""
    try:
        with open(f"{proc}/{pid}/uid_map", "rb") as mapping:
            text = mapping.read(65536)
    except OSError:
        return uid
    for line in text.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            inside, outside, count = (int(p) for p in parts)
            if outside <= uid < outside + count:
                return uid - outside + inside
    return uid


def _boot_time_ns(proc: Path) -> int:
    """Wall-clock time of the monotonic clock's zero: the proc connector stamps events
    with CLOCK_MONOTONIC, and events from every sensor are compared in wall time."""
    del proc
    return time.time_ns() - time.monotonic_ns()


class ProcessTracker:
    def __init__(
        self,
        *,
        proc: Path = Path("/proc"),
        containers: ContainerResolver | None = None,
        execs: ExecRecorder | None = None,
    ) -> None:
        self._proc = proc
        self.execs = execs
        """What the kernel recorded at each exec (an eBPF program), for processes gone
        before ``/proc`` could be read; None where eBPF is not available."""
        self.containers = containers or ContainerResolver(proc=proc)
        self._live: dict[int, Process] = {}
        self._numbers = itertools.count(1)
        self._boot_ns = _boot_time_ns(proc)
        self._users: dict[int, str | None] = {}
        self._container_users: dict[str, tuple[tuple[int, int, int], dict[int, str]]] = {}
        """Per container: its ``/etc/passwd``'s identity (device, inode, mtime) and the
        names it gives, read through a process's root (see :meth:`_user_in`)."""
        self._upper_dirs: dict[str, str] = {}
        """Each container's overlay upper layer, once a process showed it."""
        self._parents: dict[int, tuple[Process, Process]] = {}
        """Per pid: the process as known, and as a parent (see :meth:`_as_parent`)."""
        self._resolved: dict[tuple[str, str], str] = {}
        """Per container and path executed: the path with its symbolic links resolved."""
        self.vanished = 0
        """Execs whose process was gone before ``/proc`` could be read."""
        self.from_records = 0
        """Execs described from the kernel's exec record (gone, or executed again, before
        ``/proc`` could be read)."""

    def known(self, pid: int) -> Process | None:
        return self._live.get(pid)

    def lookup(self, pid: int, *, fresh: bool = False) -> Process | None:
        """What the tracker knows of ``pid``, else a fresh read of ``/proc``; with
        ``fresh``, ``/proc`` first (what the tracker knows may predate an exec it has not
        handled yet), then what it knows."""
        if fresh:
            return self._from_proc(pid, fresh_parent=True) or self._live.get(pid)
        return self._live.get(pid) or self._from_proc(pid)

    def seed(self) -> int:
        """Learn the processes already running (at start), parents first; how many."""
        pids = sorted(int(p.name) for p in self._proc.iterdir() if p.name.isdigit())
        for pid in pids:
            if pid not in self._live:
                process = self._from_proc(pid)
                if process is not None:
                    self._remember(process)
        return len(self._live)

    def handle(self, raw: RawProcEvent) -> ProcessEvent | None:
        """The event for ``raw``; None for kinds the rules do not use, or thread events."""
        if raw.kind is ProcEventKind.EXEC:
            record = self.execs.take(raw.pid, raw.timestamp_ns) if self.execs else None
            process = self._from_proc(raw.pid)
            if process is None:
                self.vanished += 1
            elif record is not None:
                if not _runs(process, record):
                    process = None  # /proc shows a later exec of the same process
                elif not process.name:  # gone between two reads of /proc
                    process = replace(process, name=record.comm)
            if process is None:
                known = self._live.get(raw.pid)
                if record is not None:
                    process = self._from_record(record, known)
                    self.from_records += 1
                elif known is None:
                    return None
                else:
                    process = known
            self._remember(process)
            return self._event("execve", process, raw)
        if raw.kind is ProcEventKind.FORK:
            if raw.pid != raw.tid:
                return None  # a new thread, not a new process
            parent = self._live.get(raw.parent_pid) or self._from_proc(raw.parent_pid)
            if parent is None:
                child = self._from_proc(raw.pid)
                if child is None:
                    return None
            else:
                child = _forked(
                    parent, raw.pid, self._as_parent(parent), self._boot_ns + raw.timestamp_ns
                )
            self._remember(child)
            return self._event("clone", child, raw)
        if raw.kind is ProcEventKind.EXIT:
            if raw.pid != raw.tid:
                return None
            process = self._live.pop(raw.pid, None)
            self._parents.pop(raw.pid, None)
            if process is None:
                return None
            return self._event("procexit", process, raw, res=raw.exit_code)
        if raw.kind is ProcEventKind.COMM:
            known = self._live.get(raw.pid)
            if known is not None and raw.comm:
                self._live[raw.pid] = replace(known, name=raw.comm)
        return None

    def _event(
        self, kind: str, process: Process, raw: RawProcEvent, *, res: int = 0
    ) -> ProcessEvent:
        return ProcessEvent(
            type=kind,
            process=process,
            ts=self._boot_ns + raw.timestamp_ns,
            num=next(self._numbers),
            res=res,
        )

    def _remember(self, process: Process) -> None:
        if len(self._live) >= MAX_TRACKED:
            self._prune()
        self._live[process.pid] = process

    def _as_parent(self, parent: Process) -> Process:
        """``parent`` with its chain cut so that a child's stays within
        :data:`MAX_ANCESTORS`; computed once per parent, not once per child (cutting the
        far end of a chain copies every link below it, and a shell loop or a server
        starts many children of one parent)."""
        cached = self._parents.get(parent.pid)
        if cached is not None and cached[0] is parent:
            return cached[1]
        trimmed = _trim(parent, MAX_ANCESTORS - 1)
        assert trimmed is not None  # noqa: S101 - narrowing: parent is not None
        if len(self._parents) >= MAX_TRACKED:
            self._parents.clear()
        self._parents[parent.pid] = (parent, trimmed)
        return trimmed

    def _prune(self) -> None:
        for pid in list(self._live):
            if not (self._proc / str(pid)).exists():
                del self._live[pid]

    def _user_in(self, uid: int | None, container: Container | None, pid: int) -> str | None:
        """The name ``uid`` has where the process runs: in a container, by the
        container's own account database (``/proc/PID/root/etc/passwd``, user namespace
        mapping applied), as Falco names it; on the host, or in a container that has no
        readable ``/etc/passwd``, by the host's. A uid the container's database does not
        list has no name."""
        if uid is None or container is None or container.is_host:
            return self._user(uid)
        names = self._names_in(container.id, pid)
        if names is None:
            return self._user(uid)
        return names.get(_inside_uid(self._proc, pid, uid))

    def _names_in(self, container_id: str, pid: int) -> dict[int, str] | None:
        # The container owns these files: its /etc or /etc/passwd may be a symlink, which
        # through /proc/PID/root would resolve against our (the host's) root, or a FIFO
        # that blocks an open. Neither is followed or waited on: no names from it.
        etc = f"{self._proc}/{pid}/root/etc"
        try:
            if stat_module.S_ISLNK(os.lstat(etc).st_mode):
                return None
            fd = os.open(f"{etc}/passwd", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            stat = os.fstat(fd)
            if not stat_module.S_ISREG(stat.st_mode):
                return None
            key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
            known = self._container_users.get(container_id)
            if known is not None and known[0] == key:
                return known[1]
            text = os.read(fd, 4 * 1024 * 1024)
        except OSError:
            return None
        finally:
            os.close(fd)
        names: dict[int, str] = {}
        for line in text.decode("utf-8", "replace").splitlines():
            fields_ = line.split(":")
            if len(fields_) >= 3 and fields_[2].isdigit() and fields_[0]:
                names.setdefault(int(fields_[2]), fields_[0])
        if len(self._container_users) >= MAX_CONTAINER_DATABASES:
            self._container_users.clear()
        self._container_users[container_id] = (key, names)
        return names

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = None
        return self._users[uid]

    def _from_proc(self, pid: int, *, fresh_parent: bool = False) -> Process | None:
        """``pid`` read from ``/proc`` now, with what is known of its parents. With
        ``fresh_parent``, a parent known from before an exec not handled yet (``timeout``
        forked from a shell is still that shell here) is read from ``/proc`` too: Falco's
        ``proc.pname`` must name what the parent runs now."""
        snapshot = read_process(pid, self._proc)
        if snapshot is None:
            return None
        parent = self._live.get(snapshot.ppid) if snapshot.ppid else None
        if parent is not None and fresh_parent and runs_other_program(parent, self._proc):
            parent = None
        if parent is None and snapshot.ppid and snapshot.ppid != pid:
            parent_snapshot = read_process(snapshot.ppid, self._proc)
            if parent_snapshot is not None:
                grandparent = (
                    self._live.get(parent_snapshot.ppid)
                    if fresh_parent and parent_snapshot.ppid
                    else None
                )
                parent = self._build(parent_snapshot, grandparent)
        return self._build(snapshot, parent)

    def _build(self, snap: ProcSnapshot, parent: Process | None) -> Process:
        container: Container | None = HOST
        if snap.cgroup is not None:
            container = self.containers.resolve(
                snap.pid, cgroup_paths=parse_cgroup_file(snap.cgroup)
            )
        argv = snap.argv
        start = (
            self._boot_ns + int(snap.start_ticks * _NS_PER_TICK)
            if snap.start_ticks is not None
            else None
        )
        upper = bool(
            container is not None
            and not container.is_host
            and snap.exe_deleted is False
            and snap.exepath
            and self._in_upper_layer(container.id, snap.pid, snap.exepath)
        )
        return Process(
            pid=snap.pid,
            name=snap.comm,
            exe=argv[0] if argv else snap.exepath,
            exepath=snap.exepath,
            args=argv[1:],
            cwd=snap.cwd,
            uid=snap.uid,
            user_name=self._user_in(snap.uid, container, snap.pid),
            gid=snap.gid,
            loginuid=snap.loginuid,
            tty=snap.tty,
            ppid=snap.ppid,
            sid=snap.sid,
            vpid=snap.vpid,
            vpgid=snap.vpgid,
            start_ts=start,
            exe_upper_layer=upper,
            exe_lower_layer=not upper and container is not None and not container.is_host,
            exe_from_memfd=snap.exe_from_memfd,
            exe_ino=snap.exe_ino,
            exe_ino_ctime=snap.exe_ctime_ns,
            stdio=snap.stdio,
            cap_effective=snap.cap_effective,
            cap_permitted=snap.cap_permitted,
            cap_inheritable=snap.cap_inheritable,
            container=container or HOST,
            parent=self._as_parent(parent) if parent is not None else None,
        )

    def _in_upper_layer(self, container_id: str, pid: int, exepath: str) -> bool:
        """Whether the executable was written after the container started: it lives in
        the overlay's upper (writable) layer. Without overlay (a plain bundle directory)
        the question is answered by the drift detector from file events instead. The
        upper layer found in a process's mountinfo is kept per container (parsing
        mountinfo at every exec was a hot spot); a process that shows no overlay root
        (a runtime's init before ``pivot_root``) settles nothing."""
        upper = self._upper_dirs.get(container_id)
        if upper is None:
            try:
                mountinfo = (self._proc / str(pid) / "mountinfo").read_text()
            except OSError:
                return False
            upper = _root_upper_dir(mountinfo)
            if upper is None:
                return False
            if len(self._upper_dirs) > 4096:
                self._upper_dirs.clear()
            self._upper_dirs[container_id] = upper
        return os.path.lexists(upper + exepath)

    def _from_record(self, record: ExecRecord, known: Process | None) -> Process:
        """The process of an exec the kernel recorded, when ``/proc`` could not show it:
        the program, command line, ids and parent from the record; the working
        directory, session, terminal, login and capabilities from what the process was
        before the exec (``known``: as forked, or as it ran before), which an exec
        keeps; the container from it or from the parent. Descriptors 0-2 are not known
        (a shell may have redirected them between fork and exec)."""
        parent = self._live.get(record.ppid) if record.ppid else None
        if parent is None and record.ppid:
            parent = self._from_proc(record.ppid)
        before = known if known is not None else parent
        container = before.container if before is not None else HOST
        exepath = self._resolve(record.filename, container, record.ppid, before)
        upper = bool(
            not container.is_host
            and exepath.startswith("/")
            and record.ppid
            and self._in_upper_layer(container.id, record.ppid, exepath)
        )
        return Process(
            pid=record.pid,
            name=record.comm,
            exe=record.argv[0] if record.argv else record.filename,
            exepath=exepath,
            args=record.argv[1:],
            cwd=before.cwd if before is not None else None,
            uid=record.uid,
            user_name=self._user_in(record.uid, container, record.ppid or record.pid),
            gid=record.gid,
            loginuid=before.loginuid if before is not None else -1,
            tty=before.tty if before is not None else 0,
            ppid=record.ppid,
            sid=before.sid if before is not None else None,
            vpgid=known.vpgid if known is not None else None,
            start_ts=(
                known.start_ts
                if known is not None and known.start_ts is not None
                else self._boot_ns + record.timestamp_ns
            ),
            exe_upper_layer=upper,
            exe_lower_layer=not upper and not container.is_host,
            cap_effective=before.cap_effective if before is not None else None,
            cap_permitted=before.cap_permitted if before is not None else None,
            cap_inheritable=before.cap_inheritable if before is not None else None,
            container=container,
            parent=self._as_parent(parent) if parent is not None else None,
        )

    def _resolve(self, path: str, container: Container, ppid: int, before: Process | None) -> str:
        """``path`` as ``/proc/PID/exe`` would name it: made absolute with the working
        directory, symbolic links resolved inside the process's root (seen through its
        parent's, which it shares unless it changed it). Kept per container."""
        if not path.startswith("/"):
            if before is None or not before.cwd:
                return path
            path = posixpath.join(before.cwd, path)
        key = (container.id, path)
        resolved = self._resolved.get(key)
        if resolved is None:
            resolved = resolve_in_root(f"{self._proc}/{ppid}/root" if ppid else "/", path)
            if len(self._resolved) >= MAX_TRACKED:
                self._resolved.clear()
            self._resolved[key] = resolved
        return resolved


def resolve_in_root(root: str, path: str) -> str:
    """The absolute ``path`` with ``.``, ``..`` and symbolic links resolved as a process
    whose root directory is ``root`` sees them (an absolute link starts again from
    ``root``, never from the host's ``/``); components that do not exist are kept as they
    are, and a loop of links leaves ``path`` unresolved."""
    pending = [part for part in reversed(path.split("/")) if part not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        here = "/" + "/".join((*resolved, part))
        try:
            target = os.readlink(root.rstrip("/") + here)
        except OSError:  # not a link, or not there
            resolved.append(part)
            continue
        links += 1
        if links > 40:
            return path
        if target.startswith("/"):
            resolved = []
        pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return "/" + "/".join(resolved)


def _runs(process: Process, record: ExecRecord) -> bool:
    """Whether ``process`` as read from ``/proc`` runs the command line ``record``
    recorded (else it executed again before it was read)."""
    argv = (process.exe, *process.args)
    if record.argv_truncated:
        return argv[: len(record.argv) - 1] == record.argv[:-1]
    return argv == record.argv or not record.argv


def _root_upper_dir(mountinfo: str) -> str | None:
    """The upper directory of the overlay mounted at ``/``, if ``/`` is an overlay."""
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        mount_fields, super_fields = before.split(), after.split()
        if not sep or len(mount_fields) < 5 or len(super_fields) < 3:
            continue
        if mount_fields[4] == "/" and super_fields[0] == "overlay":
            for option in super_fields[2].split(","):
                if option.startswith("upperdir="):
                    return option.removeprefix("upperdir=")
            return None
    return None


_PROCESS_FIELDS: Final = tuple(f.name for f in fields(Process))
_process_values: Final = operator.attrgetter(*_PROCESS_FIELDS)
_PID, _PPID, _VPID, _PARENT, _START = (
    _PROCESS_FIELDS.index(name) for name in ("pid", "ppid", "vpid", "parent", "start_ts")
)


def _forked(parent: Process, pid: int, as_parent: Process, start_ts: int) -> Process:
    """A new process forked from ``parent``: the same program until it executes one.
    (``dataclasses.replace`` did this at twice the cost, once per fork.)"""
    values = list(_process_values(parent))
    values[_PID], values[_PPID], values[_VPID] = pid, parent.pid, None
    values[_PARENT], values[_START] = as_parent, start_ts
    return Process(*values)


def _trim(process: Process | None, depth: int) -> Process | None:
    """``process`` with its ancestor chain cut ``depth`` levels up (bounded memory)."""
    if process is None:
        return None
    chain, current = 0, process.parent
    while current is not None and chain <= depth:
        chain, current = chain + 1, current.parent
    if chain <= depth:
        return process  # short enough: nothing to copy
    return _cut(process, depth)


def _cut(process: Process, depth: int) -> Process:
    if depth <= 0:
        return replace(process, parent=None) if process.parent is not None else process
    if process.parent is None:
        return process
    trimmed = _cut(process.parent, depth - 1)
    return process if trimmed is process.parent else replace(process, parent=trimmed)


def watch(
    tracker: ProcessTracker, connector: ProcConnector, *, timeout: float = 0.5, batch: int = 256
) -> Iterator[ProcessEvent]:
    """Process events from the kernel until ``connector`` is closed.

    What the kernel has queued is taken in batches (up to ``batch`` events) and every
    event of a batch is read from ``/proc`` before the first is handed on: the reads
    happen as close to the exec as the sensor can manage, instead of each waiting for
    the judgement of the events before it (a process that exits first is known only by
    its pid)."""
    ready = select.poll()
    ready.register(connector.fileno(), select.POLLIN)
    while connector.fileno() >= 0:
        try:
            raws = connector.read(timeout)
            while raws and len(raws) < batch and ready.poll(0):
                raws.extend(connector.read(None))
        except OSError:
            if connector.fileno() < 0:
                return  # closed while reading
            raise
        events = [tracker.handle(raw) for raw in raws]
        yield from (event for event in events if event is not None)
