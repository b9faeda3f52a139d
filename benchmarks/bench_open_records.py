"""What the Defender's open records cost the programs on the host: system-call heavy work
timed without and with the eBPF program on ``sys_exit`` attached (rounds alternate).

Run as root, from the repository root:

    .venv/bin/python benchmarks/bench_open_records.py [--rounds 5]

Workloads (each a real program, timed by wall clock):

* ``dd bs=1``: 2,000,000 one-byte ``read``/``write`` pairs from ``/dev/zero`` to
  ``/dev/null``: every call succeeds, so the program reads each one's number and returns
  (the cost every other system call pays);
* ``opens, not watched``: 200,000 ``open(O_WRONLY|O_CREAT)``/``close`` in Python on the
  host: the program also reads the flags and the mount namespace, and finds it unwatched;
* ``reads, not watched``: the same with ``O_RDONLY`` (reads are recorded only when their
  path climbs out twice, but the namespace is looked at first);
* ``opens, watched``: the same in a mount namespace the recorder watches, with a reader
  taking the records as the agent's file sensor does: the whole path, kernel and Python.

The ratio with/without is the figure; the machine is shared, so the median of the
rounds is reported with the range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO / "src"))

from stockade.runtime.sensors.opens import OpenRecorder, mount_namespace  # noqa: E402

OPENS = 200_000
LOOP = (
    "import os, sys\n"
    "path = sys.argv[1]\n"
    "flags = os.O_RDONLY if len(sys.argv) > 3 else os.O_WRONLY | os.O_CREAT\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    os.close(os.open(path, flags, 0o600))\n"
)


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def dd() -> float:
    return _timed(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"])


def opens(directory: str, *, read: bool = False) -> float:
    flags = ["read"] if read else []
    return _timed([sys.executable, "-c", LOOP, f"{directory}/f", str(OPENS), *flags])


def watched_opens(directory: str, recorder: OpenRecorder | None) -> float:
    """The loop in its own mount namespace, watched (when ``recorder``), records read."""
    ready = f"{directory}/go"
    script = (
        f"while [ ! -e {ready} ]; do sleep 0.01; done; "
        f"exec {sys.executable} -c '{LOOP}' {directory}/f {OPENS}"
    )
    child = subprocess.Popen(["unshare", "--mount", "sh", "-c", script])
    while mount_namespace(child.pid) == mount_namespace(os.getpid()):
        time.sleep(0.005)
    namespace = mount_namespace(child.pid)
    stop = threading.Event()
    taken = [0]

    def reader() -> None:
        assert recorder is not None
        while not stop.is_set():
            taken[0] += len(recorder.records())
            time.sleep(0.01)
        taken[0] += len(recorder.records())

    thread = None
    if recorder is not None and namespace is not None:
        recorder.watch(namespace)
        thread = threading.Thread(target=reader)
        thread.start()
    started = time.perf_counter()
    Path(ready).touch()
    child.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    if thread is not None:
        thread.join()
        if recorder is not None and namespace is not None:
            recorder.forget(namespace)
        lost = recorder.lost if recorder else 0
        print(f"    records taken: {taken[0]:,} (lost by the kernel: {lost})")
    os.unlink(ready)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (eBPF)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        workloads: dict[str, Callable[[OpenRecorder | None], float]] = {
            "dd bs=1 (2,000,000 calls)": lambda _r: dd(),
            "opens, not watched (200,000)": lambda _r: opens(directory),
            "reads, not watched (200,000)": lambda _r: opens(directory, read=True),
            "opens, watched (200,000)": lambda r: watched_opens(directory, r),
        }
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        for name, run in workloads.items():
            ratios, without_s, with_s = [], [], []
            for _ in range(args.rounds):
                alone = run(None)
                with OpenRecorder() as recorder:
                    traced = run(recorder)
                without_s.append(alone)
                with_s.append(traced)
                ratios.append(traced / alone - 1)
            print(
                f"{name:32} without {statistics.median(without_s):6.3f} s  "
                f"with {statistics.median(with_s):6.3f} s  "
                f"overhead median {statistics.median(ratios) * 100:+.1f} % "
                f"(range {min(ratios) * 100:+.1f} to {max(ratios) * 100:+.1f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
