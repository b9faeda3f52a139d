"""The kernel's record of opens for writing: parsing, the real program on this kernel
(a shell in its own mount namespace), and the file sensor telling such opens as they
happen inside a runc container, with their flags and descriptor."""

from __future__ import annotations

import os
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.containers import RuncContainer, container_skip_reason, runc_container
from tests.support.sensors import Watcher, loaded

from stockade.runtime.sensors.files import FileSensor
from stockade.runtime.sensors.opens import (
    _HEADER,
    _PATH_AT,
    AT_FDCWD,
    RECORD_SIZE,
    OpenRecord,
    OpenRecorder,
    mount_namespace,
    parse_open,
)
from stockade.runtime.sensors.procconn import SensorUnavailable
from stockade.runtime.sensors.processes import ProcessTracker


def _raw(number: int, path: bytes, *, fd: int = 3, flags: int = os.O_WRONLY) -> bytes:
    header = _HEADER.pack(
        9 << 32 | 10, 77, flags, number, fd, 0o644, AT_FDCWD, 4026531840, len(path) + 1
    )
    return (header + path + b"\0").ljust(RECORD_SIZE, b"\0")


def test_a_record_reads_back() -> None:
    record = parse_open(_raw(257, b"../x.log", flags=os.O_WRONLY | os.O_TRUNC))
    assert record == OpenRecord(
        pid=9,
        tid=10,
        timestamp_ns=77,
        call="openat",
        fd=3,
        flags=os.O_WRONLY | os.O_TRUNC,
        mode=0o644,
        dirfd=AT_FDCWD,
        mount_namespace=4026531840,
        path="../x.log",
    )
    assert parse_open(_raw(85, b"/a")).call == "creat"  # type: ignore[union-attr]
    assert parse_open(_raw(437, b"/a")).call == "openat2"  # type: ignore[union-attr]


def test_unknown_calls_and_short_records_are_dropped() -> None:
    assert parse_open(_raw(0, b"/a")) is None  # read(2): not an open
    assert parse_open(b"") is None
    assert parse_open(b"\0" * (_PATH_AT - 1)) is None
    odd = bytearray(_raw(2, b"/a"))
    struct.pack_into("=i", odd, _PATH_AT - 20, -14)  # the path could not be read
    record = parse_open(bytes(odd))
    assert record is not None
    assert record.path == ""


def _records_until(recorder: OpenRecorder, count: int, namespace: int) -> list[OpenRecord]:
    found: list[OpenRecord] = []
    deadline = time.monotonic() + 10
    while len(found) < count and time.monotonic() < deadline:
        found += [r for r in recorder.records() if r.mount_namespace == namespace]
        time.sleep(0.02)
    return found


@pytest.mark.root
def test_opens_for_writing_in_a_watched_namespace_are_recorded(tmp_path: Path) -> None:
    """A shell in its own mount namespace waits for a line, then truncates one file,
    appends to another by a relative path, opens a third for writing, and reads: the
    writes are recorded, with their flags, descriptors and paths as written, and so is
    the read that climbs twice (``../../``); the other reads are not, and neither is a
    write from outside the namespace."""
    script = (
        "read go; : > a.log; echo x >> sub/../b.log; cat a.log sub/../a.log; exec 7> c.log; "
        "cat sub/x/../../a.log"
    )
    with loaded(OpenRecorder) as recorder:
        shell = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            text=True,
        )
        try:
            (tmp_path / "sub" / "x").mkdir(parents=True)
            deadline = time.monotonic() + 10
            while mount_namespace(shell.pid) == mount_namespace(os.getpid()):
                assert time.monotonic() < deadline, "unshare never entered its namespace"
                time.sleep(0.01)
            namespace = mount_namespace(shell.pid)
            assert namespace is not None
            assert recorder.watch(namespace)
            (tmp_path / "outside.log").write_text("not in the namespace")
            assert shell.stdin is not None
            shell.stdin.write("go\n")
            shell.stdin.close()
            assert shell.wait(timeout=10) == 0
        finally:
            shell.kill()
        mine = _records_until(recorder, 4, namespace)
        by_path = {r.path: r for r in mine}
        assert set(by_path) == {"a.log", "sub/../b.log", "c.log", "sub/x/../../a.log"}
        assert by_path["sub/x/../../a.log"].flags & os.O_ACCMODE == os.O_RDONLY
        truncated = by_path["a.log"]
        assert truncated.call == "openat"
        assert truncated.flags & (os.O_ACCMODE | os.O_TRUNC | os.O_CREAT) == (
            os.O_WRONLY | os.O_TRUNC | os.O_CREAT
        )
        assert truncated.dirfd == AT_FDCWD
        assert truncated.fd >= 0
        assert truncated.mount_namespace == namespace
        assert by_path["sub/../b.log"].flags & os.O_APPEND
        assert by_path["c.log"].fd >= 3
        assert not [r for r in recorder.records() if r.path.endswith("outside.log")]
        assert recorder.lost == 0
        recorder.forget(namespace)
        assert recorder.records_read >= 3


