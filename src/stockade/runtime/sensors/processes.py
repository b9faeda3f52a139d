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
import os
import pwd
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

from stockade.runtime.events import HOST, Container, Process, ProcessEvent
from stockade.runtime.sensors.containers import ContainerResolver, parse_cgroup_file
from stockade.runtime.sensors.procconn import ProcConnector, ProcEventKind, RawProcEvent
from stockade.runtime.sensors.procinfo import ProcSnapshot, read_process

__all__ = ["ProcessTracker", "watch"]

MAX_ANCESTORS: Final = 8
"""How far up a parent chain is kept on each process (Falco's rules look 7 levels up)."""
MAX_TRACKED: Final = 200_000


def _boot_time_ns(proc: Path) -> int:
    """Wall-clock time of the monotonic clock's zero: the proc connector stamps events
    with CLOCK_MONOTONIC, and events from every sensor are compared in wall time."""
    del proc
    return time.time_ns() - time.monotonic_ns()


class ProcessTracker:
    def __init__(
        self, *, proc: Path = Path("/proc"), containers: ContainerResolver | None = None
    ) -> None:
        self._proc = proc
        self.containers = containers or ContainerResolver(proc=proc)
        self._live: dict[int, Process] = {}
        self._numbers = itertools.count(1)
        self._boot_ns = _boot_time_ns(proc)
        self._users: dict[int, str | None] = {}
        self.vanished = 0
        """Execs whose process was gone before ``/proc`` could be read."""

    def known(self, pid: int) -> Process | None:
        return self._live.get(pid)

    def lookup(self, pid: int) -> Process | None:
        """What the tracker knows of ``pid``, else a fresh read of ``/proc``."""
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
            process = self._from_proc(raw.pid)
            if process is None:
                self.vanished += 1
                known = self._live.get(raw.pid)
                if known is None:
                    return None
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
                child = replace(
                    parent,
                    pid=raw.pid,
                    ppid=parent.pid,
                    vpid=None,
                    parent=_trim(parent, MAX_ANCESTORS - 1),
                    start_ts=self._boot_ns + raw.timestamp_ns,
                )
            self._remember(child)
            return self._event("clone", child, raw)
        if raw.kind is ProcEventKind.EXIT:
            if raw.pid != raw.tid:
                return None
            process = self._live.pop(raw.pid, None)
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

    def _prune(self) -> None:
        for pid in list(self._live):
            if not (self._proc / str(pid)).exists():
                del self._live[pid]

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = None
        return self._users[uid]

    def _from_proc(self, pid: int) -> Process | None:
        snapshot = read_process(pid, self._proc)
        if snapshot is None:
            return None
        parent = self._live.get(snapshot.ppid) if snapshot.ppid else None
        if parent is None and snapshot.ppid and snapshot.ppid != pid:
            parent_snapshot = read_process(snapshot.ppid, self._proc)
            if parent_snapshot is not None:
                parent = self._build(parent_snapshot, None)
        return self._build(snapshot, parent)

    def _build(self, snap: ProcSnapshot, parent: Process | None) -> Process:
        container: Container | None = HOST
        if snap.cgroup is not None:
            container = self.containers.resolve(
                snap.pid, cgroup_paths=parse_cgroup_file(snap.cgroup)
            )
        argv = snap.argv
        start = (
            self._boot_ns + int(snap.start_ticks * 1_000_000_000 / os.sysconf("SC_CLK_TCK"))
            if snap.start_ticks is not None
            else None
        )
        upper = bool(
            container is not None
            and not container.is_host
            and snap.exe_deleted is False
            and _in_upper_layer(self._proc, snap)
        )
        return Process(
            pid=snap.pid,
            name=snap.comm,
            exe=argv[0] if argv else snap.exepath,
            exepath=snap.exepath,
            args=argv[1:],
            cwd=snap.cwd,
            uid=snap.uid,
            user_name=self._user(snap.uid),
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
            parent=_trim(parent, MAX_ANCESTORS - 1) if parent is not None else None,
        )


def _in_upper_layer(proc: Path, snap: ProcSnapshot) -> bool:
    """Whether the executable was written after the container started: it lives in the
    overlay's upper (writable) layer. Without overlay (a plain bundle directory) the
    question is answered by the drift detector from file events instead."""
    try:
        mountinfo = (proc / str(snap.pid) / "mountinfo").read_text()
    except OSError:
        return False
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        mount_fields, super_fields = before.split(), after.split()
        if not sep or len(mount_fields) < 5 or len(super_fields) < 3:
            continue
        if mount_fields[4] == "/" and super_fields[0] == "overlay":
            for option in super_fields[2].split(","):
                if option.startswith("upperdir="):
                    return os.path.lexists(option.removeprefix("upperdir=") + snap.exepath)
            return False
    return False


def _trim(process: Process | None, depth: int) -> Process | None:
    """``process`` with its ancestor chain cut ``depth`` levels up (bounded memory)."""
    if process is None:
        return None
    if depth <= 0:
        return replace(process, parent=None) if process.parent is not None else process
    if process.parent is None:
        return process
    trimmed = _trim(process.parent, depth - 1)
    return process if trimmed is process.parent else replace(process, parent=trimmed)


def watch(
    tracker: ProcessTracker, connector: ProcConnector, *, timeout: float = 0.5
) -> Iterator[ProcessEvent]:
    """Process events from the kernel until ``connector`` is closed."""
    for raw in connector.events(timeout):
        event = tracker.handle(raw)
        if event is not None:
            yield event
