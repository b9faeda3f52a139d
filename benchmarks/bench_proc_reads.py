"""What an exec storm pays for each ``/proc/PID`` file read at its execs.

Run as root, from the repository root:

    .venv/bin/python benchmarks/bench_proc_reads.py                # the docs' table
    .venv/bin/python benchmarks/bench_proc_reads.py --execs 10000 --rounds 3

Instead of the Defender, a bare listener (another process) subscribes to the kernel's
proc connector and, at each exec event, reads a given set of the files the process
sensor reads (``sensors/procinfo.read_process``), or none, or all of ``read_process``.
For each set, rounds alternate: the exec storm of ``bench_defender.drive`` flat out
(each of four drivers starts the next ``/bin/true`` at once) without a listener, then
with it. The figure is the median ratio of the wall times: how much of the Defender's
cost on a saturated host is the kernel work of touching ``/proc/PID`` at all, and how
much each file adds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_defender import drive

from stockade.runtime.sensors.procconn import ProcConnector, ProcEventKind
from stockade.runtime.sensors.procinfo import read_process

SETS = {
    "nothing (listen only)": (),
    "exe (readlink)": ("exe",),
    "stat": ("stat",),
    "status": ("status",),
    "cmdline": ("cmdline",),
    "cwd (readlink)": ("cwd",),
    "fd/0-2 (readlink)": ("fd/0", "fd/1", "fd/2"),
    "cgroup": ("cgroup",),
    "all of read_process": ("*",),
}
_LINKS = frozenset({"exe", "cwd", "fd/0", "fd/1", "fd/2"})


def _touch(pid: int, files: tuple[str, ...]) -> None:
    if files == ("*",):
        read_process(pid)
        return
    for name in files:
        path = f"/proc/{pid}/{name}"
        try:
            if name in _LINKS:
                os.readlink(path)
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.read(fd, 65536)
            finally:
                os.close(fd)
        except OSError:
            pass  # gone already


def listen(files: tuple[str, ...]) -> None:
    connector = ProcConnector()
    while True:
        for event in connector.read(0.5):
            if event.kind == ProcEventKind.EXEC:
                _touch(event.pid, files)


def ratio(files: tuple[str, ...], execs: int, rounds: int) -> list[float]:
    ratios = []
    for _ in range(rounds):
        alone = drive(execs, 1e9).wall
        listener = multiprocessing.Process(target=listen, args=(files,), daemon=True)
        listener.start()
        time.sleep(0.5)  # subscribed
        try:
            ratios.append(drive(execs, 1e9).wall / alone)
        finally:
            listener.kill()
            listener.join()
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the listener reads the kernel's proc connector", file=sys.stderr)
        return 2
    print(f"{'read at each exec':<24} {'wall with / without (median, min-max)':>40}")
    for label, files in SETS.items():
        found = ratio(files, args.execs, args.rounds)
        print(
            f"{label:<24} {(statistics.median(found) - 1) * 100:>+27.1f} %"
            f"  ({(min(found) - 1) * 100:+.1f} to {(max(found) - 1) * 100:+.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
