"""Cost and accuracy of the WAF's native protections, with CRS beside them in the same run.

Run: .venv/bin/python benchmarks/bench_waf_protections.py [--requests N] [--corpus]

Speed: the benign GET of bench_waf_engine.py (six headers, two query arguments, a cookie)
and a benign JSON POST through each native protection, through all of them (taking the
request apart included), through the default WafPolicy (native protections, no CRS), and
through CRS at PL1 in the engine. Times are per request, CPU time of this process
(``time.process_time``, which a busy shared machine inflates far less than wall time)
and wall time; p50 and p99.

``--corpus``: detection and false positives on CRS's go-ftw regression corpus
(tests/data/waf/crs/regression): per protection, the share of attack stages of its rule
files it flags (all stages, and stages whose expected rule is a paranoia-level-1 rule),
next to what CRS PL1 blocks (inbound score >= 5) on the same stages; false positives on
the stages that expect no detection (all of them, and those CRS PL1 lets through: the
rest are attacks one specific rule must not see); and the benign corpus of
tests/data/waf/benign.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import unittest.mock
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from stockade.waf.crs import crs_plan
from stockade.waf.errors import RequestError
from stockade.waf.ftw import Stage, build_request, load_stages
from stockade.waf.policy import CRS_BODY_PROCESSORS, WafPolicy
from stockade.waf.protections import RequestView, default_protections, inspect_all
from stockade.waf.request import HttpRequest
from stockade.waf.seclang.engine import Transaction, evaluate

ROOT = Path(__file__).resolve().parent.parent
REGRESSION = ROOT / "tests" / "data" / "waf" / "crs" / "regression"
BENIGN = ROOT / "tests" / "data" / "waf" / "benign" / "requests.yaml"

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
_JSON = (
    b'{"name": "Jane O\'Neil", "email": "jane@example.com", "items": [{"sku": "SKU-1", '
    b'"qty": 2}], "note": "Leave at the back door & ring twice"}'
)
BENIGN_POST = HttpRequest(
    method="POST",
    uri="/api/v1/orders",
    headers=(
        ("Host", "api.example"),
        ("User-Agent", "okhttp/4.12.0"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(_JSON))),
        ("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln"),
    ),
    body=_JSON,
)
ATTACK_FILES = {
    "sqli": ("942",),
    "xss": ("941",),
    "cmdi": ("932",),
    "lfi": ("930",),
    "code": ("933",),
    "scanner": ("913",),
    "protocol": ("920", "921"),
}


def measure(work: Callable[[], object], count: int) -> tuple[float, float, float, float]:
    """(cpu p50, cpu p99, wall p50, wall p99) in microseconds."""
    for _ in range(min(200, count)):
        work()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(count):
        c0 = time.process_time()
        w0 = time.perf_counter()
        work()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    cpu.sort()
    wall.sort()
    p99 = max(0, int(count * 0.99) - 1)
    return (
        statistics.median(cpu) * 1e6,
        cpu[p99] * 1e6,
        statistics.median(wall) * 1e6,
        wall[p99] * 1e6,
    )


def measure_batch(work: Callable[[], object], count: int) -> float:
    """Mean CPU microseconds per call over ``count`` calls (process_time's resolution is
    coarse for one call of a few microseconds)."""
    for _ in range(min(200, count)):
        work()
    started = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - started) / count * 1e6


def speed(count: int) -> None:
    gc.freeze()
    protections = default_protections()
    policy = WafPolicy()
    plan = crs_plan(paranoia_level=1)
    crs_policy = WafPolicy.from_yaml("default_mode: alert\ncrs: {mode: prevent}", crs_plan=plan)
    for name, request in (("benign GET", BENIGN_GET), ("benign JSON POST", BENIGN_POST)):
        assert not inspect_all(RequestView.of(request), protections), name
        assert not evaluate(plan, request).interrupted, name
        print(f"\n{name}: mean CPU µs per call ({count} calls)")
        view = RequestView.of(request)
        print(
            f"  {'request view (taking the request apart)':44} "
            f"{measure_batch(lambda r=request: RequestView.of(r), count):8.1f}"
        )
        for protection in protections:
            label = f"  {protection.name:44}"
            print(f"{label} {measure_batch(lambda p=protection, v=view: p.inspect(v), count):8.1f}")
        rows = [
            (
                "all native protections (view included)",
                lambda r=request: inspect_all(RequestView.of(r), protections),
            ),
            (
                "WafPolicy.decide_request, native only",
                lambda r=request: policy.decide_request(r, now=0.0),
            ),
            (
                "WafPolicy.decide_request, native + CRS PL1",
                lambda r=request: crs_policy.decide_request(r, now=0.0),
            ),
            ("CRS PL1 in the SecLang engine alone", lambda r=request: evaluate(plan, r)),
        ]
        print(f"  {'':44} {'cpu p50':>8} {'cpu p99':>8} {'wall p50':>9} {'wall p99':>9}")
        for label, work in rows:
            runs = count if "CRS" not in label else max(200, count // 20)
            cpu50, cpu99, wall50, wall99 = measure(work, runs)
            print(f"  {label:44} {cpu50:8.1f} {cpu99:8.1f} {wall50:9.1f} {wall99:9.1f}")


def _c_safe_load(stream: str) -> object:
    return yaml.load(stream, Loader=yaml.CSafeLoader)  # CSafeLoader: the C build of the safe loader


def share(items: list[tuple[Stage, frozenset[str], bool]], protection: str, *, crs: bool) -> str:
    """How many of ``items`` the protection (or CRS) flagged, as ``n/total (rate)``."""
    hit = sum(1 for _, fired, blocked in items if (blocked if crs else protection in fired))
    return f"{hit}/{len(items)} ({hit / max(1, len(items)):.1%})"


def corpus() -> None:
    with unittest.mock.patch.object(yaml, "safe_load", _c_safe_load):
        stages = [s for s in load_stages(REGRESSION) if s.checks_log]
    protections = default_protections()
    plan = crs_plan(paranoia_level=1, engine_mode="DetectionOnly", extra=CRS_BODY_PROCESSORS)
    paranoia = {
        rule.id: int(tag.rsplit("/", 1)[1])
        for rule in plan.ruleset.rules
        for tag in getattr(rule, "tags", ())
        if tag.startswith("paranoia-level/")
    }
    rows: list[tuple[Stage, frozenset[str], bool]] = []
    unparsable = 0
    for stage in stages:
        try:
            request = build_request(stage.input)
        except RequestError:
            unparsable += 1
            continue
        fired = frozenset(d.protection for d in inspect_all(RequestView.of(request), protections))
        transaction = Transaction(plan, request)
        transaction.process_request_headers()
        transaction.process_request_body()
        crs_blocks = transaction.verdict().inbound_anomaly_score >= 5
        rows.append((stage, fired, crs_blocks))
    print(
        f"\nCRS regression corpus: {len(rows)} stages with log expectations "
        f"({unparsable} more are not valid HTTP and are refused by the parser)\n"
    )
    print(
        "| protection | files | detected (all stages) | CRS PL1 blocks | "
        "detected (PL1-rule stages) | CRS PL1 blocks |"
    )
    print("|---|---|---|---|---|---|")
    for protection, files in ATTACK_FILES.items():
        attacks = [(s, f, c) for s, f, c in rows if s.expect_ids and s.rule_file[8:11] in files]
        pl1 = [
            (s, f, c) for s, f, c in attacks if all(paranoia.get(i, 1) == 1 for i in s.expect_ids)
        ]

        cells = [
            share(items, protection, crs=crs) for items in (attacks, pl1) for crs in (False, True)
        ]
        print(f"| {protection} | {', '.join(files)} | " + " | ".join(cells) + " |")
    negatives = [(s, f, c) for s, f, c in rows if s.no_expect_ids and not s.expect_ids]
    benign = [(s, f, c) for s, f, c in negatives if not c]
    print(
        f"\nstages expecting no detection: {len(negatives)}; CRS PL1 itself blocks "
        f"{len(negatives) - len(benign)} of them (attacks one rule must not see)"
    )
    for label, items in (("all", negatives), ("CRS PL1 lets through", benign)):
        per = Counter(p for _, f, _ in items for p in f)
        flagged = sum(1 for _, f, _ in items if f)
        detail = ", ".join(f"{p} {n}" for p, n in per.most_common())
        print(
            f"  {label}: any native protection flags {flagged}/{len(items)} "
            f"({flagged / max(1, len(items)):.1%}): {detail}"
        )
    document = yaml.safe_load(BENIGN.read_text(encoding="utf-8"))
    flagged_benign = 0
    for entry in document["requests"]:
        body = str(entry.get("body", "")).encode("utf-8")
        headers = tuple((str(k), str(v)) for k, v in entry["headers"].items())
        request = HttpRequest(entry["method"], entry["uri"], headers=headers, body=body)
        flagged_benign += bool(inspect_all(RequestView.of(request), protections))
    print(f"benign corpus: {flagged_benign}/{len(document['requests'])} requests flagged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--corpus", action="store_true", help="also measure detection rates")
    args = parser.parse_args()
    speed(args.requests)
    if args.corpus:
        corpus()


if __name__ == "__main__":
    main()
