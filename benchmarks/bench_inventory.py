"""Inventory speed and memory on a ~300 MB (gzip) real image, against ``gzip -dc``.

The target (milestone 1): inventory of a ~300 MB compressed image takes at most 0.7x the
time ``gzip -dc`` alone needs to decompress its layers, measured in the same run, with
peak memory under 300 MB whatever the image size.

In one run this script:

1. builds (or takes from the cache) the benchmark image of ``tests/support/images.py``:
   Debian 12 with python3, perl, gcc/g++ and a Java runtime, gzip layers, as a
   docker-archive that keeps the gzip blobs (and as an OCI layout);
2. reads every file once so that both sides run from the page cache;
3. times ``gzip -dc BLOB > /dev/null`` for each layer blob in turn (one process, as a
   user would run it), ``--runs`` times, and takes the median total;
4. times ``stockade --quiet sbom IMAGE -f json > FILE`` ``--runs`` times (default
   workers) and takes the median, while sampling the memory of the process tree;
5. checks the SBOM against ``dpkg-query`` of the image's root (a fast wrong answer is no
   result) and prints the table that docs/benchmarks.md quotes.

``--breakdown`` also times the parts in-process, one layer after another: decompression
alone (isal and zlib), walking the tar entries, and the full per-layer analysis; with
``--profile`` the full analysis runs under cProfile and the top functions are printed.

Run from the repository root as root (debootstrap builds the image):
``.venv/bin/python benchmarks/bench_inventory.py``. It is not a test; pytest does not
collect it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.images import BenchImage, bench_image  # noqa: E402 - needs the path above

TARGET_RATIO = 0.7
TARGET_PEAK_BYTES = 300 * 1024**2
SAMPLE_SECONDS = 0.01


# ---------------------------------------------------------------------------------------
# Measuring a process tree


@dataclass(slots=True)
class TreeMemory:
    """Memory of a process and its descendants, sampled from /proc while it runs."""

    peak_by_pid: dict[int, int] = field(default_factory=dict)
    """Largest VmHWM (peak resident set) seen for each process, in bytes."""
    peak_total: int = 0
    """Largest sum of VmRSS over the tree at one instant, in bytes."""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    except OSError:
        pass  # the process ended between two reads
    return found


def _status_kib(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return None
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (KeyError, ValueError):
        return None  # a zombie has no memory lines


def _sample_tree(root: int, memory: TreeMemory, stop: threading.Event) -> None:
    while not stop.is_set():
        pending, total = [root], 0
        while pending:
            pid = pending.pop()
            status = _status_kib(pid)
            if status is not None:
                rss, hwm = status
                total += rss * 1024
                memory.peak_by_pid[pid] = max(memory.peak_by_pid.get(pid, 0), hwm * 1024)
            pending.extend(_children(pid))
        memory.peak_total = max(memory.peak_total, total)
        stop.wait(SAMPLE_SECONDS)


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_largest: int
    """Peak RSS of the largest single process (kernel's ru_maxrss via wait4), bytes."""
    peak_total: int
    """Largest sampled sum of RSS over the tree, bytes (counts shared pages per process)."""
    processes: int


def run_measured(argv: Sequence[str], stdout_path: Path) -> Run:
    """Run ``argv`` with stdout to a file; wall time and the memory of its process tree."""
    memory = TreeMemory()
    stop = threading.Event()
    with stdout_path.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out)
        sampler = threading.Thread(target=_sample_tree, args=(process.pid, memory, stop))
        sampler.start()
        # wait4 reports the largest peak RSS of the child and of every descendant it reaped.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return Run(
        seconds=seconds,
        peak_largest=usage.ru_maxrss * 1024,
        peak_total=memory.peak_total,
        processes=len(memory.peak_by_pid),
    )


def gzip_baseline(blobs: Sequence[Path]) -> list[float]:
    """Seconds of ``gzip -dc BLOB > /dev/null`` for each blob, one after another."""
    seconds = []
    with open(os.devnull, "wb") as sink:
        for blob in blobs:
            start = time.perf_counter()
            subprocess.run(["gzip", "-dc", str(blob)], stdout=sink, check=True)
            seconds.append(time.perf_counter() - start)
    return seconds


