"""Vulnerability matching speed, end-to-end scan overhead, and the bundle's size.

Targets (issue "Vulnerability intelligence, matching and CI gating"):

* matching 10,000 packages against the store: under 1 s;
* a warm end-to-end scan of the bookworm test image: under 2x its inventory time;
* the compressed advisory bundle: under 30 MB.

Run from the repository root (the bookworm image is built by tests/support/images.py on
first use, which needs root, debootstrap and network access to Debian's mirror):

    .venv/bin/python benchmarks/bench_scan.py
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from tests.support.images import bookworm_image  # noqa: E402

from stockade.core.models import Package, PackageType  # noqa: E402
from stockade.match import match  # noqa: E402
from stockade.vulndb.bundle import data_directory, ensure_store, read_manifest  # noqa: E402

_TYPES = {
    "PyPI": PackageType.PYPI,
    "Go": PackageType.GOLANG,
    "crates.io": PackageType.CARGO,
    "npm": PackageType.NPM,
    "RubyGems": PackageType.GEM,
    "Maven": PackageType.MAVEN,
}


def sample_packages(
    db: Path, count: int, *, with_advisories: float = 1.0, seed: int = 7
) -> list[Package]:
    """``count`` packages at mixed versions, the share ``with_advisories`` of them named
    as the store's advisories name them (the expensive case: every advisory is decoded
    and evaluated), the rest named as no advisory names them."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT DISTINCT ecosystem_base, name FROM affected").fetchall()
    rng = random.Random(seed)  # noqa: S311  # a reproducible sample, not a secret
    candidates = [(eco, name) for eco, name in rows if eco in _TYPES]
    rng.shuffle(candidates)
    versions = ["0.1.0", "1.0.0", "1.2.3", "2.0.0", "3.4.5", "10.0.0"]
    packages: list[Package] = []
    clean = count - round(count * with_advisories)
    for number in range(clean):
        ptype = list(_TYPES.values())[number % len(_TYPES)]
        packages.append(Package(name=f"no-advisory-{number}", version="1.0.0", type=ptype))
    while len(packages) < count:
        for eco, advisory_name in candidates:
            if len(packages) == count:
                break
            ptype = _TYPES[eco]
            namespace, name = None, advisory_name
            if ptype is PackageType.MAVEN and ":" in advisory_name:
                namespace, name = advisory_name.split(":", 1)
            packages.append(
                Package(name=name, version=rng.choice(versions), type=ptype, namespace=namespace)
            )
    return packages


def time_match(db: Path, packages: list[Package], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with ensure_store(db) as store:  # a fresh connection: nothing cached in SQLite
            started = time.perf_counter()
            match(packages, None, store)
            times.append(time.perf_counter() - started)
    return times


def time_command(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=10_000)
    args = parser.parse_args()

    manifest = read_manifest()
    assert manifest is not None, "this build ships no advisory bundle"
    bundle_file = Path(str(data_directory() / manifest.file))
    bundle_mib = bundle_file.stat().st_size / 2**20

    with tempfile.TemporaryDirectory(prefix="stockade-bench-") as scratch:
        db = Path(scratch) / "vulndb.sqlite"
        started = time.perf_counter()
        ensure_store(db).close()
        install_seconds = time.perf_counter() - started

        packages = sample_packages(db, args.packages)
        match_times = time_match(db, packages, args.runs)
        typical = sample_packages(db, args.packages, with_advisories=0.1)
        typical_times = time_match(db, typical, args.runs)

        image = bookworm_image().docker_archive
        stockade = [str(Path(sys.executable).parent / "stockade"), "--quiet"]
        sbom = [*stockade, "sbom", str(image), "-f", "json"]
        scan = [*stockade, "scan", str(image), "--db", str(db), "-f", "json"]
        time_command(scan)  # warm: page cache, store on disk
        sbom_times, scan_times = [], []
        for _ in range(args.runs):
            sbom_times.append(time_command(sbom))
            scan_times.append(time_command(scan))

    match_median = statistics.median(match_times)
    typical_median = statistics.median(typical_times)
    sbom_median = statistics.median(sbom_times)
    scan_median = statistics.median(scan_times)
    ratio = scan_median / sbom_median
    runs = ", ".join(f"{t:.2f}" for t in match_times)
    print("| measure | result | target |")
    print("|---|---|---|")
    typical_runs = ", ".join(f"{t:.2f}" for t in typical_times)
    print(
        f"| match {len(typical)} packages, 10% named by advisories (runs: {typical_runs} s) "
        f"| **{typical_median:.2f} s** | < 1 s |"
    )
    print(
        f"| match {len(packages)} packages, all named by advisories (runs: {runs} s) "
        f"| {match_median:.2f} s | |"
    )
    print(
        f"| `stockade sbom` of the bookworm image (runs: "
        f"{', '.join(f'{t:.2f}' for t in sbom_times)} s) | {sbom_median:.2f} s | |"
    )
    print(
        f"| `stockade scan` of the same image, warm (runs: "
        f"{', '.join(f'{t:.2f}' for t in scan_times)} s) | {scan_median:.2f} s | |"
    )
    print(f"| scan / inventory | **{ratio:.2f}x** | < 2x |")
    print(f"| bundle, compressed | **{bundle_mib:.1f} MiB** | < 30 MB |")
    print(f"| bundle install on first use | {install_seconds:.2f} s | |")
    met = typical_median < 1 and ratio < 2 and bundle_mib * 2**20 < 30e6
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
