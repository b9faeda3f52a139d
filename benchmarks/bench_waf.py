"""Side by side: ``stockade waf`` and Apache + ModSecurity 2 + OWASP CRS, on benign GETs.

Both protect the same static backend (a private Apache instance serving one small HTML
page) on the same machine, at CRS paranoia level 1 with request and response inspection,
and both are driven by the same ``wrk`` command. For each of: the backend alone,
ModSecurity in front of it, Stockade in front of it, ``wrk`` runs twice:

* flat out (each connection sends its next request as soon as the answer arrives): the
  throughput, relative to ModSecurity's;
* paced (``--paced-rate``, default 500 requests/s over the same connections, a rate all
  three serve without queueing): the latency percentiles, and the p99 each WAF adds over
  the backend alone. At saturation a p99 measures the queue, not the WAF, so the added
  latency is read from the paced run.

Needs Debian's ``apache2 libapache2-mod-security2 modsecurity-crs wrk`` (CRS 3.3 there;
Stockade ships CRS 4 — both at PL1, anomaly blocking on)::

    .venv/bin/python benchmarks/bench_waf.py                       # 2 Stockade workers
    .venv/bin/python benchmarks/bench_waf.py --workers 1 --duration 20 --connections 50
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = Path("/usr/lib/apache2/modules")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
RECOMMENDED = Path("/etc/modsecurity/modsecurity.conf-recommended")
UNICODE_MAP = Path("/etc/modsecurity/unicode.mapping")
PAGE = (
    "<!doctype html><html><head><title>shop</title></head><body>"
    + "<p>Welcome to the shop. Nothing to see here.</p>" * 20
    + "</body></html>\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def apache_config(work: Path, backend: int, modsec: int) -> Path:
    recommended = RECOMMENDED.read_text()
    recommended = recommended.replace("SecRuleEngine DetectionOnly", "SecRuleEngine On")
    recommended = re.sub(
        r"(?m)^SecAuditLog .*$", f"SecAuditLog {work}/modsec_audit.log", recommended
    )
    recommended = re.sub(
        r"(?m)^SecUnicodeMapFile .*$", f"SecUnicodeMapFile {UNICODE_MAP} 20127", recommended
    )
    recommended = re.sub(r"(?m)^Sec(Tmp|Data)Dir .*$", rf"Sec\1Dir {work}", recommended)
    (work / "modsecurity.conf").write_text(recommended)
    (work / "www").mkdir()
    (work / "www" / "index.html").write_text(PAGE)
    modules = [
        "mpm_event",
        "authz_core",
        "mime",
        "dir",
        "proxy",
        "proxy_http",
        "unique_id",
        "security2",
    ]
    loads = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in modules)
    config = f"""
ServerRoot {work}
PidFile {work}/httpd.pid
ErrorLog {work}/error.log
LogLevel warn
ServerName localhost
{loads}
TypesConfig /etc/mime.types
Listen 127.0.0.1:{backend}
Listen 127.0.0.1:{modsec}
<IfModule mpm_event_module>
    StartServers 2
    ThreadsPerChild 64
    MaxRequestWorkers 256
