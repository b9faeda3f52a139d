"""What a thread stopped in open(2) asked for: real processes blocked opening a FIFO (an
open that waits for the other end), read through /proc as the file sensor reads an
opener waiting for its verdict."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stockade.runtime.sensors import syscalls
from stockade.runtime.sensors.syscalls import PendingOpen, pending_open, thread_group

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the calls are made by their x86-64 numbers"
)

OPENER = textwrap.dedent(
    """
    import ctypes, os, sys, threading
    call, path, flags = sys.argv[1], sys.argv[2], int(sys.argv[3])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for _ in range(int(sys.argv[4])):  # hold a few more descriptors
        os.open("/dev/null", os.O_RDONLY)
    name = ctypes.c_char_p(path.encode())
    def run():
        if call == "open":
            libc.syscall(2, name, flags, 0o640)
        elif call == "creat":
            libc.syscall(85, name, 0o600)
        elif call == "openat":
            libc.syscall(257, -100, name, flags, 0)
        else:
            how = (ctypes.c_uint64 * 3)(flags, 0, 0)
            libc.syscall(437, -100, name, ctypes.byref(how), 24)
    if sys.argv[5] == "thread":
        thread = threading.Thread(target=run)
        thread.start()
        print(threading.get_native_id(), thread.native_id, flush=True)
        thread.join()
    else:
        print(os.getpid(), os.getpid(), flush=True)
        run()
    """
)


@contextmanager
def stopped_in_open(
    call: str, path: str, flags: int = 0, *, extra: int = 0, thread: bool = False
) -> Iterator[tuple[int, int]]:
    """A process (or a thread of it) stopped in ``call`` on the FIFO ``path``: the
    process id and the thread id."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OPENER,
            call,
            path,
            str(flags),
            str(extra),
            "thread" if thread else "main",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        pid, tid = (int(word) for word in child.stdout.readline().split())
        deadline = time.monotonic() + 10
        while b"running" in Path(f"/proc/{tid}/syscall").read_bytes() or not Path(
            f"/proc/{tid}/syscall"
        ).read_bytes().startswith((b"2 ", b"85 ", b"257 ", b"437 ")):
            assert time.monotonic() < deadline, "the child never blocked in its open"
            time.sleep(0.01)
        yield pid, tid
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_openat_path_flags_and_the_descriptor_it_will_get(fifo: Path) -> None:
    raw = f"{fifo.parent}/../{fifo.parent.name}//{fifo.name}"
    # stdin, stdout, stderr, two /dev/null: the open gets the lowest free number, at least 5
    with stopped_in_open("openat", raw, os.O_RDONLY, extra=2) as (pid, tid):
        held = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
        opened = pending_open(tid)
    assert opened is not None
    assert opened.call == "openat"
    assert opened.raw_path == raw
    assert opened.flags & os.O_ACCMODE == os.O_RDONLY
    assert opened.fd == min(set(range(len(held) + 1)) - held)
    assert opened.fd >= 5


@pytest.mark.parametrize(
    ("call", "flags", "expected"),
    [
        ("open", os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_TRUNC),
        ("openat2", os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_APPEND),
        ("creat", 0, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ],
)
def test_each_open_call_is_named_with_its_flags(
    fifo: Path, call: str, flags: int, expected: int
) -> None:
    with stopped_in_open(call, str(fifo), flags) as (_pid, tid):
        opened = pending_open(tid)
    assert opened is not None
    assert opened.call == call
    assert opened.raw_path == str(fifo)
    assert opened.flags & (os.O_ACCMODE | os.O_TRUNC | os.O_APPEND | os.O_CREAT) == expected
    if call == "creat":
        assert opened.mode == 0o600


def test_a_thread_is_read_as_itself_and_knows_its_process(fifo: Path) -> None:
    with stopped_in_open("openat", str(fifo), thread=True) as (pid, tid):
        assert tid != pid
        assert pending_open(pid) is None  # the main thread waits in join, not in an open
        opened = pending_open(tid)
        assert thread_group(tid) == pid
    assert opened is not None
    assert opened.raw_path == str(fifo)


def test_not_in_an_open_or_gone_is_none(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{sleeper.pid}/syscall").read_bytes().startswith(b"230 "):
            assert time.monotonic() < deadline  # clock_nanosleep
            time.sleep(0.01)
        assert pending_open(sleeper.pid) is None
    finally:
        sleeper.kill()
        sleeper.wait()
    assert pending_open(sleeper.pid) is None
    assert thread_group(sleeper.pid) is None


def test_a_thread_still_on_the_cpu_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel wakes the sensor before the opener sleeps: ``running`` is read again
    until the call shows. (A /proc stand-in: the instant cannot be caused on demand.)"""
    fake = tmp_path / "proc" / "42"
    (fake / "fd").mkdir(parents=True)
    for number in (0, 1, 2):
        (fake / "fd" / str(number)).touch()
    (fake / "syscall").write_text("running\n")

    def settle() -> None:
        time.sleep(0.01)
        (fake / "next").write_text("257 0xffffff9c 0x0 0x241 0x1b6 0x0 0x0 0x7ffc 0x7f00\n")
        (fake / "next").replace(fake / "syscall")

    threading.Thread(target=settle).start()
    opened = pending_open(42, tmp_path / "proc")
    assert opened == PendingOpen("openat", 0x241, 0o666, None, 3)
    monkeypatch.setattr(syscalls, "_SETTLE_SECONDS", 0.0)
    (fake / "syscall").write_text("running\n")
    assert pending_open(42, tmp_path / "proc") is None
