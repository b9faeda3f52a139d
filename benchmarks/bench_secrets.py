"""Secret-scan speed on a real directory, for each regular-expression engine.

Scans DIRECTORY (default ``/usr/share/doc``) with gitleaks' default rules, once per
engine (RE2 when google-re2 is installed, and pure-Python ``re``), after one warm-up pass
that brings the files into the page cache. Prints, per engine: files and megabytes whose
content was scanned (binary, allowlisted and oversized files are not counted), seconds,
MB/s, findings, and the peak resident memory of the process so far.

Run from the repository root: ``.venv/bin/python benchmarks/bench_secrets.py [DIRECTORY]``.
It is not a test; pytest does not collect it.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))

from stockade.artifact.rootfs import DirectorySource  # noqa: E402 - needs the path above
from stockade.compliance.secrets import Detector, ScanOptions, load_rules, scan_source  # noqa: E402
from stockade.compliance.secrets.engine import re2_available  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="/usr/share/doc")
    parser.add_argument("--engine", action="append", choices=["re2", "python"])
    args = parser.parse_args()
    engines = args.engine or (["re2", "python"] if re2_available() else ["python"])
    rules = load_rules()
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{len(rules)} rules, {args.directory}")  # fmt: skip
    scan_source(DirectorySource(args.directory), Detector(rules, engines[0]))  # warm the cache
    print("| engine | files | MB | seconds | MB/s | findings | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine in engines:
        detector = Detector(rules, engine)
        started = time.perf_counter()
        result = scan_source(
            DirectorySource(args.directory), detector, options=ScanOptions(engine=engine)
        )
        seconds = time.perf_counter() - started
        megabytes = result.bytes / 1e6
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"| {engine} | {result.files} | {megabytes:.1f} | {seconds:.2f} | "
            f"{megabytes / seconds:.1f} | {len(result.findings)} | {peak:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