</IfModule>
KeepAlive On
MaxKeepAliveRequests 0
Include {work}/modsecurity.conf
Include {CRS_SETUP}
Include {CRS_RULES}/*.conf
<VirtualHost 127.0.0.1:{backend}>
    SecRuleEngine Off
    DocumentRoot {work}/www
    <Directory {work}/www>
        Require all granted
    </Directory>
</VirtualHost>
<VirtualHost 127.0.0.1:{modsec}>
    SecRuleEngine On
    ProxyPass / http://127.0.0.1:{backend}/ keepalive=On
    ProxyPassReverse / http://127.0.0.1:{backend}/
</VirtualHost>
"""
    path = work / "httpd.conf"
    path.write_text(config)
    return path


def wrk(port: int, args: argparse.Namespace, pace: Path | None = None) -> dict[str, float]:
    command = [
        "wrk",
        *(["-s", str(pace)] if pace is not None else []),
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-H",
        "Host: localhost",
        "-H",
        "Accept: text/html",
        "-H",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench",
        f"http://127.0.0.1:{port}/index.html",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for label in ("50", "90", "99"):
        found = re.search(rf"\s{label}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if found:
            value, unit = float(found.group(1)), found.group(2)
            result[f"p{label}_ms"] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="stockade waf worker processes")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best kept")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=500.0,
        help="requests/s (all connections together) of the latency run",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for tool in ("apache2", "wrk"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
            print(
                f"needs {tool}: apt-get install apache2 libapache2-mod-security2 "
                "modsecurity-crs wrk"
            )
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench-waf-"))
    pace = work / "pace.lua"
    # wrk waits delay() ms before each request of a connection: drawn at random
    # (exponential, mean connections / rate), so the connections do not fire in step.
    mean_ms = args.connections / args.paced_rate * 1000
    pace.write_text(
        "math.randomseed(os.time())\n"
        "function delay()\n"
        f"  return math.floor(-math.log(1 - math.random()) * {mean_ms:.3f})\n"
        "end\n"
    )
    backend, modsec, ours = free_port(), free_port(), free_port()
    config = apache_config(work, backend, modsec)
    apache = shutil.which("apache2", path="/usr/sbin:/usr/bin") or "apache2"
    subprocess.run([apache, "-f", str(config), "-k", "start"], check=True)
    stockade = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("stockade")),
            "waf",
            "--listen",
            f"127.0.0.1:{ours}",
            "--upstream",
            f"http://127.0.0.1:{backend}",
            "--workers",
            str(args.workers),
            "--audit-log",
            str(work / "stockade-audit.jsonl"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for port in (backend, modsec, ours):
            wait_port(port)
        for port in (modsec, ours):  # both refuse an attack, both pass the page
            attack = subprocess.run(
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-H",
                    "Host: localhost",
                    f"http://127.0.0.1:{port}/index.html?id=1%27%20or%20%271%27%3D%271",
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if attack != "403":
                raise RuntimeError(f"127.0.0.1:{port} let an SQL injection through ({attack})")
        names = ("backend", "modsecurity", "stockade")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        paced: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name, port in zip(names, (backend, modsec, ours), strict=True):
                results[name].append(wrk(port, args))
                paced[name].append(wrk(port, args, pace))
        best = {name: max(runs, key=lambda r: r["rps"]) for name, runs in results.items()}
        # The paced run with the median p99 of each side.
        steady = {
            name: sorted(runs, key=lambda r: r.get("p99_ms", 0))[len(runs) // 2]
            for name, runs in paced.items()
        }
    finally:
        stockade.send_signal(signal.SIGTERM)
        stockade.wait(timeout=30)
        subprocess.run([apache, "-f", str(config), "-k", "stop"], check=False)
        time.sleep(1)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, best of "
        f"{args.rounds}; stockade workers: {args.workers}"
    )
    print(
        f"{'flat out':12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs ModSecurity':>15}"
        f" {'median req/s':>13} {'vs ModSecurity':>15}"
    )
    medians = {name: statistics.median(r["rps"] for r in runs) for name, runs in results.items()}
    for name in names:
        row = best[name]
        ratio = row["rps"] / best["modsecurity"]["rps"]
        print(
            f"{name:12} {row['rps']:9.0f} {row.get('p50_ms', 0):8.2f}"
            f" {row.get('p99_ms', 0):8.2f} {ratio:14.2f}x"
            f" {medians[name]:13.0f} {medians[name] / medians['modsecurity']:14.2f}x"
        )
    rounds = ", ".join(
        f"{s['rps'] / m['rps']:.2f}"
        for s, m in zip(results["stockade"], results["modsecurity"], strict=True)
    )
    print(f"stockade / modsecurity, round by round: {rounds}")
    base = steady["backend"]
    print(f"paced at {args.paced_rate:.0f} req/s (median p99 of {args.rounds} rounds)")
    print(f"{'':12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10}")
    for name in names:
        row = steady[name]
        added50 = row.get("p50_ms", 0) - base.get("p50_ms", 0)
        added99 = row.get("p99_ms", 0) - base.get("p99_ms", 0)
        print(
            f"{name:12} {row['rps']:9.0f} {row.get('p50_ms', 0):8.2f} {row.get('p99_ms', 0):8.2f}"
            f" {added50:10.2f} {added99:10.2f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": None}, "results": results, "paced": paced},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
