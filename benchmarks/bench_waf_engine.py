"""Per-request cost of the SecLang engine with OWASP CRS v4 at paranoia level 1.

Run: .venv/bin/python benchmarks/bench_waf_engine.py [--requests N] [--rounds N]
                                                    [--paranoia-level N] [--fresh | --same]

Four requests, each evaluated in full (phases 1, 2 and 5, as the proxy does when it does
not inspect the response): (a) a benign GET with six headers, two arguments and a cookie,
(b) a benign form POST, (c) a benign JSON POST, (d) an SQL injection GET (blocked). CRS
is loaded as ``crs_plan`` loads it, plus ModSecurity's recommended XML/JSON body-processor
rules (as the proxy loads them), so the JSON body is parsed.

What a client sends again and again (its headers, cookie and argument names) is the same
in every request, as on a real site; what differs per request in real traffic (the
session cookie, a page number, the form and JSON values) is new in every request, so the
engine's caches of values seen before only help where they would in production.
``--fresh`` makes every value of every request new (headers too): the cost of a request
the engine has seen nothing of. ``--same`` sends the very same requests again and again:
the floor, with every value remembered.

Each request is timed alone (wall clock); a round is ``--requests`` evaluations of each
kind, interleaved, and yields a p50 and a p99 per kind. The machine may be shared, so
several rounds are run and the best and the median round are printed.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import statistics
import time
from collections.abc import Callable, Iterator

from stockade.waf.crs import crs_plan
from stockade.waf.request import HttpRequest
from stockade.waf.seclang.engine import Plan, evaluate

BODY_PROCESSORS = (
    'SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" '
    '"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"\n'
    'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" '
    '"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"\n'
)

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def _headers(n: int, fresh: bool, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    agent = f"{USER_AGENT} build/{n}" if fresh else USER_AGENT
    language = f"en-US,en;q=0.{n % 9 + 1}" if fresh else "en-US,en;q=0.5"
    return (
        ("Host", f"shop{n}.example" if fresh else "shop.example"),
        ("User-Agent", agent),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", language),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Cookie", f"session={n * 7919:016x}; theme=dark"),
        *extra,
    )


def benign_get(n: int, fresh: bool) -> HttpRequest:
    """(a): six headers, two arguments (one new each time), a cookie (session new)."""
    path = f"/products/list{n}" if fresh else "/products/list"
    return HttpRequest("GET", f"{path}?page={n}&sort=price", headers=_headers(n, fresh))


def form_post(n: int, fresh: bool) -> HttpRequest:
    """(b): a URL-encoded form with four fields."""
    body = f"name=Jane+Doe+{n}&email=jane{n}%40example.com&plan=pro&newsletter=on"
    return HttpRequest(
        "POST",
        "/account/update",
        headers=_headers(
            n,
            fresh,
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
        ),
        body=body.encode(),
    )


def json_post(n: int, fresh: bool) -> HttpRequest:
    """(c): a JSON document with nested objects and a list (seven scalar values)."""
    document = {
        "order": {"id": n, "currency": "EUR", "note": f"leave at door {n}"},
        "items": [{"sku": f"A-{n % 997}", "qty": 2}, {"sku": "B-17", "qty": 1}],
    }
    body = json.dumps(document).encode()
    return HttpRequest(
        "POST",
        "/api/orders",
        headers=_headers(
            n,
            fresh,
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ),
        body=body,
    )


def sqli_get(n: int, fresh: bool) -> HttpRequest:
    """(d): a classic injection in an argument (CRS blocks it: 942100 and others)."""
    return HttpRequest("GET", f"/products/list?id={n}%27%20or%201=1--", headers=_headers(n, fresh))


KINDS: dict[str, Callable[[int, bool], HttpRequest]] = {
    "benign GET": benign_get,
    "benign form POST": form_post,
    "benign JSON POST": json_post,
    "SQLi GET (blocked)": sqli_get,
}


def _check(plan: Plan) -> None:
    for name, make in KINDS.items():
        verdict = evaluate(plan, make(1, False))
        blocked = name.startswith("SQLi")
        assert verdict.interrupted == blocked, (name, sorted(verdict.matched_ids))


def _round(
    plan: Plan, requests: int, fresh: bool, numbers: Iterator[int]
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in KINDS}
    clock = time.perf_counter
    for _ in range(requests):
        for name, make in KINDS.items():
            request = make(next(numbers), fresh)
            start = clock()
            evaluate(plan, request)
            samples[name].append(clock() - start)
    return samples


def _percentile(sorted_samples: list[float], fraction: float) -> float:
    index = min(len(sorted_samples) - 1, max(0, round(fraction * len(sorted_samples)) - 1))
    return sorted_samples[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paranoia-level", type=int, default=1)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--fresh", action="store_true", help="every value new")
    choice.add_argument("--same", action="store_true", help="the same requests each time")
    args = parser.parse_args()
    started = time.perf_counter()
    plan = crs_plan(paranoia_level=args.paranoia_level, extra=BODY_PROCESSORS)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    _check(plan)
    first_s = time.perf_counter() - started
    numbers: Iterator[int] = itertools.repeat(10_000) if args.same else itertools.count(10_000)
    _round(plan, 200, args.fresh, numbers)  # warm-up: first sight of the recurring values
    gc.freeze()
    rounds = [_round(plan, args.requests, args.fresh, numbers) for _ in range(args.rounds)]
    print(
        f"CRS PL{args.paranoia_level}: load {load_s:.2f} s, first four requests "
        f"{first_s * 1e3:.0f} ms; {args.rounds} rounds x {args.requests} requests per kind"
        f"{' (every value new)' if args.fresh else ''}{' (the same requests)' if args.same else ''}"
    )
    print(f"{'request':<20} {'p50 best':>9} {'p50 median':>11} {'p99 best':>9} {'p99 median':>11}")
    for name in KINDS:
        p50s, p99s = [], []
        for samples in rounds:
            ordered = sorted(samples[name])
            p50s.append(_percentile(ordered, 0.50) * 1e3)
            p99s.append(_percentile(ordered, 0.99) * 1e3)
        print(
            f"{name:<20} {min(p50s):>6.3f} ms {statistics.median(p50s):>8.3f} ms "
            f"{min(p99s):>6.3f} ms {statistics.median(p99s):>8.3f} ms"
        )


if __name__ == "__main__":
    main()