# -- the file sensor, in a real container -------------------------------------------------


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuncContainer, Watcher]]:
    if reason := container_skip_reason():
        pytest.skip(reason)
    recorder = loaded(OpenRecorder)
    tracker = ProcessTracker()
    try:
        sensor = FileSensor(tracker.lookup, opens=recorder)
    except SensorUnavailable as exc:
        recorder.close()
        pytest.skip(f"fanotify is unavailable: {exc}")
    watcher = Watcher(sensor)
    try:
        with runc_container(
            tmp_path_factory.mktemp("opens"), ["/bin/sh", "-c", "sleep 600"]
        ) as container:
            process = tracker.lookup(container.pid)
            assert process is not None
            assert sensor.watch(process.container, container.pid)
            yield container, watcher
    finally:
        watcher.close()
        recorder.close()


@pytest.mark.root
def test_a_write_outside_the_watched_lists_is_told_at_its_open(
    box: tuple[RuncContainer, Watcher],
) -> None:
    container, watcher = box
    done = container.exec(
        "/bin/sh", "-c", "mkdir -p /tmp/logs && cd /tmp && : > ./logs/../eg.log && sleep 1"
    )
    assert done.returncode == 0, done.stderr
    opened = watcher.wait_for(lambda e: e.path == "/tmp/eg.log")
    assert opened.type == "openat"
    assert opened.raw_path == "./logs/../eg.log"
    assert opened.flags & os.O_TRUNC
    assert opened.flags & os.O_ACCMODE == os.O_WRONLY
    assert opened.fd is not None
    assert opened.fd >= 0
    assert opened.process.exepath == "/bin/busybox"  # alive (sleeping): read from /proc
    assert not opened.process.container.is_host
    time.sleep(0.5)  # its close arrives too, and is not told again
    assert len([e for e in watcher.events if e.path == "/tmp/eg.log"]) == 1
    assert watcher.sensor.coalesced >= 1


@pytest.mark.root
def test_a_write_of_a_sensitive_file_is_told_once_by_its_waiting_opener(
    box: tuple[RuncContainer, Watcher],
) -> None:
    container, watcher = box
    if not watcher.sensor.permission:
        pytest.skip("this kernel has no fanotify permission events")
    done = container.exec(
        "/bin/sh", "-c", "cat /etc/shadow > /tmp/shadow.copy && cat /tmp/shadow.copy >> /etc/shadow"
    )
    assert done.returncode == 0, done.stderr
    written = watcher.wait_for(lambda e: e.path == "/etc/shadow")
    deadline = time.monotonic() + 10
    while not [e for e in watcher.events if e.path == "/etc/shadow" and e.flags & os.O_APPEND]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    appends = [e for e in watcher.events if e.path == "/etc/shadow" and e.flags & os.O_APPEND]
    assert len(appends) == 1  # by the permission path only, not again from the record
    del written


@pytest.mark.root
def test_a_read_that_climbs_out_twice_is_told_with_its_raw_path(
    box: tuple[RuncContainer, Watcher],
) -> None:
    container, watcher = box
    script = (
        "mkdir -p /tmp/a/b && echo k > /tmp/id_rsa && cat /tmp/a/b/../../id_rsa /tmp/a/../id_rsa"
    )
    done = container.exec("/bin/sh", "-c", script)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while not [e for e in watcher.events if e.raw_path == "/tmp/a/b/../../id_rsa"]:
        assert time.monotonic() < deadline, [(e.path, e.raw_path) for e in watcher.events]
        time.sleep(0.05)
    (climbing,) = [e for e in watcher.events if e.raw_path == "/tmp/a/b/../../id_rsa"]
    assert climbing.path == "/tmp/id_rsa"
    assert climbing.flags & os.O_ACCMODE == os.O_RDONLY
    assert climbing.fd is not None
    assert climbing.fd >= 0
    time.sleep(0.3)
    assert not [e for e in watcher.events if e.raw_path == "/tmp/a/../id_rsa"]  # once: not told
