"""The Defender under an exec storm: 20,000 execs of /bin/true at a sustained 2,000/s.

Run as root, from the repository root:

    .venv/bin/python benchmarks/bench_defender.py                  # the docs' table
    .venv/bin/python benchmarks/bench_defender.py --rate 2000 --execs 20000 --repeat 3
    .venv/bin/python benchmarks/bench_defender.py \
        --rules tests/data/runtime/falco-rules/falco_rules.yaml
    .venv/bin/python benchmarks/bench_defender.py --profile        # + cProfile of the agent
    .venv/bin/python benchmarks/bench_defender.py --off open_records   # a sensor turned off

What one round does:

1. **Baseline.** The driver (this process) starts ``/bin/true`` with ``posix_spawn`` on a
   schedule of RATE per second (a start is due every 1/RATE s; when the driver falls
   behind it starts what is due at once, so the achieved rate shows whether it kept up)
   and reaps the children as they exit. It records the wall time from the first start
   to the last reap, the achieved start rate, each child's start-to-reap latency, and
   the CPU time of the driver and its children (``getrusage``).
2. **With the Defender.** The Defender agent (``stockade.runtime.agent.DefenderAgent``
   with the settings ``stockade defender run`` uses, built-in detections, no Falco rules
   unless ``--rules``) runs in another process (this script with ``--agent``), counting
   every ``execve`` event it judges. Once it is running the driver repeats step 1. The
   agent's CPU (utime + stime from ``/proc/PID/stat``) and RSS (``VmRSS``, sampled every
   50 ms; ``VmHWM`` at the end) are measured from the first start until it has caught
   up (its CPU use stays under 5 % for 0.5 s), then it is stopped with SIGTERM and
   reports what it saw.
3. **Loss.** ``ENOBUFS`` reports from the proc connector (the kernel dropped events),
   execs of the driver's children the Defender never saw, and execs it saw whose
   process was gone before ``/proc`` could be read (reported with only the pid and what
   the parent was; ``/bin/true`` lives about a millisecond).

Overhead is the with/without ratio of the wall time for the 20,000 execs (at a fixed
rate this stays near zero while the driver keeps up: the figure that moves is the
latency) and of the driver's CPU time. The machine is shared with other work: run
``--repeat`` and read the spread.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
TRUE = "/bin/true"
SENTINEL = "stk-bench-sentinel"
"""argv[0] of a sleep started after the storm: when the agent judges its exec, it has
judged every event before it."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the driver ------------------------------------------------------------------------


@dataclass
class DriverRun:
    execs: int
    rate: float
    wall: float = 0.0
    """First start to last reap."""
    start_span: float = 0.0
    """First start to last start."""
    latencies: list[float] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    cpu: float = 0.0
    """User + system seconds of the driver and its children."""

    @property
    def achieved(self) -> float:
        return (self.execs - 1) / self.start_span if self.start_span else 0.0


def _spawner(execs: int, rate: float, begin: float, out: int) -> None:
    """One driver process: start ``execs`` /bin/true on a schedule of ``rate`` per second
    from ``begin`` (a ``time.time()``), reap them, write what happened to fd ``out``."""
    argv = ["true"]
    env: dict[str, str] = {}
    started: dict[int, float] = {}
    pids: list[int] = []
    latencies: list[float] = []
    interval = 1.0 / rate
    while time.time() < begin:
        time.sleep(min(0.001, max(0.0, begin - time.time())))
    first = time.perf_counter()
    due = first
    last_start = first
    while len(pids) < execs or started:
        burst = 0
        # what is due, at most a few at a time so that reaping keeps pace
        while len(pids) < execs and due <= time.perf_counter() and burst < 4:
            pid = os.posix_spawn(TRUE, argv, env)
            last_start = time.perf_counter()
            started[pid] = last_start
            pids.append(pid)
            due += interval
            burst += 1
        while started:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            latencies.append(time.perf_counter() - started.pop(pid))
        if len(pids) < execs:
            pause = due - time.perf_counter()
            if pause > 0.0002:
                time.sleep(pause - 0.0001)
        elif started:
            pid, _ = os.waitpid(-1, 0)
            latencies.append(time.perf_counter() - started.pop(pid))
    end = time.perf_counter()
    offset = time.time() - time.perf_counter()
    report = {
        "first": first + offset,
        "last_start": last_start + offset,
        "end": end + offset,
        "pids": pids,
        "latencies": latencies,
    }
    with os.fdopen(out, "w") as handle:
        json.dump(report, handle)


