"""``stockade defender``: ``rules check`` (what loads, what is disabled, errors, exit
codes); ``run`` (options, root, a real Defender process stopped by signals, reporting to a
real Console, its policy cached for when the Console is down); ``models``; and
``stockade forensics``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from tests.console import conftest as console_fixtures
from tests.console.conftest import RunningConsole

from stockade.cli.defender import data_dir_lock, parse_duration
from stockade.cli.main import main
from stockade.console.roles import Role
from stockade.runtime.defender import Defender
from stockade.runtime.events import Container, Process, ProcessEvent
from stockade.runtime.incidents import Incident
from stockade.runtime.models import Model, ModelState, ModelStore, export_models
from stockade.runtime.recorder import FlightRecorder
from stockade.runtime.rules import load_rules_text
from stockade.runtime.sensors.procconn import ProcConnector, SensorUnavailable

DATA = Path(__file__).parents[1] / "data" / "runtime"
STABLE = DATA / "falco-rules" / "falco_rules.yaml"
LEGACY = DATA / "falco-legacy-regression" / "rules"
STOCKADE = [sys.executable, "-c", "from stockade.cli.main import run; run()"]

# The Console's fixtures (a real store, a live server) for the end-to-end test.
postgres = console_fixtures.postgres
database_url = console_fixtures.database_url
config = console_fixtures.config
store = console_fixtures.store
console = console_fixtures.console


def test_the_stable_rules_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["defender", "rules", "check", str(STABLE)]) == 0
    out = capsys.readouterr().out
    assert "25 rules, 20 loaded, 5 disabled (5 unobserved_event_types), 0 errors" in out
    assert (
        "disabled: rule 'PTRACE anti-debug attempt': matches only event types our sensors "
        "do not report: ptrace"
    ) in out


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = DATA / "falco-rules" / "falco-sandbox_rules.yaml"
    assert main(["defender", "rules", "check", "-f", "json", str(sandbox)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["files"][0]["loaded"] == len(report["loaded"]) == 23
    [mounts] = [d for d in report["disabled"] if d["kind"] == "unsupported_fields"]
    assert "container.mount.dest[/proc*]" in mounts["missing_fields"]
    assert isinstance(mounts["line"], int)


def test_errors_exit_1_with_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    files = [LEGACY / "invalid_base_macro.yaml", LEGACY / "invalid_append_macro.yaml"]
    assert main(["defender", "rules", "check", *map(str, files)]) == 1
    captured = capsys.readouterr()
    assert (
        f"{files[1]}:1: error: macro 'some macro': condition: expected 'and', 'or'" in captured.out
    )
    assert "[LOAD_ERR_COMPILE_CONDITION]" in captured.out
    assert "[LOAD_UNUSED_MACRO]" in captured.out
    assert "1 error(s) in the rules files" in captured.err


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["defender", "rules", "check", str(tmp_path / "nope.yaml")]) == 2
    assert main(["defender", "rules", "check"]) == 2


# -- defender run: options ---------------------------------------------------------------


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("1h") == 3600
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2d") == 172800
    assert parse_duration("45") == 45
    with pytest.raises(click.BadParameter, match="not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--learning", "soon"], "'soon' is not a duration"),
        (["--token", "stk_x"], "--token and --console-ca go with --console URL"),
        (["--console", "https://console.example"], "--console needs the Defender's token"),
        (["--console", "ftp://console.example", "--token", "t"], "is not an http(s):// URL"),
    ],
)
def test_run_refuses_bad_options(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STOCKADE_DEFENDER_TOKEN", raising=False)
    code = main(["defender", "run", "--data-dir", str(tmp_path / "d"), *arguments])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_run_refuses_a_bad_policy_or_rules_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("default: explode\n")
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["defender", "run", *data, "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert f"the policy file is not usable: {policy}: 'explode' is not a valid Action" in err
    assert "hint: actions are alert, prevent or stop" in err
    policy.write_text("exceptions:\n  - {rule: x, user: root}\n")
    assert main(["defender", "run", *data, "--policy", str(policy)]) == 2
    assert "user" in capsys.readouterr().err
    broken = LEGACY / "invalid_not_yaml.yaml"
    assert main(["defender", "run", *data, "--rules", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "error(s) in the rules files" in err
    assert "stockade defender rules check" in err
    assert not (tmp_path / "d").exists()


def test_run_needs_root_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["defender", "run", "--data-dir", str(tmp_path / "d")]
    if os.geteuid() != 0:
        assert main(arguments) == 5
        err = capsys.readouterr().err
    else:
        unshare = shutil.which("unshare")
        if unshare is None:
            pytest.skip("needs unshare (util-linux) to run without root")
        # in a new user namespace without a mapping we are nobody (uid 65534)
        done = subprocess.run(
            [unshare, "--user", *STOCKADE, *arguments],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 5, done.stderr
        err = done.stderr
    assert "error: the Defender needs root" in err
    assert "hint: run it as root" in err
    assert "Traceback" not in err
    assert not (tmp_path / "d").exists()


# -- models --------------------------------------------------------------------------------


def _models(data: Path) -> None:
    store = ModelStore(data / "models")
    web = Model(key="shop/web:1.2", image="shop/web:1.2", state=ModelState.ACTIVE)
    web.processes.update({"/usr/bin/node", "/bin/busybox[sh]"})
    web.listening.add("tcp/8080")
    db = Model(key="prod/db:16", image="db:16", namespace="prod", observed_seconds=125)
    db.outbound.add("tcp/10.0.0.5:5432")
    store.put(web)
    store.put(db)
    store.save()


def test_models_list_export_and_import_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _models(tmp_path / "a")
    assert main(["defender", "models", "list", "--data-dir", str(tmp_path / "a")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["MODEL", "STATE", "OBSERVED", "PROCS", "PORTS", "OUTBOUND", "DIRS"]
    assert table[1].split() == ["prod/db:16", "learning", "2m", "0", "0", "1", "0"]
    assert table[2].split() == ["shop/web:1.2", "active", "0s", "2", "1", "0", "0"]
    exported = tmp_path / "models.yaml"
    assert (
        main(
            ["defender", "models", "export", "--data-dir", str(tmp_path / "a"), "-o", str(exported)]
        )
        == 0
    )
    assert (
        main(["defender", "models", "import", str(exported), "--data-dir", str(tmp_path / "b")])
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "imported prod/db:16 (learning)",
        "imported shop/web:1.2 (active)",
    ]
    assert (
        main(["defender", "models", "list", "-f", "json", "--data-dir", str(tmp_path / "b")]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["state"], r["processes"], r["namespace"]) for r in rows] == [
        ("prod/db:16", "learning", 0, "prod"),
        ("shop/web:1.2", "active", 2, None),
    ]
    copied = {m.key: m for m in ModelStore(tmp_path / "b" / "models")}
    assert copied["shop/web:1.2"].processes == {"/usr/bin/node", "/bin/busybox[sh]"}
    assert main(["defender", "models", "export", "--data-dir", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out == exported.read_text()


def _bad_export(tmp_path: Path, change: str) -> Path:
    _models(tmp_path / "src")
    text = export_models(sorted(ModelStore(tmp_path / "src" / "models"), key=lambda m: m.key))
    document = yaml.safe_load(text)
    web = document["models"][1]
    if change == "state":
        web["state"] = "sleeping"
    elif change == "image":
        del web["image"]
    elif change == "processes":
        web["processes"] = "/usr/bin/node"
    elif change == "twice":
        document["models"].append(dict(web))
    path = tmp_path / f"{change}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("state", "model 'shop/web:1.2': 'sleeping' is not a valid ModelState"),
        ("image", "model 'shop/web:1.2': missing 'image'"),
        ("processes", "model 'shop/web:1.2': processes must be a list of strings"),
        ("twice", "model 'shop/web:1.2' appears twice"),
    ],
)
def test_models_import_names_the_bad_model_and_writes_nothing(
    change: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_export(tmp_path, change)
    target = tmp_path / "target"
    assert main(["defender", "models", "import", str(path), "--data-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: {message}" in err
    assert not (target / "models").exists()  # prod/db:16 was valid, and not written either


def test_models_import_refuses_not_yaml_and_a_running_defender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    assert main(["defender", "models", "import", str(bad), "--data-dir", str(tmp_path / "d")]) == 2
    assert f"{bad}: not YAML" in capsys.readouterr().err
    bad.write_text("- just a list\n")
    assert main(["defender", "models", "import", str(bad), "--data-dir", str(tmp_path / "d")]) == 2
    assert "expected a mapping with a 'models' list" in capsys.readouterr().err
    _models(tmp_path / "src")
    good = tmp_path / "good.yaml"
    assert (
        main(["defender", "models", "export", "--data-dir", str(tmp_path / "src"), "-o", str(good)])
        == 0
    )
    with data_dir_lock(tmp_path / "d", purpose="run the Defender"):
        code = main(["defender", "models", "import", str(good), "--data-dir", str(tmp_path / "d")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"is in use (pid {os.getpid()}: run the Defender): cannot import models" in err
    assert main(["defender", "models", "import", str(good), "--data-dir", str(tmp_path / "d")]) == 0


def test_models_of_an_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["defender", "models", "list", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no models in {tmp_path}\n"
    assert main(["defender", "models", "export", "--data-dir", str(tmp_path)]) == 2
    assert f"no models in {tmp_path}" in capsys.readouterr().err


# -- forensics -------------------------------------------------------------------------------

MARKER = "Stockade test marker"
MARKER_RULE = """
- rule: Stockade test marker
  desc: a test's marker program ran
  condition: evt.type = execve and proc.name startswith "stk-marker"
  output: marker ran (%proc.exepath)
  priority: WARNING
