"""Admission webhook latency and throughput under concurrent load, over real HTTPS.

Starts `stockade admission serve` as its own process (generated certificate, default
policy: the built-in checks deny baseline and warn on restricted) and, with --gatekeeper,
ten Gatekeeper constraints of the library's templates that match Deployments
(benchmarks/data/admission/constraints.yaml), evaluated in --workers processes. Before
measuring it checks that the constraints really apply: a Deployment breaking them is
denied by each of the ten.

The load comes from this process: CONCURRENCY connections (TLS verifying the generated
CA, HTTP/1.1 keep-alive), each posting the AdmissionReview of a typical Deployment (a new
uid each time) and waiting for the answer, in a loop, for DURATION seconds per level. The
client is raw asyncio streams, not an HTTP library, so that it takes as little of the
machine's CPU from the server as it can. Latency is what the client saw: TLS, HTTP and
JSON included.

    .venv/bin/python benchmarks/bench_admission.py --gatekeeper          # 1, 4, 16, 50
    .venv/bin/python benchmarks/bench_admission.py --gatekeeper --concurrency 1,8 --duration 5
    .venv/bin/python benchmarks/bench_admission.py                       # built-in checks only

--policy (repeatable) loads other templates and constraints instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

from tests.admission.webhook.support import compliant_deployment, pod, review  # noqa: E402

_LIBRARY = _REPO / "tests/data/admission/gatekeeper-library/library"
TEMPLATES = [
    _LIBRARY / "general" / name / "template.yaml"
    for name in (
        "requiredlabels",
        "replicalimits",
        "allowedrepos",
        "disallowedtags",
        "containerlimits",
        "containerrequests",
        "requiredprobes",
    )
] + [
    _LIBRARY / "pod-security-policy" / name / "template.yaml"
    for name in ("privileged-containers", "allow-privilege-escalation", "read-only-root-filesystem")
]
CONSTRAINTS = _REPO / "benchmarks/data/admission/constraints.yaml"


def start_server(certs: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[str], int]:
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
        argv += ["--policy", str(policy)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for _ in range(50):
        line = process.stderr.readline()
        if "serving https://" in line:
            url = line.split("serving ", 1)[1].split(" ", 1)[0]
            return process, int(url.rsplit(":", 1)[1].split("/", 1)[0])
    process.kill()
    raise SystemExit("the webhook did not start")


class Connection:
    """One keep-alive HTTPS connection posting AdmissionReviews; the smallest client
    that reads a response correctly (Content-Length bodies, which uvicorn sends)."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port = port
        self.context = context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
        )

    async def post(self, data: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        head = (
            f"POST /validate HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
        ).encode()
        self.writer.write(head + data)
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self.writer.wait_closed()


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def documents(obj: dict[str, Any], count: int = 64) -> list[bytes]:
    """AdmissionReviews of ``obj``, each with its own uid, serialised ahead of the run."""
    found = []
    for _ in range(count):
        document = review(obj)
        document["request"]["uid"] = str(uuid.uuid4())
        found.append(json.dumps(document).encode())
    return found


async def client(
    port: int, context: ssl.SSLContext, stop: float, bodies: list[bytes], run: Run
) -> None:
    connection = Connection(port, context)
    await connection.open()
    index = 0
    try:
        while time.monotonic() < stop:
            data = bodies[index % len(bodies)]
            index += 1
            started = time.perf_counter()
            status, answer = await connection.post(data)
            run.latencies.append(time.perf_counter() - started)
            if status != 200 or b'"allowed":true' not in answer:
                run.errors.append(f"{status} {answer[:300]!r}")
    finally:
        await connection.close()


async def level(
    port: int, context: ssl.SSLContext, concurrency: int, args: argparse.Namespace
) -> None:
    bodies = documents(compliant_deployment())
    warm = time.monotonic() + min(1.0, args.duration)
    await asyncio.gather(*(client(port, context, warm, bodies, Run()) for _ in range(concurrency)))
    run = Run()
    started = time.monotonic()
    stop = started + args.duration
    await asyncio.gather(*(client(port, context, stop, bodies, run) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies = sorted(run.latencies)
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else latencies * 99
    )
    print(
        f"{concurrency:>11} {len(latencies):>8} {len(latencies) / elapsed:>9.0f} "
        f"{q[49] * 1000:>8.1f} {q[89] * 1000:>8.1f} {q[98] * 1000:>8.1f} "
        f"{latencies[-1] * 1000:>8.1f} {len(run.errors):>7}"
    )
    if run.errors:
        print(f"  first error: {run.errors[0]}")


def broken(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (a Pod or a Deployment) made to break every one of the ten constraints."""
    obj["metadata"]["labels"] = {}
    spec = obj["spec"]
    if obj["kind"] == "Deployment":
        spec["replicas"] = 100
        spec = spec["template"]["spec"]
    spec["containers"][0].update(
        {
            "image": "docker.io/library/nginx:latest",
            "securityContext": {"privileged": True, "allowPrivilegeEscalation": True},
            "resources": {},
            "livenessProbe": None,
            "readinessProbe": None,
        }
    )
    return obj


async def check_constraints_apply(port: int, context: ssl.SSLContext) -> None:
    """Send a Pod and a Deployment that break every constraint; each constraint must
    deny one of them. (The library's templates read a Pod's own fields: for a Deployment
    their Rego runs, as it would in Gatekeeper, but finds no `spec.containers`; only
    labels and replicas are a Deployment's own.)"""
    connection = Connection(port, context)
    await connection.open()
    denying: set[str] = set()
    try:
        for obj in (broken(pod()), broken(compliant_deployment())):
            status, answer = await connection.post(json.dumps(review(obj)).encode())
            response = json.loads(answer)["response"]
            counts = response.get("auditAnnotations", {}).get("violations", "")
            found = {e.split("=")[0] for e in counts.split(",") if e.startswith("K8s")}
            print(f"a broken {obj['kind']} is denied by {len(found)} constraint(s)")
            if status != 200 or response["allowed"]:
                raise SystemExit(f"the broken {obj['kind']} was not denied")
            denying |= found
    finally:
        await connection.close()
    if len(denying) != 10:
        raise SystemExit(f"only {len(denying)} of the ten constraints apply: {sorted(denying)}")


async def measure(port: int, context: ssl.SSLContext, args: argparse.Namespace) -> None:
    if args.gatekeeper:
        await check_constraints_apply(port, context)
    print(f"a typical Deployment; {args.duration:g} s per level after a warm-up")
    print(
        f"{'concurrency':>11} {'reviews':>8} {'per s':>9} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    )
    for concurrency in args.concurrency:
        await level(port, context, concurrency, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4, 16, 50],
        help="comma-separated levels (default 1,4,16,50)",
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--gatekeeper", action="store_true", help="load the ten library constraints"
    )
    parser.add_argument("--policy", action="append", default=[], type=Path)
    args = parser.parse_args()
    if args.gatekeeper:
        args.policy += [*TEMPLATES, CONSTRAINTS]
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp, "certs")
        process, port = start_server(certs, args)
        try:
            context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
            asyncio.run(measure(port, context, args))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
