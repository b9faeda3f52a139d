"""The kernel's exec records: parsing, resolving a path inside a root, the real program
on this kernel, and the process tracker describing processes gone before ``/proc``
could be read from them."""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import pytest
from tests.support.sensors import loaded

from stockade.runtime.sensors.execs import (
    _ARGS_AT,
    _FILENAME_AT,
    _HEADER,
    ARGS_MAX,
    FILENAME_MAX,
    RECORD_SIZE,
    ExecRecorder,
    parse_record,
)
from stockade.runtime.sensors.procconn import ProcConnector, ProcEventKind, RawProcEvent
from stockade.runtime.sensors.processes import ProcessTracker, resolve_in_root


def _record(pid: int, argv: bytes, *, name: bytes = b"/bin/sh", ts: int = 5) -> bytes:
    header = _HEADER.pack(
        pid << 32 | pid, 7 << 32 | 1000, ts, 42, 1, b"sh\0", len(name) + 1, len(argv)
    )
    body = name.ljust(FILENAME_MAX, b"\0") + argv[:ARGS_MAX]
    return (header + body).ljust(RECORD_SIZE, b"\0")


def test_a_record_reads_back_with_its_command_line() -> None:
    record = parse_record(_record(31, b"sh\0-c\0echo \xff\0\0"))
    assert record is not None
    assert (record.pid, record.tid, record.ppid, record.uid, record.gid) == (31, 31, 1, 1000, 7)
    assert record.comm == "sh"
    assert record.filename == "/bin/sh"
    assert record.argv == ("sh", "-c", "echo \udcff", "")  # the empty last argument stays
    assert not record.argv_truncated
    assert record.cgroup_id == 42


def test_a_command_line_longer_than_the_record_is_marked_truncated() -> None:
    record = parse_record(_record(8, b"x" * (ARGS_MAX + 100)))
    assert record is not None
    assert record.argv_truncated
    assert len(record.argv[0]) == ARGS_MAX


def test_short_or_odd_records_do_not_raise() -> None:
    assert parse_record(b"") is None
    assert parse_record(b"\0" * (_ARGS_AT - 1)) is None
    odd = bytearray(_record(3, b"a\0"))
    struct.pack_into("=ii", odd, _FILENAME_AT - 8, -14, -14)  # the kernel's error codes
    record = parse_record(bytes(odd))
    assert record is not None
    assert (record.filename, record.argv) == ("", ())


def test_paths_resolve_inside_the_root_never_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "true").write_text("")
    (root / "bin").symlink_to("usr/bin")
    (root / "usr" / "bin" / "sh").symlink_to("/usr/bin/true")  # absolute: from the root
    (root / "loop").symlink_to("loop")
    assert resolve_in_root(str(root), "/bin/true") == "/usr/bin/true"
    assert resolve_in_root(str(root), "/bin/sh") == "/usr/bin/true"
    assert resolve_in_root(str(root), "/usr/./bin/../bin/sh") == "/usr/bin/true"
    assert resolve_in_root(str(root), "/../../bin/true") == "/usr/bin/true"
    assert resolve_in_root(str(root), "/nowhere/x") == "/nowhere/x"
    assert resolve_in_root(str(root), "/loop") == "/loop"  # a loop stays as given
    (root / "escape").symlink_to("/../../../etc")
    assert resolve_in_root(str(root), "/escape/passwd") == "/etc/passwd"  # in the root


@pytest.mark.root
def test_the_kernel_records_an_exec_with_its_parent_and_command_line() -> None:
    long_argument = "y" * (ARGS_MAX + 10)
    with loaded(ExecRecorder) as recorder:
        child = subprocess.run(["/bin/echo", "-n", "wörld", ""], check=True)
        del child
        short = subprocess.Popen(["/bin/echo", "-n", "a"])
        short.wait()
        long_ = subprocess.Popen(["/bin/echo", "-n", long_argument], stdout=subprocess.DEVNULL)
        long_.wait()
        record = recorder.take(short.pid, time.monotonic_ns())
        assert record is not None
        assert record.ppid == os.getpid()
        assert (record.uid, record.gid) == (os.getuid(), os.getgid())
        assert record.comm == "echo"
        assert record.filename == "/bin/echo"
        assert record.argv == ("/bin/echo", "-n", "a")
        assert 0 < record.timestamp_ns <= time.monotonic_ns()
        assert recorder.take(short.pid, time.monotonic_ns()) is None  # taken once
        truncated = recorder.take(long_.pid, time.monotonic_ns())
        assert truncated is not None
        assert truncated.argv_truncated
        assert truncated.argv[:2] == ("/bin/echo", "-n")
        assert recorder.lost == 0
        assert recorder.records >= 3


