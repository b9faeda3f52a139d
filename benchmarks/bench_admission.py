"""Admission webhook throughput and latency under concurrent load, over real HTTPS.

Starts `stockade admission serve` as its own process (generated certificate, built-in
checks on, default policy) and drives it from this process with CONCURRENCY clients
(httpx, HTTP/1.1 keep-alive, verifying the generated CA), each posting the AdmissionReview
of a typical Deployment in a loop for DURATION seconds. Reports requests/s and latency
percentiles as the client saw them (TLS, HTTP and JSON included).

    .venv/bin/python benchmarks/bench_admission.py                       # 50 clients, 10 s
    .venv/bin/python benchmarks/bench_admission.py --concurrency 10 --duration 5
    .venv/bin/python benchmarks/bench_admission.py \
        --policy tests/data/admission/gatekeeper-library/library/general/disallowedtags

With --policy (repeatable), Gatekeeper templates and constraints are evaluated too, in
--workers processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from tests.admission.webhook.support import compliant_deployment, review  # noqa: E402


def start_server(certs: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    stockade = str(Path(sys.executable).parent / "stockade")
    argv = [
        stockade,
        "admission",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--generate-cert",
        str(certs),
        "--extra-name",
        "127.0.0.1",
        "--workers",
        str(args.workers),
    ]
    for policy in args.policy:
        argv += ["--policy", policy]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for _ in range(50):
        line = process.stderr.readline()
        if "serving https://" in line:
            return process, line.split("serving ", 1)[1].split(" ", 1)[0]
    process.kill()
    raise SystemExit("the webhook did not start")


async def client(
    url: str, context: ssl.SSLContext, stop: float, latencies: list[float], errors: list[str]
) -> None:
    deployment = compliant_deployment()
    async with httpx.AsyncClient(verify=context, timeout=15) as http:
        while time.monotonic() < stop:
            document = review(deployment)
            document["request"]["uid"] = str(uuid.uuid4())
            data = json.dumps(document).encode()
            started = time.perf_counter()
            response = await http.post(
                url, content=data, headers={"content-type": "application/json"}
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["response"]["allowed"] is not True:
                errors.append(f"{response.status_code} {response.text[:200]}")


async def load(url: str, context: ssl.SSLContext, args: argparse.Namespace) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    # warm-up: TLS sessions and the server's first requests
    await asyncio.gather(
        *(client(url, context, time.monotonic() + 1, [], []) for _ in range(args.concurrency))
    )
    started = time.monotonic()
    stop = started + args.duration
    await asyncio.gather(
        *(client(url, context, stop, latencies, errors) for _ in range(args.concurrency))
    )
    elapsed = time.monotonic() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"clients {args.concurrency}, {elapsed:.1f} s, {len(latencies)} reviews")
    print(f"throughput {len(latencies) / elapsed:.0f} reviews/s")
    print(
        f"latency p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    print(f"errors or unexpected answers: {len(errors)}")
    if errors:
        print(errors[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policy", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp, "certs")
        process, url = start_server(certs, args)
        try:
            context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            asyncio.run(load(url, context, args))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
