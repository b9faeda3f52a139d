"""Compliance checking speed and memory, side by side with Checkov on the same files.

Target (issue "Compliance and secrets"): Checkov's Kubernetes and Dockerfile fixtures
checked in at most one tenth of Checkov's wall time and a quarter of its peak memory.

Checkov runs from its own virtual environment, used only by this benchmark:

    python3 -m venv /tmp/checkov-venv && /tmp/checkov-venv/bin/pip install checkov==3.3.30
    .venv/bin/python benchmarks/bench_compliance.py --checkov /tmp/checkov-venv/bin/checkov

Both tools get the same two directories (the Checkov fixtures copied into tests/data) in
one invocation each, as a CI job would run them (``checkov -d K8S -d DOCKERFILES
--framework kubernetes dockerfile``, ``stockade check K8S DOCKERFILES``, which detects
what is in each); wall time of that process, peak memory its largest resident set
(``ru_maxrss`` from ``wait4``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
K8S = _REPO / "tests/data/compliance/checkov"
DOCKERFILES = _REPO / "tests/data/compliance/dockerfile/checkov"


def run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process, its output discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkov", required=True, help="the checkov executable")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stockade = str(Path(sys.executable).parent / "stockade")
    sides = {
        "checkov": [
            [
                args.checkov,
                "-d",
                str(K8S),
                "-d",
                str(DOCKERFILES),
                "--framework",
                "kubernetes",
                "dockerfile",
                "-o",
                "json",
                "--quiet",
            ],
        ],
        "stockade": [
            [stockade, "--quiet", "check", str(K8S), str(DOCKERFILES), "-f", "json"],
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    peaks: dict[str, int] = dict.fromkeys(sides, 0)
    for _ in range(args.runs):
        for name, commands in sides.items():  # interleaved: load changes hit both
            total = 0.0
            for argv in commands:
                seconds, peak = run(argv)
                total += seconds
                peaks[name] = max(peaks[name], peak)
            times[name].append(total)
    checkov_time = statistics.median(times["checkov"])
    stockade_time = statistics.median(times["stockade"])
    print("| measure | Checkov 3.3.30 | Stockade | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| wall time, median of {args.runs} "
        f"(runs: {', '.join(f'{t:.2f}' for t in times['checkov'])} / "
        f"{', '.join(f'{t:.2f}' for t in times['stockade'])} s) "
        f"| {checkov_time:.2f} s | {stockade_time:.2f} s "
        f"| **{stockade_time / checkov_time:.3f}** | <= 0.1 |"
    )
    print(
        f"| peak RSS, largest process | {peaks['checkov'] / 1024:.0f} MiB "
        f"| {peaks['stockade'] / 1024:.0f} MiB "
        f"| **{peaks['stockade'] / peaks['checkov']:.3f}** | <= 0.25 |"
    )
    met = stockade_time <= 0.1 * checkov_time and peaks["stockade"] <= 0.25 * peaks["checkov"]
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
