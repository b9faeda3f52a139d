"""Per-request cost of the SecLang engine with CRS v4 loaded (benign GET, PL1).

Run: .venv/bin/python benchmarks/bench_waf_engine.py [--requests N] [--paranoia-level N]
Prints requests/s on one core and the p50/p99 latency of one full evaluation
(phases 1, 2 and 5; the proxy adds phases 3-4 only when it inspects responses).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from stockade.waf.crs import crs_plan
from stockade.waf.request import HttpRequest
from stockade.waf.seclang.engine import evaluate

BENIGN_GET = HttpRequest(
    method="GET",
    uri="/products/list?page=2&sort=price",
    headers=(
        ("Host", "shop.example"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", "en-US,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Cookie", "session=4f2a9c1e77; theme=dark"),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--paranoia-level", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    plan = crs_plan(paranoia_level=args.paranoia_level)
    load_s = time.perf_counter() - started
    gc.freeze()
    verdict = evaluate(plan, BENIGN_GET)
    assert not verdict.interrupted, sorted(verdict.matched_ids)
    for _ in range(200):
        evaluate(plan, BENIGN_GET)
    samples = []
    for _ in range(args.requests):
        start = time.perf_counter()
        evaluate(plan, BENIGN_GET)
        samples.append(time.perf_counter() - start)
    samples.sort()
    total = sum(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"CRS load: {load_s:.2f} s; rules: {sum(1 for r in plan.ruleset.rules if r.id)}")
    print(
        f"benign GET, PL{args.paranoia_level}: {len(samples) / total:,.0f} req/s on one core, "
        f"p50 {statistics.median(samples) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
