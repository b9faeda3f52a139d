"""Listening sockets and connections per process, from ``/proc/PID/net/{tcp,tcp6,udp,udp6}``.

Each network namespace is read once per poll through one of its processes, so a container
with its own namespace and the host are each one read. A socket seen for the first time
becomes an event: a ``LISTEN`` socket a ``listen``; a connection whose local port is not a
listening one a ``connect`` (outbound); one to a listening port an ``accept4`` (inbound).
The socket's owner is found through the inode in ``/proc/PID/fd`` (only for new sockets,
and only among the processes of that namespace).

Polling sees what lives at least one interval (default 0.2 s); connections opened and
closed between two polls are missed, unless the kernel records each ``connect``
(:mod:`.connects`, eBPF: outside the host's network namespace).
With a :class:`~.dns.DnsNames`, each namespace's DNS answers are read before its tables,
and a connection to an address that was looked up carries the name.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stockade.runtime.events import NetworkEvent, Process
from stockade.runtime.sensors.connects import ConnectRecord, ConnectRecorder
from stockade.runtime.sensors.dns import DnsNames
from stockade.runtime.sensors.procinfo import runs_other_program

__all__ = ["NetworkSensor", "SocketEntry", "parse_proc_net"]

OWNER_TRIES: Final = 5
_LISTEN: Final = "0A"
_CONNECTED: Final = frozenset({"01", "02", "03"})  # ESTABLISHED, SYN_SENT, SYN_RECV
_TABLES: Final = (("tcp", "tcp", 4), ("tcp6", "tcp", 6), ("udp", "udp", 4), ("udp6", "udp", 6))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class SocketEntry:
    proto: str
    family: int
    local_ip: IPAddress
    local_port: int
    remote_ip: IPAddress
    remote_port: int
    state: str
    inode: int


def _address(text: str, family: int) -> tuple[IPAddress, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if family == 4:
        address: IPAddress = ipaddress.IPv4Address(raw[::-1])
    else:  # four 32-bit words, each in host (little-endian) order
        address = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return address, int(port, 16)


def parse_proc_net(text: str, proto: str, family: int) -> list[SocketEntry]:
    """The sockets of one ``/proc/net/*`` table; malformed lines are skipped."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local_ip, local_port = _address(fields[1], family)
            remote_ip, remote_port = _address(fields[2], family)
            inode = int(fields[9])
        except ValueError:
            continue
        entries.append(
            SocketEntry(
                proto, family, local_ip, local_port, remote_ip, remote_port, fields[3], inode
            )
        )
    return entries


class NetworkSensor:
    """``poll()`` returns the events since the last poll. ``process_of(pid)`` gives the
    :class:`Process` for an owner pid (the process tracker's knowledge, or a fresh read);
    ``describe(pid)`` reads ``/proc`` first, for an owner that has executed another
    program since the tracker last heard of it (it may run behind)."""

    def __init__(
        self,
        process_of: Callable[[int], Process | None],
        *,
        describe: Callable[[int], Process | None] | None = None,
        proc: Path = Path("/proc"),
        pids: Callable[[], Iterable[int]] | None = None,
        names: DnsNames | None = None,
        connects: ConnectRecorder | None = None,
    ) -> None:
        self._process_of = process_of
        self.connects = connects
        """The kernel's record of each ``connect`` outside the host's network namespace
        (eBPF), when available: such connections are told even when they end between
        two polls."""
        self._describe_now = describe
        self.names = names
        """DNS names of the addresses connected to, where the resolver answers are seen."""
        self._proc = proc
        self._pids = pids or self._all_pids
        self._known: set[tuple[int, int]] = set()
        """(namespace inode, socket inode) already reported."""
        self._boot_ns = time.time_ns() - time.monotonic_ns()
        self._unowned: dict[tuple[int, int], int] = {}
        """New sockets whose owner was not found yet, and how many polls looked."""

    @property
    def waiting(self) -> int:
        """New sockets whose owner is still looked for."""
        return len(self._unowned)

    def _all_pids(self) -> list[int]:
        return [int(p.name) for p in self._proc.iterdir() if p.name.isdigit()]

    def prime(self) -> None:
        """Remember every current socket without reporting it (at start-up)."""
        self.poll(report=False)

    def poll(self, *, report: bool = True) -> list[NetworkEvent]:
        namespaces: dict[int, list[int]] = {}
        for pid in self._pids():
            try:
                ns = os.stat(self._proc / str(pid) / "ns" / "net").st_ino
            except OSError:
                continue
            namespaces.setdefault(ns, []).append(pid)
        if self.names is not None:
            for ns, members in namespaces.items():
                self.names.watch(ns, members[0])
            self.names.drain()  # the answers that came before these connections
            self.names.keep(set(namespaces))
        events: list[NetworkEvent] = []
        if self.connects is not None:
            events += self._recorded(self.connects.records(), report=report)
        alive: set[tuple[int, int]] = set()
        for ns, members in namespaces.items():
            entries = self._read_tables(members[0])
            listening = {(e.proto, e.local_port) for e in entries if e.state == _LISTEN}
            fresh = []
            for entry in entries:
                if entry.inode == 0:
                    continue
                key = (ns, entry.inode)
                alive.add(key)
                if key not in self._known:
                    fresh.append(entry)
            if not report:
                self._known.update((ns, e.inode) for e in fresh)
                continue
            if fresh:
                owners = self._owners({e.inode for e in fresh}, members)
                for entry in fresh:
                    key = (ns, entry.inode)
                    owner = owners.get(entry.inode)
                    if owner is None:
                        # its process may not have been visible yet: look again next poll,
                        # a few times, rather than lose the connection
                        tries = self._unowned.get(key, 0) + 1
                        self._unowned[key] = tries
                        if tries >= OWNER_TRIES:  # given up
                            self._known.add(key)
                            del self._unowned[key]
                        continue
                    self._known.add(key)
                    self._unowned.pop(key, None)
                    event = self._event(entry, owner, listening, ns)
                    if event is not None:
                        events.append(event)
        self._known &= alive
        self._unowned = {k: v for k, v in self._unowned.items() if k in alive}
        return events

    def _recorded(self, records: list[ConnectRecord], *, report: bool) -> list[NetworkEvent]:
        """The connections the kernel recorded, each told once: its socket is then known,
        and the tables' view of it (if it lives until the poll) is not told again."""
        events = []
        for record in records:
            key = (record.namespace, record.inode)
            if record.inode and key in self._known:
                continue
            if record.inode:
                self._known.add(key)
                self._unowned.pop(key, None)
            if not report:
                continue
            process = self._owner(record.pid)
            if process is None:
                continue
            events.append(
                NetworkEvent(
                    type="connect",
                    process=process,
                    family="ipv4" if record.family == 4 else "ipv6",
                    l4proto=record.proto or "tcp",
                    client_port=record.local_port or None,
                    server_ip=record.remote_ip,
                    server_port=record.remote_port,
                    server_name=(
                        self.names.name_of(record.namespace, record.remote_ip)
                        if self.names
                        else None
                    ),
                    ts=self._boot_ns + record.timestamp_ns,
                )
            )
        return events

    def _owner(self, pid: int) -> Process | None:
        """``pid`` as the tracker knows it, read again when it has executed another
        program since."""
        process = self._process_of(pid)
        if self._describe_now is not None and (
            process is None or runs_other_program(process, self._proc)
        ):
            process = self._describe_now(pid) or process
        return process

    def _read_tables(self, pid: int) -> list[SocketEntry]:
        entries: list[SocketEntry] = []
        for name, proto, family in _TABLES:
            try:
                text = (self._proc / str(pid) / "net" / name).read_text()
            except OSError:
                continue
            entries.extend(parse_proc_net(text, proto, family))
        return entries

    def _owners(self, inodes: set[int], pids: list[int]) -> dict[int, int]:
        wanted = {f"socket:[{inode}]": inode for inode in inodes}
        owners: dict[int, int] = {}
        for pid in pids:
            directory = self._proc / str(pid) / "fd"
            try:
                fds = os.listdir(directory)
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(directory / fd)
                except OSError:
                    continue
                inode = wanted.get(target)
                if inode is not None and inode not in owners:
                    owners[inode] = pid
            if len(owners) == len(wanted):
                break
        return owners

    def _event(
        self, entry: SocketEntry, owner: int, listening: set[tuple[str, int]], namespace: int
    ) -> NetworkEvent | None:
        process = self._owner(owner)
        if process is None:
            return None
        family = "ipv4" if entry.local_ip.version == 4 else "ipv6"
        if entry.state == _LISTEN or (entry.proto == "udp" and entry.remote_port == 0):
            if entry.proto == "udp" and entry.local_port == 0:
                return None
            return NetworkEvent(
                type="listen",
                process=process,
                family=family,
                l4proto=entry.proto,
                server_ip=entry.local_ip,
                server_port=entry.local_port,
                ts=_now(),
            )
        if entry.proto == "tcp" and entry.state not in _CONNECTED:
            return None
        inbound = (entry.proto, entry.local_port) in listening
        if inbound:
            return NetworkEvent(
                type="accept4",
                process=process,
                family=family,
                l4proto=entry.proto,
                client_ip=entry.remote_ip,
                client_port=entry.remote_port,
                server_ip=entry.local_ip,
                server_port=entry.local_port,
                ts=_now(),
            )
        return NetworkEvent(
            type="connect",
            process=process,
            family=family,
            l4proto=entry.proto,
            client_ip=entry.local_ip,
            client_port=entry.local_port,
            server_ip=entry.remote_ip,
            server_port=entry.remote_port,
            server_name=self.names.name_of(namespace, entry.remote_ip) if self.names else None,
            ts=_now(),
        )


def _now() -> int:
    return time.time_ns()
