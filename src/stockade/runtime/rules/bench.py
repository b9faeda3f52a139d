"""Evaluation speed: events per second through a loaded rule set, in pure Python.

    python -m stockade.runtime.rules.bench RULES.yaml [--events N]

The events are a mix a busy container host produces: process starts (most of them
ordinary, a few that some rule flags), file opens for reading and writing, and outbound
connections. Each event goes through :meth:`RuleSet.match` as the Defender will send it.
"""

from __future__ import annotations

import argparse
import os
import time
from ipaddress import ip_address

from stockade.runtime.events import Container, Event, FileEvent, NetworkEvent, Process, ProcessEvent
from stockade.runtime.rules import load_rules


def event_mix() -> list[Event]:
    """One of each kind of event the benchmark cycles through."""
    pod = Container(id="0123456789ab", image_repository="docker.io/library/nginx", privileged=False)
    init = Process(
        pid=1, name="containerd-shim", exe="containerd-shim", exepath="/usr/bin/containerd-shim"
    )
    nginx = Process(
        pid=100,
        name="nginx",
        exe="nginx",
        exepath="/usr/sbin/nginx",
        container=pod,
        parent=init,
        uid=0,
        user_name="root",
        start_ts=0,
    )
    worker = Process(
        pid=101,
        name="nginx",
        exe="nginx",
        exepath="/usr/sbin/nginx",
        args=("-g", "daemon off;"),
        container=pod,
        parent=nginx,
        uid=33,
        user_name="www-data",
        start_ts=0,
    )
    sh = Process(
        pid=102,
        name="sh",
        exe="sh",
        exepath="/bin/sh",
        args=("-c", "ls /tmp"),
        container=pod,
        parent=worker,
        uid=33,
        user_name="www-data",
        start_ts=0,
    )
    grep = Process(
        pid=103,
        name="grep",
        exe="grep",
        exepath="/usr/bin/grep",
        args=("-r", "BEGIN RSA PRIVATE", "/"),
        container=pod,
        parent=sh,
        start_ts=0,
    )
    ts = 10 * 10**9
    return [
        ProcessEvent("execve", worker, ts=ts),
        ProcessEvent("execve", sh, ts=ts),
        ProcessEvent("execve", grep, ts=ts),
        ProcessEvent("clone", worker, ts=ts),
        ProcessEvent("procexit", sh, ts=ts),
        FileEvent(
            "openat",
            worker,
            path="/usr/share/nginx/html/index.html",
            flags=os.O_RDONLY,
            fd=7,
            ts=ts,
        ),
        FileEvent(
            "openat",
            worker,
            path="/var/log/nginx/access.log",
            flags=os.O_WRONLY | os.O_APPEND,
            fd=8,
            ts=ts,
        ),
        FileEvent("openat", sh, path="/etc/shadow", flags=os.O_RDONLY, fd=3, ts=ts),
        NetworkEvent(
            "connect",
            worker,
            client_ip=ip_address("10.0.0.5"),
            client_port=41000,
            server_ip=ip_address("10.0.0.9"),
            server_port=5432,
            fd=9,
            ts=ts,
        ),
        NetworkEvent(
            "accept4",
            worker,
            client_ip=ip_address("10.0.0.7"),
            client_port=52000,
            server_ip=ip_address("10.0.0.5"),
            server_port=80,
            fd=10,
            ts=ts,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rules", nargs="+")
    parser.add_argument("--events", type=int, default=200_000)
    options = parser.parse_args()
    loaded = load_rules(options.rules)
    loaded.raise_for_errors()
    ruleset = loaded.ruleset
    mix = event_mix()
    events = [mix[i % len(mix)] for i in range(options.events)]
    alerts = 0
    started = time.perf_counter()
    for event in events:
        alerts += len(ruleset.match(event))
    elapsed = time.perf_counter() - started
    print(
        f"{len(ruleset)} rules, {len(events)} events in {elapsed:.2f} s: "
        f"{len(events) / elapsed:,.0f} events/s, {alerts} alerts"
    )


if __name__ == "__main__":
    main()
