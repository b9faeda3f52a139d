"""DNS names of the addresses processes connect to, from the resolver answers in each
network namespace.

For each network namespace the network sensor polls, a packet socket opened inside it
(``AF_PACKET``, cooked: from the network header on) receives the DNS answers that reach
or leave it over UDP: a classic BPF filter in the kernel passes only unfragmented UDP
datagrams from port 53, so nothing else is copied to the Defender. Each answer's ``A``
and ``AAAA`` records are remembered as the name that was asked for (the question, not
the end of a ``CNAME`` chain: what the program looked up). A connection to one of those
addresses from the same namespace then carries the name (``fd.sip.name``, and the
destination a model learns).

What this cannot see: answers over TCP, DNS over TLS or HTTPS, names from ``/etc/hosts``,
and answers before the namespace was first polled. An address that several names share
(a CDN's) carries the name looked up last. Malformed or hostile packets are counted and
dropped; nothing raises.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
import struct
import threading
from collections import OrderedDict
from typing import Final

import dns.message
import dns.rdatatype

__all__ = ["DnsNames", "answers_in_packet"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ETH_P_ALL: Final = 0x0003
_SO_ATTACH_FILTER: Final = 26
_CLONE_NEWNET: Final = 0x4000_0000
_MAX_NAMES: Final = 8192
_MAX_PACKET: Final = 65535
_MAX_PER_DRAIN: Final = 1024
"""Packets read from one namespace per drain; more wait (or the kernel drops them)."""

# struct sock_filter {code, jt, jf, k}: unfragmented UDP from port 53, IPv4 or IPv6 (no
# extension headers); the data of a cooked packet socket starts at the network header
_FILTER: Final = (
    (0x30, 0, 0, 0),  # 0  ldb [0]
    (0x74, 0, 0, 4),  # 1  rsh #4              A = IP version
    (0x15, 0, 7, 4),  # 2  jeq #4 ? 3 : 10
    (0x30, 0, 0, 9),  # 3  ldb [9]             protocol
    (0x15, 0, 11, 17),  # 4  jeq #17 ? 5 : drop
    (0x28, 0, 0, 6),  # 5  ldh [6]             flags and fragment offset
    (0x45, 9, 0, 0x1FFF),  # 6  jset #0x1fff ? drop : 7
    (0xB1, 0, 0, 0),  # 7  ldxb 4*([0]&0xf)    X = header length
    (0x48, 0, 0, 0),  # 8  ldh [x+0]           source port
    (0x15, 5, 6, 53),  # 9  jeq #53 ? accept : drop
    (0x15, 0, 5, 6),  # 10 jeq #6 ? 11 : drop
    (0x30, 0, 0, 6),  # 11 ldb [6]             next header
    (0x15, 0, 3, 17),  # 12 jeq #17 ? 13 : drop
    (0x28, 0, 0, 40),  # 13 ldh [40]            source port
    (0x15, 0, 1, 53),  # 14 jeq #53 ? accept : drop
    (0x06, 0, 0, _MAX_PACKET),  # 15 accept
    (0x06, 0, 0, 0),  # 16 drop
)

_libc = ctypes.CDLL(None, use_errno=True)


def answers_in_packet(packet: bytes) -> list[tuple[IPAddress, str]]:
    """The (address, name asked for) pairs of a DNS answer in an IPv4 or IPv6 packet
    (from its network header on); ``[]`` for anything else."""
    if len(packet) < 28:
        return []
    version = packet[0] >> 4
    if version == 4:
        start = (packet[0] & 0x0F) * 4
        if packet[9] != 17 or start < 20:
            return []
    elif version == 6:
        start = 40
        if packet[6] != 17:
            return []
    else:
        return []
    if len(packet) < start + 8 or struct.unpack_from("!H", packet, start)[0] != 53:
        return []
    return _answers(packet[start + 8 :])


def _answers(payload: bytes) -> list[tuple[IPAddress, str]]:
    try:
        message = dns.message.from_wire(payload)
    except Exception:  # hostile bytes from a container: any parse error is a drop
        return []
    if not message.flags & 0x8000 or len(message.question) != 1:  # not a response
        return []
    name = message.question[0].name.to_text(omit_final_dot=True).lower()
    found: list[tuple[IPAddress, str]] = []
    for rrset in message.answer:
        if rrset.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA):
            continue
        for record in rrset:
            with contextlib.suppress(ValueError):
                found.append((ipaddress.ip_address(record.address), name))
    return found


def _filtered_socket() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_ALL))
    try:
        program = (ctypes.c_ubyte * (8 * len(_FILTER))).from_buffer_copy(
            b"".join(struct.pack("=HBBI", *instruction) for instruction in _FILTER)
        )
        fprog = struct.pack("=HxxxxxxQ", len(_FILTER), ctypes.addressof(program))
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _socket_in(namespace: str) -> socket.socket:
    """A filtered packet socket inside the network namespace ``namespace`` (a
    ``/proc/PID/ns/net`` path). A network namespace is a thread's own: a short-lived
    thread enters it and opens the socket, which stays in it."""
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def enter_and_open() -> None:
        try:
            fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, os.strerror(code), namespace)
            finally:
                os.close(fd)
            made.append(_filtered_socket())
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=enter_and_open, name="stockade-dns-setns", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


class DnsNames:
    """Names per (network namespace, address), learned from DNS answers. ``watch`` a
    namespace once (through one of its processes); ``drain`` before reading what
    connected; ``name_of`` then. Needs ``CAP_NET_RAW`` and ``CAP_SYS_ADMIN`` (root);
    without them :attr:`available` is False and no name is ever known."""

    def __init__(self, *, max_names: int = _MAX_NAMES) -> None:
        self._sockets: dict[int, socket.socket] = {}
        self._failed: set[int] = set()
        self._names: OrderedDict[tuple[int, IPAddress], str] = OrderedDict()
        self._max = max_names
        self._own_namespace = _namespace_inode("self")
        self.available = True
        self.answers = 0
        """Addresses learned (each A or AAAA record of an answer)."""
        self.ignored = 0
        """Packets the filter passed that held no usable answer (malformed, a query)."""

    def watch(self, namespace: int, pid: int) -> bool:
        """Receive the DNS answers of ``namespace`` (the inode of ``pid``'s network
        namespace) from now on; False when that cannot be done."""
        if namespace in self._sockets:
            return True
        if not self.available or namespace in self._failed:
            return False
        try:
            if namespace == self._own_namespace:
                sock = _filtered_socket()
            else:
                sock = _socket_in(f"/proc/{pid}/ns/net")
        except PermissionError:
            self.available = False  # no CAP_NET_RAW: say so once, by this flag
            return False
        except OSError:
            self._failed.add(namespace)  # that namespace cannot be entered: not again
            return False
        self._sockets[namespace] = sock
        return True

    def drain(self) -> int:
        """Read the answers queued on every namespace's socket (up to 1,024 packets
        each); how many addresses were learned."""
        learned = 0
        for namespace, sock in list(self._sockets.items()):
            for _ in range(_MAX_PER_DRAIN):  # a flood of answers must not starve the poll
                try:
                    packet = sock.recv(_MAX_PACKET)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                found = answers_in_packet(packet)
                if not found:
                    self.ignored += 1
                for address, name in found:
                    key = (namespace, address)
                    self._names[key] = name
                    self._names.move_to_end(key)
                    learned += 1
            while len(self._names) > self._max:
                self._names.popitem(last=False)
        self.answers += learned
        return learned

    def name_of(self, namespace: int, address: IPAddress | None) -> str | None:
        if address is None:
            return None
        return self._names.get((namespace, address))

    def keep(self, namespaces: set[int]) -> None:
        """Close the sockets of namespaces that are gone, and forget their names."""
        self._failed &= namespaces
        for namespace in [n for n in self._sockets if n not in namespaces]:
            self._sockets.pop(namespace).close()
            for key in [k for k in self._names if k[0] == namespace]:
                del self._names[key]

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


def _namespace_inode(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