"""


def test_forensics_export_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = FlightRecorder(tmp_path / "recorder")
    incidents: list[Incident] = []
    defender = Defender(
        ModelStore(tmp_path / "models"),
        rules=load_rules_text([("marker.yaml", MARKER_RULE)]).ruleset,
        sinks=[incidents.append],
        act=False,
    )
    web = Container(id="abcdef012345", name="web-1", image="shop/web:1.2")
    for pid, exe in enumerate(["/usr/bin/node", "/bin/sh", "/tmp/stk-marker-a"], 100):
        process = Process(pid=pid, name=Path(exe).name, exe=exe, exepath=exe, container=web)
        event = ProcessEvent(type="execve", process=process, ts=pid * 1_000_000_000)
        recorder.record(event)
        defender.handle(event)
    [incident] = incidents
    recorder.freeze(incident)
    recorder.close()
    out = tmp_path / "bundle.jsonl"
    arguments = ["forensics", "export", incident.id, "--data-dir", str(tmp_path)]
    assert main([*arguments, "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["incident"]["id"] == incident.id
    assert records[0]["incident"]["explanation"] == "marker ran (/tmp/stk-marker-a)"
    assert [r["process"]["exepath"] for r in records[1:]] == [
        "/usr/bin/node",
        "/bin/sh",
        "/tmp/stk-marker-a",
    ]
    assert main(arguments) == 0  # to standard output
    assert capsys.readouterr().out == out.read_text()
    assert main(["forensics", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{incident.id}  ")
    assert "warning   Stockade test marker  web-1: Stockade test marker" in listed


def test_forensics_export_of_an_unknown_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["forensics", "export", "0123456789abcdef", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no incident 0123456789abcdef in {tmp_path / 'recorder'}" in err
    assert "hint: `stockade forensics list`" in err
    assert main(["forensics", "export", "../../etc/passwd", "--data-dir", str(tmp_path)]) == 2
    assert "not an incident id" in capsys.readouterr().err


# -- defender run: the real thing (root) ---------------------------------------------------


def _root_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the proc connector and every process's /proc)"
    try:
        ProcConnector().close()
    except SensorUnavailable as exc:
        return f"the proc connector is unavailable: {exc}"
    return None


needs_root = pytest.mark.skipif(_root_skip_reason() is not None, reason=str(_root_skip_reason()))


class RunningDefender:
    """``stockade defender run`` in its own process, as an operator starts it."""

    def __init__(self, tmp_path: Path, *arguments: str, env: dict[str, str] | None = None):
        self.log = tmp_path / "incidents.jsonl"
        self.stderr_path = tmp_path / f"defender-{time.monotonic_ns()}.err"
        self._stderr = self.stderr_path.open("w")
        self.process = subprocess.Popen(  # our own CLI
            [
                *STOCKADE,
                "defender",
                "run",
                "--data-dir",
                str(tmp_path / "data"),
                "--log",
                str(self.log),
                "--no-network",
                *arguments,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
        )
        self.wait_for_stderr("running on")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_stderr(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"no {text!r} from the Defender:\n{self.stderr}")
            time.sleep(0.05)

    def incidents(self) -> list[dict[str, Any]]:
        """The markers' incidents (other work on this machine may raise others)."""
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [incident for incident in found if incident["rule"] == MARKER]

    def wait_for_incident(self, marker: Path, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for incident in self.incidents():
                if incident["explanation"] == f"marker ran ({marker})":
                    return incident
            time.sleep(0.05)
        raise AssertionError(f"no incident for {marker}:\n{self.stderr}")

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            code = self.process.wait(timeout=30)
        finally:
            self._stderr.close()
        return code


def _markers(tmp_path: Path) -> tuple[Path, Path, Path]:
    rules = tmp_path / "marker.yaml"
    rules.write_text(MARKER_RULE)
    markers = []
    for name in ("stk-marker-a", "stk-marker-b"):
        marker = tmp_path / name
        shutil.copy("/bin/sleep", marker)
        markers.append(marker)
    return rules, markers[0], markers[1]


def _run(program: Path) -> None:
    """Run a marker (a copy of sleep) for a second: a process that ends within
    microseconds of its exec can be gone before the Defender reads /proc on a busy
    machine, and then only its pid is known (see docs/defender.md)."""
    subprocess.run([str(program), "1"], check=True, timeout=30)


@pytest.mark.root
@needs_root
def test_run_logs_incidents_stops_cleanly_and_keeps_the_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, marker, _ = _markers(tmp_path)
    defender = RunningDefender(tmp_path, "--rules", str(rules))
    try:
        assert "no Console (incidents logged), policy from default" in defender.stderr
        recorded = re.search(r"recorded in the kernel \(eBPF\): ([a-z ,]+)", defender.stderr)
        assert recorded is not None
        if Path("/sys/kernel/btf/vmlinux").exists():  # a kernel the programs load on
            assert recorded[1] == "execs, opens for writing"  # --no-network: no connects
        # a second Defender on the same data dir is refused
        second = subprocess.run(  # our own CLI
            [*STOCKADE, "defender", "run", "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert "is in use (pid" in second.stderr
        _run(marker)
        incident = defender.wait_for_incident(marker)
    finally:
        code = defender.stop(signal.SIGTERM)
    assert code == 0, defender.stderr
    assert "stopping" in defender.stderr
    assert re.search(r"stopped: \d+ events judged, \d+ incidents, \d+ kernel loss", defender.stderr)
    assert "Traceback" not in defender.stderr
    assert incident["rule"] == "Stockade test marker"
    assert incident["processTree"][0]["exepath"] == str(marker)
    assert incident["outcome"] == "alerted"
    out = tmp_path / "bundle.jsonl"
    export = ["forensics", "export", incident["id"], "--data-dir", str(tmp_path / "data")]
    assert main([*export, "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["incident"]["id"] == incident["id"]
    assert any(
        r.get("type") == "execve" and r["process"]["exepath"] == str(marker) for r in records[1:]
    )
    # the data dir is free again, and SIGINT stops it cleanly too
    again = RunningDefender(tmp_path, "--rules", str(rules), "--no-open-records")
    assert "opens for writing" not in again.stderr
    assert again.stop(signal.SIGINT) == 0, again.stderr


def _console_events(console: RunningConsole, host: str) -> list[dict[str, Any]]:
    page = console.client(Role.AUDITOR).get("/api/v1/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    return [
        e
        for e in page.json()["items"]
        if e["host"] == host and e["kind"] == "incident" and e["payload"]["rule"] == MARKER
    ]


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_reports_to_the_console_and_keeps_its_policy_when_it_is_down(
    console: RunningConsole, tmp_path: Path
) -> None:
    rules, quiet, loud = _markers(tmp_path)
    admin = console.client(Role.ADMINISTRATOR)
    enrolled = admin.post("/api/v1/defenders", json={"name": "cli-node"})
    assert enrolled.status_code == 201, enrolled.text
    token = enrolled.json()["token"]
    policy = {"exceptions": [{"rule": "Stockade test marker", "process": "*/stk-marker-a"}]}
    assert admin.put("/api/v1/defenders/policy", json=policy).status_code == 200
    options = ["--rules", str(rules), "--host", "cli-node"]
    env = {"STOCKADE_DEFENDER_TOKEN": token}

    defender = RunningDefender(tmp_path, "--console", console.url, *options, env=env)
    try:
        assert f"reporting to {console.url}, policy from console" in defender.stderr
        _run(quiet)  # covered by the Console's exception
        _run(loud)
        incident = defender.wait_for_incident(loud)
        deadline = time.monotonic() + 30
        while not _console_events(console, "cli-node") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert defender.stop(signal.SIGTERM) == 0, defender.stderr
    assert [i["processTree"][0]["exepath"] for i in defender.incidents()] == [str(loud)]
    [stored] = _console_events(console, "cli-node")
    assert stored["payload"]["id"] == incident["id"]
    assert stored["payload"]["host"] == "cli-node"
    assert (tmp_path / "data" / "console-policy.yaml").is_file()

    # the Console is down when the Defender starts: the cached policy still applies,
    # and what it reports waits in the spool
    down = f"http://127.0.0.1:{_free_port()}"
    defender = RunningDefender(tmp_path, "--console", down, *options, env=env)
    try:
        assert "policy from cache" in defender.stderr
        _run(quiet)
        _run(loud)
        defender.wait_for_incident(loud)
        time.sleep(0.5)
    finally:
        assert defender.stop(signal.SIGINT) == 0, defender.stderr
    assert [i["processTree"][0]["exepath"] for i in defender.incidents()] == [str(loud)] * 2
    assert re.search(r"\d+ report\(s\) spooled for the next start", defender.stderr)

    # a local policy file overrides the Console's (here: no exception at all)
    local = tmp_path / "local-policy.yaml"
    local.write_text("default: alert\n")
    defender = RunningDefender(
        tmp_path, "--console", console.url, "--policy", str(local), *options, env=env
    )
    try:
        assert "policy from --policy" in defender.stderr
        _run(quiet)
        defender.wait_for_incident(quiet)
        deadline = time.monotonic() + 30
        while len(_console_events(console, "cli-node")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert defender.stop(signal.SIGTERM) == 0, defender.stderr
    # the spooled incident from the outage arrived too, once
    reported = _console_events(console, "cli-node")
    assert len(reported) == 3
    assert len({e["payload"]["id"] for e in reported}) == 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
