"""The Defender's judgement on events as data: models learn then flag deviations, built-in
detections fire with explanations, exceptions and actions apply, repeats are folded.
(The same code on real containers: tests/runtime/test_defender_containers.py.)"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest

from stockade.runtime.defender import Defender, DefenderPolicy, PolicyError
from stockade.runtime.events import Container, FileEvent, NetworkEvent, Process, ProcessEvent
from stockade.runtime.incidents import Action, Incident
from stockade.runtime.models import (
    ModelError,
    ModelState,
    ModelStore,
    export_models,
    import_models,
)
from stockade.runtime.rules import load_rules_text

S = 1_000_000_000
WEB = Container(id="abcdef012345", name="web-1", image="shop/web:1.2", start_ts=1 * S)
SHELL_PARENT = Process(pid=10, name="node", exe="node", exepath="/usr/bin/node", container=WEB)


def proc(exe: str, *args: str, pid: int = 100, **kw: object) -> Process:
    path = kw.pop("exepath", exe if exe.startswith("/") else f"/usr/bin/{exe}")
    return Process(
        pid=pid,
        name=os.path.basename(exe)[:15],
        exe=exe,
        exepath=str(path),
        args=args,
        container=WEB,
        parent=SHELL_PARENT,
        **kw,  # type: ignore[arg-type]
    )


def execve(process: Process, ts: int) -> ProcessEvent:
    return ProcessEvent(type="execve", process=process, ts=ts)


def listen(port: int, ts: int) -> NetworkEvent:
    return NetworkEvent(
        type="listen",
        process=proc("node", pid=10),
        server_ip=ipaddress.ip_address("0.0.0.0"),  # noqa: S104  # data, binds nothing
        server_port=port,
        ts=ts,
    )


def connect(address: str, port: int, ts: int, process: Process | None = None) -> NetworkEvent:
    return NetworkEvent(
        type="connect",
        process=process or proc("node", pid=10),
        client_ip=ipaddress.ip_address("10.0.0.9"),
        client_port=40000,
        server_ip=ipaddress.ip_address(address),
        server_port=port,
        ts=ts,
    )


def learned_defender(tmp_path: Path, **kw: object) -> tuple[Defender, list[Incident]]:
    """A Defender whose model for shop/web learned for 60 s (node, port 8080, db:5432)."""
    seen: list[Incident] = []
    store = ModelStore(tmp_path / "models", learning_seconds=60, dry_run_seconds=0)
    defender = Defender(store, sinks=[seen.append], act=False, **kw)  # type: ignore[arg-type]
    for second in range(0, 62, 2):
        ts = (second + 2) * S
        defender.handle(execve(proc("node", "server.js", pid=10), ts))
        defender.handle(listen(8080, ts))
        defender.handle(connect("10.0.0.5", 5432, ts))
    return defender, seen


def test_normal_activity_after_learning_raises_nothing(tmp_path: Path) -> None:
    defender, seen = learned_defender(tmp_path)
    model = defender.models.get("shop/web:1.2")
    assert model is not None
    assert model.state is ModelState.ACTIVE
    assert model.processes == {"/usr/bin/node"}
    assert model.listening == {"tcp/8080"}
    assert model.outbound == {"tcp/10.0.0.5:5432"}
    for ts in range(70, 80):
        assert defender.handle(execve(proc("node", "server.js", pid=ts), ts * S)) is None
        assert defender.handle(connect("10.0.0.6", 5432, ts * S)) is None  # new IP, known port
    assert seen == []


def test_deviations_explain_themselves(tmp_path: Path) -> None:
    defender, seen = learned_defender(tmp_path)
    incident = defender.handle(execve(proc("nc", "-z", "10.0.0.1", "80"), 100 * S))
    assert incident is not None
    assert incident.rule == "model:process"
    assert incident.priority.label == "warning"
    assert incident.explanation == (
        "`nc -z 10.0.0.1 80` (pid 100): /usr/bin/nc was never seen in 1 min of learning "
        "for image shop/web:1.2"
    )
    assert defender.handle(listen(9999, 101 * S)).rule == "model:listen"  # type: ignore[union-attr]
    outbound = defender.handle(connect("127.0.0.1", 4444, 102 * S))
    assert outbound is not None
    assert outbound.rule == "model:outbound"
    assert "port 4444 was never connected to in 1 min of learning" in outbound.explanation
    assert [i.rule for i in seen] == ["model:process", "model:listen", "model:outbound"]
    record = outbound.record()
    assert record["image"] == "shop/web:1.2"
    assert record["processTree"][1]["name"] == "node"
    assert record["event"]["serverPort"] == 4444


def test_builtins_fire_during_learning_and_lead_over_model_findings(tmp_path: Path) -> None:
    seen: list[Incident] = []
    defender = Defender(ModelStore(tmp_path / "m", learning_seconds=3600), sinks=[seen.append])
    apt = defender.handle(execve(proc("apt-get", "install", "-y", "curl"), 5 * S))
    assert apt is not None
    assert (apt.rule, apt.priority.label) == ("builtin:package-manager", "error")
    shell = proc("/bin/sh", "-i", stdio=("socket:[4242]",) * 3, pid=101)
    reverse = defender.handle(execve(shell, 6 * S))
    assert reverse is not None
    assert reverse.rule == "builtin:reverse-shell"
    assert reverse.priority.label == "critical"
    assert "socket:[4242]" in reverse.explanation
    # a shell on a terminal is no reverse shell
    assert defender.handle(execve(proc("/bin/sh", stdio=("/dev/pts/0",) * 3, pid=7), 7 * S)) is None
    shadow = FileEvent(
        type="openat", process=proc("cat", "/etc/shadow"), path="/etc/shadow", ts=8 * S
    )
    read = defender.handle(shadow)
    assert read is not None
    assert read.rule == "builtin:sensitive-read"
    written = proc("/tmp/x", exepath="/tmp/x", exe_ino_ctime=2 * S, pid=9)
    drifted = defender.handle(execve(written, 9 * S))
    assert drifted is not None
    assert drifted.rule == "builtin:drift"
    assert "written or changed after the container started" in drifted.explanation
    miner = defender.handle(execve(proc("xmrig", "-o", "stratum+tcp://pool:3333", pid=11), 10 * S))
    assert miner is not None
    assert miner.rule == "builtin:crypto-miner"
    metadata = defender.handle(connect("169.254.169.254", 80, 11 * S))
    assert metadata is not None
    assert metadata.rule == "builtin:cloud-metadata"


def test_a_shell_in_a_container_that_never_ran_one(tmp_path: Path) -> None:
    defender, _ = learned_defender(tmp_path)
    incident = defender.handle(execve(proc("/bin/bash", pid=55), 100 * S))
    assert incident is not None
    assert incident.rule == "model:shell"
    assert incident.fields["alsoMatched"][0]["rule"] == "model:process"


def test_dry_run_reports_without_acting(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "m", learning_seconds=10, dry_run_seconds=3600)
    policy = DefenderPolicy(default=Action.PREVENT)
    defender = Defender(store, policy=policy, act=False)
    for ts in range(1, 13):
        defender.handle(execve(proc("node", pid=10), ts * S))
    model = store.get("shop/web:1.2")
    assert model is not None
    assert model.state is ModelState.DRY_RUN
    incident = defender.handle(execve(proc("nc"), 20 * S))
    assert incident is not None
    assert (incident.outcome, incident.action) == ("dry-run", Action.ALERT)


def test_exceptions_and_repeats(tmp_path: Path) -> None:
    policy = DefenderPolicy.from_yaml(
        "exceptions:\n  - {rule: 'model:process', image: 'shop/*', process: '*/curl'}\n"
    )
    defender, _ = learned_defender(tmp_path, policy=policy)
    assert defender.handle(execve(proc("curl", "-s", "http://x"), 100 * S)) is None
    assert defender.handle(execve(proc("wget", pid=1), 101 * S)) is not None
    assert defender.handle(execve(proc("wget", pid=2), 102 * S)) is None  # repeat, folded
    assert defender.suppressed == 1
    assert defender.handle(execve(proc("wget", pid=3), 200 * S)) is not None
    with pytest.raises(PolicyError):
        DefenderPolicy.from_yaml("default: obliterate\n")


def test_prevent_kills_the_process(tmp_path: Path) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    policy = DefenderPolicy(actions=[("builtin:package-manager", Action.PREVENT)])
    defender = Defender(ModelStore(tmp_path / "m"), policy=policy)
    incident = defender.handle(execve(proc("pip", "install", "x", pid=victim.pid), 5 * S))
    assert incident is not None
    assert incident.outcome == "killed"
    assert victim.wait(timeout=5) == -9


def test_falco_rules_join_in(tmp_path: Path) -> None:
    loaded = load_rules_text(
        [
            (
                "netcat.yaml",
                "- rule: Netcat in container\n"
                "  desc: nc\n"
                "  condition: evt.type = execve and proc.name = nc and container.id != host\n"
                "  output: netcat %proc.cmdline in %container.name\n"
                "  priority: CRITICAL\n",
            )
        ]
    )
    loaded.raise_for_errors()
    defender = Defender(ModelStore(tmp_path / "m"), rules=loaded.ruleset)
    incident = defender.handle(execve(proc("nc", "-l"), 5 * S))
    assert incident is not None
    assert (incident.rule, incident.source) == ("Netcat in container", "falco")
    assert incident.explanation == "netcat nc -l in web-1"


def test_models_persist_export_and_import(tmp_path: Path) -> None:
    defender, _ = learned_defender(tmp_path)
    assert defender.models.save() == 1
    again = ModelStore(tmp_path / "models")
    model = again.get("shop/web:1.2")
    assert model is not None
    assert (model.state, model.processes) == (ModelState.ACTIVE, {"/usr/bin/node"})
    text = export_models(again)
    edited = text.replace("- tcp/8080", "- tcp/8080\n  - tcp/9090")
    (imported,) = import_models(edited)
    assert imported.listening == {"tcp/8080", "tcp/9090"}
    with pytest.raises(ModelError, match=r"models\[0\]: processes must be a list"):
        import_models("models:\n- {key: a, image: a, processes: nope}\n")
    (tmp_path / "models" / "broken.yaml").write_text("key: [unclosed\n")
    assert len(ModelStore(tmp_path / "models").errors) == 1


def test_one_attack_one_incident(tmp_path: Path) -> None:
    defender, seen = learned_defender(tmp_path)
    shell = proc("/bin/sh", stdio=("socket:[9]",) * 3, pid=300)
    assert defender.handle(execve(shell, 100 * S)).rule == "builtin:reverse-shell"  # type: ignore[union-attr]
    # the reverse shell's own new connection is part of it, not a second incident
    assert defender.handle(connect("127.0.0.1", 4444, 100 * S, process=shell)) is None
    # two deviations of equal weight by one process are both told
    node = proc("node", pid=10)
    assert defender.handle(listen(9999, 101 * S)).rule == "model:listen"  # type: ignore[union-attr]
    assert defender.handle(connect("10.0.0.7", 6379, 102 * S, process=node)) is not None
    assert [i.rule for i in seen] == ["builtin:reverse-shell", "model:listen", "model:outbound"]