@pytest.mark.root
def test_each_exec_of_one_process_is_matched_by_its_time() -> None:
    """``sh -c 'exec ...'`` executes twice as one pid: the first announcement gets the
    shell's record, the second the program's, whenever they are asked for."""
    with loaded(ExecRecorder) as recorder:
        started = subprocess.Popen(["/bin/sh", "-c", "exec /bin/sleep 0"])
        started.wait()
        after = time.monotonic_ns()
        recorder.drain()
        records = list(recorder._waiting.get(started.pid, []))
        assert [r.comm for r in records] == ["sh", "sleep"]
        first = recorder.take(started.pid, records[0].timestamp_ns + 1)
        assert first is not None
        assert first.argv == ("/bin/sh", "-c", "exec /bin/sleep 0")
        second = recorder.take(started.pid, after)
        assert second is not None
        assert second.argv == ("/bin/sleep", "0")


def _announcements(connector: ProcConnector, pid: int, count: int) -> list[RawProcEvent]:
    found: list[RawProcEvent] = []
    deadline = time.monotonic() + 10
    while len(found) < count and time.monotonic() < deadline:
        found += [e for e in connector.read(0.2) if e.pid == pid and e.kind is ProcEventKind.EXEC]
    assert len(found) == count
    return found


@pytest.mark.root
def test_a_process_gone_before_proc_is_read_is_described_from_its_record() -> None:
    with loaded(ExecRecorder) as recorder, ProcConnector() as connector:
        tracker = ProcessTracker(execs=recorder)
        tracker.seed()
        gone = subprocess.Popen(["/bin/true", "--an", "argument"])
        gone.wait()  # reaped: /proc/PID is gone
        (announced,) = _announcements(connector, gone.pid, 1)
        event = tracker.handle(announced)
        assert event is not None
        process = event.process
        assert (process.name, process.exe, process.args) == (
            "true",
            "/bin/true",
            ("--an", "argument"),
        )
        assert process.exepath == os.path.realpath("/bin/true")  # as /proc/PID/exe names it
        assert process.ppid == os.getpid()
        assert process.parent is not None
        assert process.parent.pid == os.getpid()
        assert process.container.is_host
        assert process.uid == os.getuid()
        assert process.user_name == "root"
        assert process.stdio == ()  # not known: it could have been redirected
        assert tracker.vanished == 1
        assert tracker.from_records == 1


@pytest.mark.root
def test_a_process_read_after_it_executed_again_is_described_as_it_was() -> None:
    with loaded(ExecRecorder) as recorder, ProcConnector() as connector:
        tracker = ProcessTracker(execs=recorder)
        tracker.seed()
        running = subprocess.Popen(["/bin/sh", "-c", "exec /bin/sleep 5"])
        try:
            first, second = _announcements(connector, running.pid, 2)
            # both execs happened before the first is handled: /proc shows sleep
            shell = tracker.handle(first)
            sleep = tracker.handle(second)
            assert shell is not None
            assert sleep is not None
            assert shell.process.name == "sh"
            assert shell.process.args == ("-c", "exec /bin/sleep 5")
            assert sleep.process.name == "sleep"
            assert sleep.process.exepath == os.path.realpath("/bin/sleep")
            assert sleep.process.stdio  # read from /proc: it is alive
            assert tracker.from_records == 1
        finally:
            running.kill()
            running.wait()


def test_without_records_a_gone_process_is_what_it_was_forked_as() -> None:
    """No eBPF: the tracker's older behaviour (what the fork showed)."""
    tracker = ProcessTracker()
    fork = RawProcEvent(ProcEventKind.FORK, 999_999_999, 999_999_999, 0, 0, parent_pid=os.getpid())
    forked = tracker.handle(fork)
    assert forked is not None
    execd = tracker.handle(RawProcEvent(ProcEventKind.EXEC, 999_999_999, 999_999_999, 1, 0))
    assert execd is not None
    assert execd.process.name == forked.process.name
    assert tracker.vanished == 1
    assert tracker.from_records == 0