def warm_page_cache(paths: Sequence[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(8 << 20):
                pass


# ---------------------------------------------------------------------------------------
# In-process breakdown


def breakdown(image_path: Path, blobs: Sequence[Path], profile: bool) -> list[tuple[str, float]]:
    """Seconds spent per stage, every layer one after another in this process."""
    from stockade.artifact import Limits, open_artifact
    from stockade.inventory import default_catalogers
    from stockade.inventory.engine import analyze_layer
    from stockade.inventory.interface import CatalogContext

    rows: list[tuple[str, float]] = []
    start = time.perf_counter()
    for blob in blobs:
        inflater = zlib.decompressobj(wbits=31)
        with blob.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                inflater.decompress(chunk)
    rows.append(("decompress only, zlib (in-process)", time.perf_counter() - start))
    try:
        from isal import igzip
    except ImportError:
        pass
    else:
        start = time.perf_counter()
        for blob in blobs:
            with igzip.open(blob, "rb") as stream:  # type: ignore[no-untyped-call]  # isal ships no hints for open()
                while stream.read(1 << 20):
                    pass
        rows.append(("decompress only, isal igzip (in-process)", time.perf_counter() - start))

    limits = Limits()
    with open_artifact(str(image_path)) as source:
        layers = list(source.layers())
        start = time.perf_counter()
        entries = 0
        for layer in layers:
            for _ in layer.walk(limits):
                entries += 1
        rows.append(
            (f"walk all layers, no catalogers ({entries} entries)", time.perf_counter() - start)
        )

        catalogers = default_catalogers()
        ctx = CatalogContext()
        profiler = cProfile.Profile() if profile else None
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        for layer in layers:
            analyze_layer(layer, catalogers, ctx, limits)
        if profiler:
            profiler.disable()
        rows.append(("walk + catalogers, 1 process (analyze_layer)", time.perf_counter() - start))
    if profiler:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
        print(text.getvalue())
    return rows


# ---------------------------------------------------------------------------------------
# The run


def stockade_argv() -> list[str]:
    script = Path(sys.executable).with_name("stockade")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from stockade.cli.main import run; run()"]


def mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--workers", type=int, default=None, help="stockade --workers")
    parser.add_argument(
        "--image-format",
        choices=("docker-archive", "oci"),
        default="docker-archive",
        help="which copy of the image stockade reads (both keep the gzip blobs)",
    )
    parser.add_argument("--breakdown", action="store_true", help="time each stage")
    parser.add_argument("--profile", action="store_true", help="cProfile the analysis")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    image: BenchImage = bench_image()
    target = image.docker_archive if args.image_format == "docker-archive" else image.oci_layout
    blobs = list(image.layer_blobs)
    warm_page_cache([*blobs, image.docker_archive])

    argv = [*stockade_argv(), "--quiet", "sbom", str(target), "-f", "json"]
    if args.workers:
        argv += ["--workers", str(args.workers)]

    gzip_runs: list[list[float]] = []
    stockade_runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="stockade-bench-") as scratch:
        sbom_path = Path(scratch) / "sbom.json"
        for _ in range(args.runs):
            # Interleaved, so a change in machine load hits both sides alike.
            gzip_runs.append(gzip_baseline(blobs))
            stockade_runs.append(run_measured(argv, sbom_path))
        sbom = json.loads(sbom_path.read_text())

    found = {(p["name"], p["version"], p["arch"]) for p in sbom["packages"] if p["type"] == "deb"}
    correct = found == image.truth.deb

    gzip_total = statistics.median(sum(r) for r in gzip_runs)
    stockade_time = statistics.median(r.seconds for r in stockade_runs)
    ratio = stockade_time / gzip_total
    peak_largest = max(r.peak_largest for r in stockade_runs)
    peak_total = max(r.peak_total for r in stockade_runs)

    layers = image.record["layers"]
    compressed = sum(layer["compressed_bytes"] for layer in layers)
    uncompressed = sum(layer["uncompressed_bytes"] for layer in layers)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"image: {target} ({len(layers)} layers, {mib(compressed)} gzip, {mib(uncompressed)} tar)"
    )
    print()
    print("| layer | created by | gzip | tar | gzip -dc (median run) |")
    print("|---|---|---|---|---|")
    per_layer = [statistics.median(run[i] for run in gzip_runs) for i in range(len(blobs))]
    for number, (layer, seconds) in enumerate(zip(layers, per_layer, strict=True), start=1):
        print(
            f"| {number} | {layer['created_by']} | {mib(layer['compressed_bytes'])} "
            f"| {mib(layer['uncompressed_bytes'])} | {seconds:.2f} s |"
        )
    print()
    print("| measure | result | target |")
    print("|---|---|---|")
    gzip_all = ", ".join(f"{sum(r):.2f}" for r in gzip_runs)
    stockade_all = ", ".join(f"{r.seconds:.2f}" for r in stockade_runs)
    print(f"| `gzip -dc` of every layer, total (runs: {gzip_all} s) | {gzip_total:.2f} s | |")
    print(f"| `stockade sbom` wall time (runs: {stockade_all} s) | {stockade_time:.2f} s | |")
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"| ratio stockade / gzip -dc | **{ratio:.2f}** ({verdict}) | <= {TARGET_RATIO} |")
    verdict = "met" if peak_largest < TARGET_PEAK_BYTES else "MISSED"
    print(
        f"| peak RSS, largest process | **{mib(peak_largest)}** ({verdict}) "
        f"| < {mib(TARGET_PEAK_BYTES)} |"
    )
    print(
        f"| peak RSS, whole tree at once ({max(r.processes for r in stockade_runs)} "
        f"processes) | {mib(peak_total)} | |"
    )
    print(
        f"| SBOM deb packages == dpkg-query ({len(image.truth.deb)}) "
        f"| {'yes' if correct else 'NO'} | yes |"
    )
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n(this script's own peak RSS: {mib(self_usage.ru_maxrss * 1024)})")

    rows: list[tuple[str, float]] = []
    if args.breakdown or args.profile:
        rows = breakdown(target, blobs, args.profile)
        print("\n| stage (in-process, layers one after another) | seconds |")
        print("|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.2f} |")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "gzip_runs": gzip_runs,
                    "stockade_runs": [
                        {
                            "seconds": r.seconds,
                            "peak_largest": r.peak_largest,
                            "peak_total": r.peak_total,
                        }
                        for r in stockade_runs
                    ],
                    "ratio": ratio,
                    "correct": correct,
                    "breakdown": rows,
                    "command": argv,
                },
                indent=2,
            )
        )
    return 0 if correct else 1


if __name__ == "__main__":
    raise SystemExit(main())