def drive(execs: int, rate: float, spawners: int = 4) -> DriverRun:
    """Start ``execs`` /bin/true at ``rate`` per second from ``spawners`` processes (a
    ``posix_spawn`` waits until the child has executed, about a millisecond here, so one
    process alone cannot start 2,000 a second); reap them."""
    run = DriverRun(execs=execs, rate=rate)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.time() + 0.2
    workers: list[tuple[int, int]] = []
    for number in range(spawners):
        share = execs // spawners + (1 if number < execs % spawners else 0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the spawner
            os.close(read)
            try:
                # staggered so that the starts interleave evenly
                _spawner(share, rate / spawners, begin + number / rate, write)
            finally:
                os._exit(0)
        os.close(write)
        workers.append((pid, read))
    reports = []
    for pid, read in workers:
        with os.fdopen(read) as handle:
            reports.append(json.load(handle))
        os.waitpid(pid, 0)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    first = min(r["first"] for r in reports)
    run.wall = max(r["end"] for r in reports) - first
    run.start_span = max(r["last_start"] for r in reports) - first
    run.pids = [pid for r in reports for pid in r["pids"]]
    run.latencies = [latency for r in reports for latency in r["latencies"]]
    run.cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    return run


# -- the agent, in its own process -------------------------------------------------------


def agent_main(
    data_dir: Path, out: Path, rules: list[str], profile: Path | None, off: list[str]
) -> None:
    """Run the Defender agent until SIGTERM; write what it saw to ``out``."""
    from stockade.runtime.agent import AgentSettings, DefenderAgent
    from stockade.runtime.events import Event, ProcessEvent
    from stockade.runtime.incidents import Incident
    from stockade.runtime.rules import load_rules

    class CountingAgent(DefenderAgent):
        """The real agent, noting each execve it judges (pid, executable)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.execs: list[tuple[int, str, str]] = []

        def handle(self, event: Event) -> Incident | None:
            if isinstance(event, ProcessEvent) and event.type == "execve":
                process = event.process
                self.execs.append((process.pid, process.exepath, process.name))
                if event.process.exe == SENTINEL:
                    # events are judged in order: everything before it has been
                    times = os.times()
                    (data_dir / "caught-up").write_text(
                        json.dumps({"at": time.time(), "cpu": times.user + times.system})
                    )
            return super().handle(event)

    ruleset = load_rules(rules).ruleset if rules else None
    log = (data_dir / "incidents.jsonl").open("a")
    switches = dict.fromkeys(off, False)
    agent = CountingAgent(AgentSettings(data_dir=data_dir, rules=ruleset, log=log, **switches))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        original = agent._process_loop

        def profiled() -> None:
            profiler.enable()
            try:
                original()
            finally:
                profiler.disable()

        agent._process_loop = profiled  # type: ignore[method-assign]
    agent.start()
    (data_dir / "ready").write_text(str(os.getpid()))
    stop.wait()
    agent.stop()
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    connector = agent._connector
    out.write_text(
        json.dumps(
            {
                "execs": agent.execs,
                "lost": agent.lost_events,
                "received": connector.received if connector else 0,
                "vanished": agent.tracker.vanished,
                "from_records": agent.tracker.from_records,
                "records_lost": agent.tracker.execs.lost if agent.tracker.execs else -1,
                "events": agent.events_seen,
                "incidents": len(agent.incidents),
            }
        )
    )


@dataclass
class AgentSample:
    cpu_burst: float = 0.0
    """Agent CPU seconds during the driver's run."""
    cpu_catch_up: float = 0.0
    """Agent CPU seconds from the first start until it was idle again."""
    catch_up: float = 0.0
    """Seconds after the last reap until the agent was idle."""
    rss_max: int = 0
    hwm: int = 0
    rss_idle: int = 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.rss_max = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            try:
                self.rss_max = max(self.rss_max, _status_kib(self.pid, "VmRSS"))
            except OSError:
                return


def with_agent(
    execs: int, rate: float, rules: list[str], profile: Path | None, off: list[str]
) -> tuple[DriverRun, AgentSample, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="stk-bench-defender-") as temporary:
        data = Path(temporary)
        out = data / "agent.json"
        command = [sys.executable, __file__, "--agent", str(data), str(out)]
        for path in rules:
            command += ["--rules", path]
        if profile:
            command += ["--profile-to", str(profile)]
        for setting in off:
            command += ["--off", setting]
        agent = subprocess.Popen(command)
        deadline = time.monotonic() + 120
        while not (data / "ready").exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the agent did not start")
            time.sleep(0.05)
        time.sleep(1.0)  # let the start-up settle (seeding, first network poll)
        sample = AgentSample(rss_idle=_status_kib(agent.pid, "VmRSS"))
        sampler = Sampler(agent.pid)
        sampler.start()
        cpu_before = _cpu_seconds(agent.pid)
        run = drive(execs, rate)
        finished = time.time()
        sample.cpu_burst = _cpu_seconds(agent.pid) - cpu_before
        sentinel = subprocess.Popen([SENTINEL, "600"], executable="/bin/sleep")
        try:
            deadline = time.monotonic() + 900
            while not (data / "caught-up").exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the agent did not catch up in 15 minutes")
                time.sleep(0.02)
            time.sleep(0.05)  # the file is written in one go; let it land
            caught = json.loads((data / "caught-up").read_text())
        finally:
            sentinel.kill()
            sentinel.wait()
        sample.catch_up = max(0.0, caught["at"] - finished)
        sample.cpu_catch_up = caught["cpu"] - cpu_before
        sampler.halt.set()
        sampler.join()
        sample.rss_max = sampler.rss_max
        sample.hwm = _status_kib(agent.pid, "VmHWM")
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        seen = json.loads(out.read_text())
        return run, sample, seen


