"""DNS names for the addresses processes connect to: answers parsed from packets as the
kernel hands them over, then a real resolver exchange and connection inside a network
namespace of their own, named by the network sensor."""

from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time

import dns.message
import dns.rrset
import pytest

from stockade.runtime.sensors.dns import DnsNames, answers_in_packet
from stockade.runtime.sensors.network import NetworkSensor
from stockade.runtime.sensors.processes import ProcessTracker


def _answer(name: str, *addresses: str) -> bytes:
    response = dns.message.make_response(dns.message.make_query(name, "A"))
    response.answer.append(dns.rrset.from_text(f"{name}.", 300, "IN", "A", *addresses))
    return response.to_wire()


def _ipv4_udp(payload: bytes, source_port: int = 53) -> bytes:
    udp = struct.pack("!HHHH", source_port, 40000, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes(4), bytes(4)
    )
    return header + udp


def _ipv6_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 53, 40000, 8 + len(payload), 0) + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, bytes(16), bytes(16)) + udp


def test_answers_name_their_addresses_by_the_name_asked_for() -> None:
    plain = _answer("api.example.test", "192.0.2.7", "192.0.2.8")
    assert sorted(answers_in_packet(_ipv4_udp(plain))) == [
        (ipaddress.IPv4Address("192.0.2.7"), "api.example.test"),
        (ipaddress.IPv4Address("192.0.2.8"), "api.example.test"),
    ]
    # a CNAME chain: the address is named by what the program looked up
    chained = dns.message.make_response(dns.message.make_query("www.example.test", "AAAA"))
    chained.answer.append(
        dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "edge.cdn.test.")
    )
    chained.answer.append(dns.rrset.from_text("edge.cdn.test.", 60, "IN", "AAAA", "2001:db8::5"))
    assert answers_in_packet(_ipv6_udp(chained.to_wire())) == [
        (ipaddress.IPv6Address("2001:db8::5"), "www.example.test")
    ]


def test_anything_but_an_answer_is_nothing() -> None:
    query = dns.message.make_query("api.example.test", "A").to_wire()
    plain = _answer("api.example.test", "192.0.2.7")
    assert answers_in_packet(_ipv4_udp(query)) == []  # a question, not an answer
    assert answers_in_packet(_ipv4_udp(plain, source_port=5353)) == []
    assert answers_in_packet(_ipv4_udp(plain[:20])) == []  # cut short
    assert answers_in_packet(_ipv4_udp(os.urandom(200))) == []
    assert answers_in_packet(b"\x45" + bytes(10)) == []
    assert answers_in_packet(b"\x10" * 60) == []  # neither IPv4 nor IPv6


PEER = textwrap.dedent(
    """
    import socket, subprocess, sys
    import dns.message, dns.rrset
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    listener = socket.create_server(("127.0.0.7", 8080))
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 53))
    print("ready", flush=True)
    sys.stdin.readline()
    noise = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    noise.sendto(b"not dns" * 8, ("127.0.0.1", 9999))  # no answer: the filter drops it
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.sendto(dns.message.make_query("api.example.test", "A").to_wire(), ("127.0.0.1", 53))
    data, peer = server.recvfrom(4096)
    response = dns.message.make_response(dns.message.from_wire(data))
    response.answer.append(
        dns.rrset.from_text("api.example.test.", 300, "IN", "A", "127.0.0.7")
    )
    server.sendto(response.to_wire(), peer)
    address = dns.message.from_wire(client.recv(4096)).answer[0][0].address
    connection = socket.create_connection((address, 8080))
    print(connection.getsockname()[1], flush=True)
    sys.stdin.readline()
    """
)


@pytest.mark.root
def test_a_connection_carries_the_name_its_process_resolved() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a network namespace, and a packet socket inside it")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    names = DnsNames()
    sensor = NetworkSensor(ProcessTracker().lookup, names=names)
    peer = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", PEER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdin is not None
        assert peer.stdout is not None
        assert peer.stdout.readline().strip() == "ready"
        sensor.prime()  # the namespace is watched from here on
        assert names.available
        peer.stdin.write("go\n")
        peer.stdin.flush()
        client_port = int(peer.stdout.readline())
        deadline = time.monotonic() + 10
        found = []
        while not found:
            assert time.monotonic() < deadline, "the connection was never told"
            found = [
                e for e in sensor.poll() if e.type == "connect" and e.client_port == client_port
            ]
            time.sleep(0.05)
        (connection,) = found
        assert connection.server_ip == ipaddress.IPv4Address("127.0.0.7")
        assert connection.server_name == "api.example.test"
        assert names.answers >= 1
        assert names.ignored == 0  # the query and the other datagram never left the kernel
        peer.stdin.write("done\n")
        peer.stdin.flush()
    finally:
        peer.kill()
        peer.wait()
        for stream in (peer.stdin, peer.stdout):
            if stream is not None:
                stream.close()
        names.close()
