"""File events from the kernel's fanotify, on real runc containers: sensitive reads,
writes and executions with the path inside the container and the process behind them;
refused opens; lost events counted; the host's own access to a container's files left
out. The parsers are checked on bytes and text first."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.containers import RuncContainer, container_skip_reason, runc_container

from stockade.runtime.agent import AgentSettings, DefenderAgent
from stockade.runtime.defender import DefenderPolicy, RuleException
from stockade.runtime.detections import Finding, drift, sensitive_files
from stockade.runtime.events import Container, FileEvent, Process
from stockade.runtime.incidents import Action
from stockade.runtime.rules import Priority
from stockade.runtime.sensors.files import (
    FAN_CLOSE_WRITE,
    FAN_OPEN_PERM,
    FAN_Q_OVERFLOW,
    FileSensor,
    is_sensitive_read,
    parse_events,
    parse_mountinfo,
)
from stockade.runtime.sensors.procconn import SensorUnavailable
from stockade.runtime.sensors.processes import ProcessTracker

# -- parsers, on data ---------------------------------------------------------------------


def _record(mask: int, fd: int, pid: int, extra: bytes = b"") -> bytes:
    return struct.pack("=IBBHQii", 24 + len(extra), 3, 0, 24, mask, fd, pid) + extra


def test_events_are_parsed_and_garbage_ends_the_parse() -> None:
    data = _record(FAN_CLOSE_WRITE, 7, 100) + _record(FAN_Q_OVERFLOW, -1, 0, b"\0" * 8)
    events = parse_events(data + _record(FAN_OPEN_PERM, 9, 101))
    assert [(e.mask, e.fd, e.pid) for e in events] == [
        (FAN_CLOSE_WRITE, 7, 100),
        (FAN_Q_OVERFLOW, -1, 0),
        (FAN_OPEN_PERM, 9, 101),
    ]
    assert [e.needs_response for e in events] == [False, False, True]
    # a wrong version, a length past the end, a cut record: nothing invented, no raise
    assert parse_events(struct.pack("=IBBHQii", 24, 2, 0, 24, 1, 3, 4)) == []
    assert parse_events(_record(FAN_CLOSE_WRITE, 3, 4)[:-1]) == []
    assert parse_events(struct.pack("=IBBHQii", 4000, 3, 0, 24, 1, 3, 4)) == []
    assert len(parse_events(_record(FAN_CLOSE_WRITE, 3, 4) + b"\xff" * 30)) == 1
    for junk in (b"", b"\0" * 23, b"\xff" * 100):
        assert parse_events(junk) == []


def test_mountinfo_names_mounts_and_overlay_layers() -> None:
    text = (
        "73 49 0:41 / / rw,relatime - overlay overlay rw,lowerdir=/img/a\\:b:/img/c,"
        "upperdir=/run/my\\040box/upper,workdir=/run/w\n"
        "74 73 0:44 / /proc rw,relatime - proc proc rw\n"
        "90 73 8:1 /data /srv/my\\040data rw - ext4 /dev/sda1 rw\n"
        "garbage line\n"
    )
    root, proc, data = parse_mountinfo(text)
    assert (root.mount_id, root.mount_point, root.fstype) == (73, "/", "overlay")
    assert root.overlay_dirs() == ("/run/my box/upper", ("/img/a:b", "/img/c"))
    assert proc.fstype == "proc"
    assert data.mount_point == "/srv/my data"
    assert data.overlay_dirs() == (None, ())


def test_sensitive_read_list() -> None:
    for path in ("/etc/shadow", "/etc/sudoers.d/90-admin", "/home/ann/.ssh/id_ed25519"):
        assert is_sensitive_read(path), path
    assert is_sensitive_read("/etc/ssh/ssh_host_rsa_key")
    for path in ("/etc/passwd", "/home/ann/.ssh/id_ed25519.pub", "/home/a/b/.ssh/id_rsa"):
        assert not is_sensitive_read(path), path
    assert not is_sensitive_read("/etc/ssh/ssh_host_rsa_key.pub")


# -- real containers ----------------------------------------------------------------------


class Watcher:
    """Reads a sensor's events in a thread, keeping them; ``judge`` answers each."""

    def __init__(
        self, sensor: FileSensor, judge: Callable[[FileEvent], bool] | None = None
    ) -> None:
        self.sensor = sensor
        self.judge = judge
        self.events: list[FileEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.events.extend(self.sensor.read(0.05, self.judge))

    def wait_for(self, predicate: Callable[[FileEvent], bool], timeout: float = 10) -> FileEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        seen = [(e.path, e.flags, e.opened_for_exec) for e in self.events][-20:]
        raise AssertionError(f"no such file event; saw {seen}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sensor.close()


def _sensor(process_of: Callable[[int], Process | None]) -> FileSensor:
    try:
        return FileSensor(process_of)
    except SensorUnavailable as exc:
        pytest.skip(f"fanotify is unavailable: {exc}")


class Setup:
    def __init__(self, box: RuncContainer, tracker: ProcessTracker, watcher: Watcher) -> None:
        self.box, self.tracker, self.watcher = box, tracker, watcher
        process = tracker.lookup(box.pid)
        assert process is not None
        self.container = process.container

    def mine(self, event: FileEvent) -> bool:
        return event.process.container.id == self.container.id


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if reason := container_skip_reason():
        pytest.skip(reason)
    tracker = ProcessTracker()
    sensor = _sensor(tracker.lookup)
    watcher = Watcher(sensor)
    try:
        with runc_container(
            tmp_path_factory.mktemp("files"), ["/bin/sh", "-c", "sleep 600"]
        ) as box:
            ready = Setup(box, tracker, watcher)
            assert not ready.container.is_host
            assert sensor.watch(ready.container, box.pid)
            assert sensor.is_watching(ready.container.id)
            yield ready
    finally:
        watcher.close()


def _run(box: RuncContainer, script: str) -> subprocess.CompletedProcess[str]:
    done = box.exec("/bin/sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.root
def test_read_of_shadow_names_the_path_inside_the_container_and_the_reader(
    setup: Setup,
) -> None:
    # one process opens /etc/hostname, then /etc/shadow: only the sensitive one is told
    done = setup.box.exec("cat", "/etc/hostname", "/etc/shadow")
    assert done.stdout == "busybox\nroot:*:19000:0:99999:7:::\n"
    read = setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/etc/shadow")
    assert read.type == "openat"
    assert read.flags & os.O_ACCMODE == os.O_RDONLY
    assert not read.opened_for_exec
    assert read.process.name == "cat"
    assert read.process.exepath == "/bin/busybox"
    assert read.process.container.image == "test/busybox:1"
    assert read.ts > 0
    assert read.num > 0
    assert not [e for e in setup.watcher.events if e.path == "/etc/hostname"]
    (finding,) = sensitive_files(read, None)
    assert finding.rule == "builtin:sensitive-read"


@pytest.mark.root
def test_writes_are_told_at_close_and_opens_that_change_nothing_are_not(setup: Setup) -> None:
    # `: >>` opens the image's /etc/hostname for writing and writes nothing; the shell
    # lives on a moment so that it can be described (this sensor's tracker is not fed)
    _run(setup.box, ": >> /etc/hostname; echo 'x:x:0:0::/:/bin/sh' >> /etc/passwd; sleep 1; true")
    write = setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/etc/passwd")
    assert write.flags & os.O_ACCMODE == os.O_WRONLY
    assert write.process.name == "sh"
    assert write.process.container.id == setup.container.id
    assert not [e for e in setup.watcher.events if e.path == "/etc/hostname"]
    assert setup.watcher.sensor.unchanged >= 1
    (finding,) = sensitive_files(write, None)
    assert finding.rule == "builtin:sensitive-write"
    # and a real change of the same file is a write
    _run(setup.box, "echo other > /etc/hostname")
    changed = setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/etc/hostname")
    assert changed.flags & os.O_ACCMODE == os.O_WRONLY


@pytest.mark.root
def test_exec_of_a_freshly_written_file(setup: Setup) -> None:
    _run(setup.box, "mkdir -p /tmp/x && cp /bin/busybox /tmp/x/sleep && /tmp/x/sleep 0.3")
    written = setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/tmp/x/sleep")
    assert written.flags & os.O_ACCMODE == os.O_WRONLY
    assert not written.opened_for_exec
    executed = setup.watcher.wait_for(
        lambda e: setup.mine(e) and e.path == "/tmp/x/sleep" and e.opened_for_exec
    )
    assert executed.type == "openat"
    assert executed.flags & os.O_ACCMODE == os.O_RDONLY
    assert executed.num > written.num
    # a program that ran from the writable layer; whichever process the event names
    # (the shell that executed it, or the program itself), drift is judged right
    findings = drift(executed, None)
    if executed.process.exepath == "/tmp/x/sleep":
        assert [f.rule for f in findings] == ["builtin:drift"]
    else:
        assert findings == []  # the exec event of the process judges it


@pytest.mark.root
def test_a_process_gone_before_it_is_described_is_described_by_its_program(
    setup: Setup,
) -> None:
    """What the sensor says of a process nobody could read (it exited at once): the
    program's file, the container of the mount; enough for the drift detection."""
    sensor = _sensor(lambda pid: None)  # every process vanished before /proc was read
    watcher = Watcher(sensor)
    try:
        assert sensor.watch(setup.container, setup.box.pid)
        _run(setup.box, "cp /bin/busybox /tmp/true && /tmp/true")
        executed = watcher.wait_for(lambda e: e.path == "/tmp/true" and e.opened_for_exec)
        process = executed.process
        assert (process.name, process.exepath) == ("true", "/tmp/true")
        assert process.container.id == setup.container.id
        assert process.exe_upper_layer
        (finding,) = drift(executed, None)
        assert finding.rule == "builtin:drift"
        assert "/tmp/true" in finding.explanation
        writer = watcher.wait_for(lambda e: e.path == "/tmp/true" and not e.opened_for_exec)
        assert writer.process.name == "<NA>"
    finally:
        watcher.close()


@pytest.mark.root
def test_a_refused_open_fails_with_eperm(setup: Setup) -> None:
    sensor = _sensor(setup.tracker.lookup)
    if not sensor.permission:
        sensor.close()
        pytest.skip("this kernel has no fanotify permission events")
    refused: list[FileEvent] = []

    def judge(event: FileEvent) -> bool:
        if event.path == "/etc/shadow":
            refused.append(event)
            return False
        return True

    watcher = Watcher(sensor, judge)
    try:
        assert sensor.watch(setup.container, setup.box.pid)
        done = setup.box.exec("cat", "/etc/shadow")
        assert done.returncode != 0
        assert done.stdout == ""
        assert "not permitted" in done.stderr
        assert refused
        assert refused[0].process.name == "cat"
    finally:
        watcher.close()
    # the sensor is closed: its marks are gone, the file opens again
    assert setup.box.exec("cat", "/etc/shadow").returncode == 0


@pytest.mark.root
def test_the_hosts_own_access_is_not_told(setup: Setup) -> None:
    before = setup.watcher.sensor.foreign
    rootfs = setup.box.bundle / "rootfs"
    host = subprocess.run(["cat", str(rootfs / "etc" / "shadow")], capture_output=True, check=True)
    assert host.stdout.startswith(b"root:")
    subprocess.run(["cp", "/bin/true", str(rootfs / "tmp" / "from-host")], check=True)
    # a marker from inside, after the host's accesses: everything before it has arrived
    _run(setup.box, "echo done > /tmp/marker")
    setup.watcher.wait_for(lambda e: e.path == "/tmp/marker")
    assert setup.watcher.sensor.foreign > before
    paths = {e.path for e in setup.watcher.events}
    assert not {p for p in paths if "from-host" in p or str(rootfs) in p}


@pytest.mark.root
def test_ssh_keys_written_later_are_watched_after_a_refresh(setup: Setup) -> None:
    _run(setup.box, "mkdir -p /root/.ssh && echo secret > /root/.ssh/id_ed25519")
    _run(setup.box, "echo public > /root/.ssh/id_ed25519.pub")
    setup.watcher.wait_for(lambda e: e.path == "/root/.ssh/id_ed25519.pub")
    assert setup.watcher.sensor.refresh() >= 1  # the write made the container due
    _run(setup.box, "cat /root/.ssh/id_ed25519.pub /root/.ssh/id_ed25519 > /dev/null")
    read = setup.watcher.wait_for(
        lambda e: e.path == "/root/.ssh/id_ed25519" and e.flags & os.O_ACCMODE == os.O_RDONLY
    )
    assert read.process.container.id == setup.container.id
    assert not [
        e
        for e in setup.watcher.events
        if e.path.endswith(".pub") and e.flags & os.O_ACCMODE == os.O_RDONLY
    ]
    (finding,) = sensitive_files(read, None)
    assert "SSH private key" in finding.explanation


@pytest.mark.root
def test_queue_overflow_is_counted(setup: Setup) -> None:
    try:
        limit = int(Path("/proc/sys/fs/fanotify/max_queued_events").read_text())
    except (OSError, ValueError):
        limit = 16384
    if limit > 100_000:
        pytest.skip(f"the fanotify queue holds {limit} events: too many to overflow quickly")
    sensor = _sensor(setup.tracker.lookup)
    with sensor:
        assert sensor.watch(setup.container, setup.box.pid)
        # nobody reads while more files than the queue holds are written through the
        # container's mounts (its /dev/shm, a tmpfs: quick to fill)
        shm = Path(f"/proc/{setup.box.pid}/root/dev/shm/many")
        shm.mkdir()
        try:
            for i in range(limit + 100):
                os.close(os.open(shm / str(i), os.O_WRONLY | os.O_CREAT, 0o600))
            deadline = time.monotonic() + 30
            while not sensor.lost:
                assert time.monotonic() < deadline, "no overflow reported"
                sensor.read(0.2)
            assert sensor.lost == 1
        finally:
            subprocess.run(["rm", "-rf", str(shm)], check=False)
        # the sensor goes on after the loss
        _run(setup.box, "echo after > /tmp/after-overflow")
        seen: list[FileEvent] = []
        deadline = time.monotonic() + 10
        while not any(e.path == "/tmp/after-overflow" for e in seen):
            assert time.monotonic() < deadline, "no event after the overflow"
            seen.extend(sensor.read(0.2))


@pytest.mark.root
def test_a_gone_container_is_forgotten(setup: Setup, tmp_path: Path) -> None:
    sensor = setup.watcher.sensor
    with runc_container(tmp_path, ["/bin/sh", "-c", "sleep 600"]) as short:
        process = setup.tracker.lookup(short.pid)
        assert process is not None
        assert sensor.watch(process.container, short.pid)
        assert sensor.prune() == []
        _run(short, "echo hi > /tmp/short")
        setup.watcher.wait_for(lambda e: e.path == "/tmp/short")
    assert sensor.prune() == [process.container.id]
    assert not sensor.is_watching(process.container.id)
    assert sensor.is_watching(setup.container.id)  # the other one still is


PREVENT_IMAGE = "zz-stockade-prevent/busybox:1"


def _all_images_but(image: str) -> list[RuleException]:
    """Exceptions that drop sensitive reads in every image but ``image`` (and in
    containers of unknown image): this test's agent watches every container of the
    machine, and other people's must not be refused their opens."""
    rule = "builtin:sensitive-read"
    covered = [RuleException(rule=rule, image="")]
    for length in range(len(image)):
        prefix = image[:length]
        covered.append(RuleException(rule=rule, image=prefix))
        covered.append(RuleException(rule=rule, image=f"{prefix}[!{image[length]}]*"))
    covered.append(RuleException(rule=rule, image=f"{image}?*"))
    return covered


def test_the_exceptions_leave_only_one_image() -> None:
    finding = Finding("builtin:sensitive-read", Priority.ERROR, "t", "e")
    exceptions = _all_images_but(PREVENT_IMAGE)

    def covered(image: str | None) -> bool:
        event = FileEvent("openat", Process(1, "cat", container=Container("c", image=image)), "/")
        return any(x.covers(finding, event) for x in exceptions)

    assert not covered(PREVENT_IMAGE)
    for other in (None, "", "z", "zz-stockade-prevent/busybox:12", "test/busybox:1", "zz-x:1"):
        assert covered(other), other


@pytest.mark.root
def test_the_agent_watches_new_containers_and_prevents_a_sensitive_read(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    policy = DefenderPolicy(
        actions=[("builtin:sensitive-read", Action.PREVENT)],
        exceptions=_all_images_but(PREVENT_IMAGE),
    )
    agent = DefenderAgent(
        AgentSettings(
            data_dir=tmp_path / "defender", policy=policy, network_interval=1.0, log=io.StringIO()
        )
    )
    try:
        agent.start()
    except SensorUnavailable as exc:
        pytest.skip(f"a sensor is unavailable: {exc}")
    try:
        assert agent.files is not None
        with runc_container(tmp_path, ["/bin/sh", "-c", "sleep 600"], image=PREVENT_IMAGE) as box:
            cid = box.id[:12]
            deadline = time.monotonic() + 15
            while not agent.files.is_watching(cid):  # told by the process sensor
                assert time.monotonic() < deadline, "the container was never watched"
                time.sleep(0.1)
            done = box.exec("cat", "/etc/shadow")
            assert done.stdout == ""
            assert done.returncode != 0
            deadline = time.monotonic() + 5
            while not (incidents := [i for i in agent.incidents if i.container.id == cid]):
                assert time.monotonic() < deadline, "no incident"
                time.sleep(0.05)
            time.sleep(1.5)  # a held deviation about the same process would come now
            incidents = [i for i in agent.incidents if i.container.id == cid]
            assert [i.rule for i in incidents] == ["builtin:sensitive-read"]
            assert incidents[0].outcome == "killed"
            assert "password hashes" in incidents[0].explanation
            assert box.exec("cat", "/etc/hostname").stdout == "busybox\n"
    finally:
        agent.stop()


@pytest.mark.root
def test_the_file_sensor_can_be_turned_off(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    settings = AgentSettings(data_dir=tmp_path / "defender", file_sensor=False, log=io.StringIO())
    agent = DefenderAgent(settings)
    try:
        agent.start()
    except SensorUnavailable as exc:
        pytest.skip(f"the process sensor is unavailable: {exc}")
    try:
        assert agent.files is None
        assert "file-sensor" not in {t.name for t in threading.enumerate()}
        assert {"process-sensor", "housekeeping"} <= {t.name for t in threading.enumerate()}
    finally:
        agent.stop()