# -- report ----------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loss(run: DriverRun, seen: dict[str, Any]) -> dict[str, int]:
    mine = set(run.pids)
    seen_as: dict[int, list[tuple[str, str]]] = {}
    for pid, exepath, name in seen["execs"]:
        if pid in mine:
            seen_as.setdefault(pid, []).append((exepath, name))
    true_path = os.path.realpath(TRUE)
    with_path = sum(
        1 for views in seen_as.values() if any(p in (true_path, TRUE) for p, _ in views)
    )
    with_name = sum(1 for views in seen_as.values() if any(n == "true" for _, n in views))
    return {
        "execs": len(mine),
        "seen": len(seen_as),
        "not_seen": len(mine) - len(seen_as),
        "seen_with_path": with_path,
        "seen_with_name_only": with_name - with_path,
        "seen_as_parent_only": len(seen_as) - with_name,
        "enobufs": int(seen["lost"]),
        "gone_before_proc_read": int(seen["vanished"]),
        "described_from_exec_records": int(seen["from_records"]),
        "exec_records_lost": int(seen["records_lost"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rules", action="append", default=[], help="Falco rules for the agent")
    parser.add_argument("--profile", action="store_true", help="cProfile the sensor thread")
    parser.add_argument(
        "--off",
        action="append",
        default=[],
        choices=["open_records", "exec_records", "file_sensor", "dns_names"],
        help="turn one of the agent's sensors off (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--agent", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agent:
        agent_main(Path(args.agent[0]), Path(args.agent[1]), args.rules, args.profile_to, args.off)
        return 0
    if os.geteuid() != 0:
        print("run as root: the Defender reads the kernel's proc connector", file=sys.stderr)
        return 2
    rounds = []
    for number in range(1, args.repeat + 1):
        baseline = drive(args.execs, args.rate)
        profile = Path(tempfile.mkstemp(suffix=".prof")[1]) if args.profile else None
        run, agent, seen = with_agent(args.execs, args.rate, args.rules, profile, args.off)
        lost = loss(run, seen)
        figures = {
            "round": number,
            "baseline_wall_s": round(baseline.wall, 3),
            "baseline_rate": round(baseline.achieved),
            "baseline_cpu_s": round(baseline.cpu, 3),
            "baseline_latency_p50_ms": round(_percentile(baseline.latencies, 0.5) * 1e3, 3),
            "baseline_latency_p99_ms": round(_percentile(baseline.latencies, 0.99) * 1e3, 3),
            "defender_wall_s": round(run.wall, 3),
            "defender_rate": round(run.achieved),
            "defender_cpu_s": round(run.cpu, 3),
            "defender_latency_p50_ms": round(_percentile(run.latencies, 0.5) * 1e3, 3),
            "defender_latency_p99_ms": round(_percentile(run.latencies, 0.99) * 1e3, 3),
            "overhead_wall_pct": round((run.wall / baseline.wall - 1) * 100, 2),
            "overhead_cpu_pct": round((run.cpu / baseline.cpu - 1) * 100, 2),
            "agent_cores_during": round(agent.cpu_burst / run.wall, 3),
            "agent_cpu_s_total": round(agent.cpu_catch_up, 3),
            "agent_cores_until_caught_up": round(
                agent.cpu_catch_up / (run.wall + agent.catch_up), 3
            ),
            "agent_catch_up_s": round(agent.catch_up, 2),
            "agent_rss_idle_mb": round(agent.rss_idle / 1024, 1),
            "agent_rss_max_mb": round(agent.rss_max / 1024, 1),
            "agent_hwm_mb": round(agent.hwm / 1024, 1),
            "events_judged": seen["events"],
            "agent_cpu_us_per_event": round(agent.cpu_catch_up / max(1, seen["events"]) * 1e6),
            **lost,
        }
        rounds.append(figures)
        if profile is not None:
            print(f"profile of the sensor thread: {profile}", file=sys.stderr)
            pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(30)
        if not args.json:
            for key, value in figures.items():
                print(f"{key:>32}: {value}")
            print()
    if args.json:
        print(json.dumps(rounds, indent=2))
    if len(rounds) > 1 and not args.json:
        for key in ("overhead_wall_pct", "overhead_cpu_pct", "agent_cores_until_caught_up"):
            values = [r[key] for r in rounds]
            print(
                f"{key}: median {statistics.median(values)} (min {min(values)}, max {max(values)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
