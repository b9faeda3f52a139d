"""The kernel's record of connects outside the host's network namespace: parsing, the
real programs (a client in its own namespace), and the network sensor telling a
connection that ended between two polls, once."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import subprocess
import sys
import time

import pytest
from tests.support.sensors import loaded

from stockade.runtime.sensors.connects import (
    _HEADER,
    RECORD_SIZE,
    ConnectRecord,
    ConnectRecorder,
    parse_connect,
)
from stockade.runtime.sensors.network import NetworkSensor
from stockade.runtime.sensors.processes import ProcessTracker


def _raw(address: bytes, *, kind: int = socket.SOCK_STREAM) -> bytes:
    return _HEADER.pack(7 << 32 | 8, 99, 1234, 4026532000, 3, 0, kind, 40000, address)


def test_records_read_back_for_both_families() -> None:
    v4 = struct.pack("=H", socket.AF_INET) + struct.pack(">H", 443) + bytes([10, 0, 0, 1])
    record = parse_connect(_raw(v4.ljust(28, b"\0")))
    assert record == ConnectRecord(
        pid=7,
        tid=8,
        timestamp_ns=99,
        namespace=4026532000,
        fd=3,
        result=0,
        proto="tcp",
        local_port=40000,
        inode=1234,
        family=4,
        remote_ip=ipaddress.IPv4Address("10.0.0.1"),
        remote_port=443,
    )
    mapped = ipaddress.IPv6Address("::ffff:192.0.2.7").packed
    v6 = struct.pack("=H", socket.AF_INET6) + struct.pack(">H", 53) + b"\0" * 4 + mapped
    udp = parse_connect(_raw(v6.ljust(28, b"\0"), kind=socket.SOCK_DGRAM))
    assert udp is not None
    assert (udp.proto, udp.family, str(udp.remote_ip), udp.remote_port) == (
        "udp",
        4,
        "192.0.2.7",
        53,
    )


def test_other_families_and_short_records_are_dropped() -> None:
    unix = struct.pack("=H", socket.AF_UNIX).ljust(28, b"/")
    assert parse_connect(_raw(unix)) is None
    assert parse_connect(b"\0" * (RECORD_SIZE - 1)) is None


CLIENT = """
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
client = socket.create_connection(("127.0.0.1", port))
client.close()                       # over long before any poll
held = socket.create_connection(("127.0.0.1", port))
print(port, flush=True)
sys.stdin.readline()                 # held until the test is done
"""


def _client() -> tuple[subprocess.Popen[str], int]:
    client = subprocess.Popen(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            f"ip link set lo up && exec {sys.executable} -c '{CLIENT}'",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    return client, int(client.stdout.readline())


@pytest.mark.root
def test_connects_in_another_network_namespace_are_recorded() -> None:
    with loaded(ConnectRecorder) as recorder:
        client, port = _client()
        try:
            with socket.socket() as outside:
                outside.bind(("127.0.0.1", 0))
                outside.listen()
                socket.create_connection(outside.getsockname()).close()  # the host's
                host_port = outside.getsockname()[1]
            records = [r for r in recorder.records() if r.remote_port in (port, host_port)]
            assert len(records) == 2  # the host's connection is not recorded
            for record in records:
                assert record.remote_port == port
                assert record.proto == "tcp"
                assert record.result == 0
                assert record.inode > 0
                assert record.local_port > 0
                assert str(record.remote_ip) == "127.0.0.1"
                assert record.namespace == os.stat(f"/proc/{client.pid}/ns/net").st_ino
            assert records[0].inode != records[1].inode
            assert recorder.lost == 0
        finally:
            client.kill()
            client.communicate()  # reaped, its pipes closed


@pytest.mark.root
def test_a_connection_over_before_the_poll_is_told_once() -> None:
    with loaded(ConnectRecorder) as recorder:
        client, port = _client()
        try:
            tracker = ProcessTracker()
            sensor = NetworkSensor(tracker.lookup, connects=recorder)
            events = sensor.poll() + sensor.poll()
            mine = [e for e in events if e.type == "connect" and e.server_port == port]
            # the closed one (only the record saw it) and the held one: each once
            assert len(mine) == 2, mine
            assert {e.process.pid for e in mine} == {client.pid}
            assert all(e.l4proto == "tcp" and e.client_port for e in mine)
            time.sleep(0.1)
            assert not [e for e in sensor.poll() if e.server_port == port]
        finally:
            client.kill()
            client.communicate()  # reaped, its pipes closed
