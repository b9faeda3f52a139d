"""Version-scheme speed: keys per second, and 10,000 packages matched against OSV ranges.

The target: matching 10,000 installed packages against their advisories' ranges takes
well under a second, because each version is parsed once into a key and ranges compare
keys. The versions are the real ones of ``tests/data/version-compare`` (Debian, npm/Go
semver, PyPI, Maven, ...).

Run from the repository root: ``.venv/bin/python benchmarks/bench_versions.py``. It is
not a test; pytest does not collect it.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from stockade.match.versions import AffectedRange, VersionScheme, affected, scheme_for

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "version-compare"
FILES = {
    "Debian": "debian-versions-generated.txt",
    "Alpine": "alpine-versions-generated.txt",
    "PyPI": "pypi-versions-generated.txt",
    "Maven": "maven-versions-generated.txt",
    "RubyGems": "rubygems-versions-generated.txt",
    "Packagist": "packagist-versions-generated.txt",
    "npm": "semver-versions.txt",
}


def corpus_versions(name: str) -> list[str]:
    found: dict[str, None] = {}
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("# ", "// ")):
            left, _, right = line.split(" ")
            found[left] = found[right] = None
    return list(found)


def npm_like(count: int) -> list[str]:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    return [
        f"{rng.randrange(20)}.{rng.randrange(40)}.{rng.randrange(100)}"
        + (f"-rc.{rng.randrange(9)}" if rng.random() < 0.1 else "")
        for _ in range(count)
    ]


def keys_per_second(ecosystem: str, versions: list[str]) -> float:
    scheme: VersionScheme = type(scheme_for(ecosystem))()  # an empty cache
    started = time.perf_counter()
    for version in versions:
        scheme.key(version)
    return len(versions) / (time.perf_counter() - started)


def match_packages(ecosystem: str, versions: list[str], count: int) -> float:
    """Seconds to decide ``count`` (package version, advisory ranges) pairs, cold caches."""
    rng = random.Random(11)  # noqa: S311 - reproducible test data, not secrets
    scheme: VersionScheme = type(scheme_for(ecosystem))()
    ordered = sorted(versions, key=scheme.key)
    advisories = []
    for _ in range(count):
        low, high = sorted(rng.sample(range(len(ordered)), 2))
        advisories.append(
            AffectedRange.from_osv(
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": ordered[low]}, {"fixed": ordered[high]}],
                }
            )
        )
    installed = [rng.choice(versions) for _ in range(count)]
    scheme = type(scheme_for(ecosystem))()
    started = time.perf_counter()
    hits = sum(
        affected(version, [advisory], scheme)
        for version, advisory in zip(installed, advisories, strict=True)
    )
    elapsed = time.perf_counter() - started
    assert 0 < hits < count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{'ecosystem':<10} {'versions':>8} {'keys/s':>12} {'match ' + str(args.packages):>14}")
    for ecosystem, name in FILES.items():
        versions = corpus_versions(name)
        if len(versions) < 1000:
            versions = npm_like(20_000)
        rate = keys_per_second(ecosystem, versions)
        seconds = match_packages(ecosystem, versions, args.packages)
        print(f"{ecosystem:<10} {len(versions):>8} {rate:>12,.0f} {seconds:>12.3f} s")


if __name__ == "__main__":
    main()
