"""File events from the kernel's fanotify, on real runc containers: sensitive reads,
writes and executions with the path inside the container and the process behind them;
refused opens; lost events counted; the host's own access to a container's files left
out. The parsers are checked on bytes and text first."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.containers import RuncContainer, container_skip_reason, runc_container
from tests.support.sensors import Watcher

from stockade.runtime.agent import AgentSettings, DefenderAgent
from stockade.runtime.defender import DefenderPolicy, RuleException
from stockade.runtime.detections import Finding, drift, sensitive_files
from stockade.runtime.events import OPEN_CALLS, Container, Event, FileEvent, Process
from stockade.runtime.incidents import Action
from stockade.runtime.rules import Alert, Priority, RuleSet, load_rules
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

DATA = Path(__file__).parents[2] / "data" / "runtime"

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
    for path in (
        "/etc/shadow",
        "/etc/sudoers.d/90-admin",
        "/etc/pam.d/common-auth",
        "/etc/security/pwquality.conf",
        "/home/ann/.ssh/id_ed25519",
        "/root/.ssh/authorized_keys",
    ):
        assert is_sensitive_read(path), path
    assert is_sensitive_read("/etc/ssh/ssh_host_rsa_key")
    for path in (
        "/etc/passwd",
        "/etc/pam.d/sub/x",
        "/home/ann/.ssh/id_ed25519.pub",
        "/home/a/b/.ssh/id_rsa",
    ):
        assert not is_sensitive_read(path), path
    assert not is_sensitive_read("/etc/ssh/ssh_host_rsa_key.pub")


@pytest.mark.parametrize("call", sorted(OPEN_CALLS))
def test_every_open_call_is_judged_as_an_open(call: str) -> None:
    reader = Process(pid=7, name="perl", exe="/usr/bin/perl", container=Container("c1"))
    (read,) = sensitive_files(FileEvent(call, reader, "/etc/shadow", fd=3), None)
    assert read.rule == "builtin:sensitive-read"
    write = FileEvent(call, reader, "/etc/passwd", flags=os.O_WRONLY | os.O_TRUNC, fd=3)
    (written,) = sensitive_files(write, None)
    assert written.rule == "builtin:sensitive-write"


# -- real containers ----------------------------------------------------------------------


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
def test_a_waiting_opener_is_asked_what_it_opened(setup: Setup) -> None:
    """The permission event's opener is read in its open(2): the path as written, the
    flags the kernel does not keep (O_TRUNC), and the descriptor the open returns."""
    if not setup.watcher.sensor.permission:
        pytest.skip("this kernel has no fanotify permission events")
    # cat holds 0-4 (two extra descriptors from the shell): its open returns 5
    _run(setup.box, "cat 3</dev/null 4</dev/null /etc/../etc//shadow > /dev/null")
    read = setup.watcher.wait_for(
        lambda e: setup.mine(e) and e.path == "/etc/shadow" and "/../" in (e.raw_path or "")
    )
    assert read.raw_path == "/etc/../etc//shadow"
    assert read.type in ("open", "openat")
    assert read.fd == 5
    assert read.flags & os.O_ACCMODE == os.O_RDONLY
    assert not read.flags & (os.O_TRUNC | os.O_CREAT)
    # a truncating write: told once, at the open, with its flags (not again at the close)
    before = len([e for e in setup.watcher.events if e.path == "/etc/sudoers"])
    _run(setup.box, "cp /etc/shadow /etc/sudoers")
    setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/etc/sudoers")
    assert setup.watcher.sensor.refresh() >= 1  # the new file is marked
    _run(setup.box, ": > /etc/sudoers")
    truncated = setup.watcher.wait_for(
        lambda e: setup.mine(e) and e.path == "/etc/sudoers" and bool(e.flags & os.O_TRUNC)
    )
    assert truncated.flags & os.O_ACCMODE == os.O_WRONLY
    assert truncated.flags & os.O_CREAT
    assert truncated.fd is not None
    assert truncated.fd >= 0
    assert truncated.process.name == "sh"
    _run(setup.box, "echo done > /tmp/marker-truncate")
    setup.watcher.wait_for(lambda e: e.path == "/tmp/marker-truncate")
    writes = [e for e in setup.watcher.events if e.path == "/etc/sudoers"][before:]
    # cp's write of the new file (not marked yet: told at its close; cp may be gone
    # before it is described), then the shell's truncating open, told once
    assert [bool(e.flags & os.O_TRUNC) for e in writes] == [False, True]
    assert writes[1].process.name == "sh"


@pytest.mark.root
def test_opens_for_writing_in_var_log_are_told_as_they_open(setup: Setup) -> None:
    if not setup.watcher.sensor.permission:
        pytest.skip("this kernel has no fanotify permission events")
    _run(setup.box, "mkdir -p /var/log/app && echo old > /var/log/eg.log")
    assert setup.watcher.sensor.refresh(everything=True) >= 1  # /var/log is new here
    _run(
        setup.box,
        "cat /var/log/eg.log > /dev/null; : > /var/log/eg.log; echo more >> /var/log/eg.log; "
        "echo nested > /var/log/app/x.log",
    )
    setup.watcher.wait_for(lambda e: setup.mine(e) and e.path == "/var/log/app/x.log")
    opens = [e for e in setup.watcher.events if e.path == "/var/log/eg.log"]
    # the creating write came before the mark (told at close); then the emptying open
    # with O_TRUNC and the appending one, each told once, at the open; the read is not
    assert [e.flags & (os.O_TRUNC | os.O_APPEND) for e in opens] == [0, os.O_TRUNC, os.O_APPEND]
    emptied = opens[1]
    assert emptied.fd is not None
    assert emptied.type in ("open", "openat")
    assert emptied.flags & os.O_ACCMODE == os.O_WRONLY
    # a subdirectory's file is not a child of /var/log: told at its close
    nested = [e for e in setup.watcher.events if e.path == "/var/log/app/x.log"]
    assert [e.fd for e in nested] == [None]


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
def test_unwatch_takes_every_mark_away(setup: Setup) -> None:
    _run(setup.box, "mkdir -p /var/log")
    sensor = _sensor(setup.tracker.lookup)
    watcher = Watcher(sensor)
    try:
        assert sensor.watch(setup.container, setup.box.pid)
        _run(setup.box, "cat /etc/shadow > /dev/null; ln -s /etc/shadow /tmp/eg-unwatch-1")
        watcher.wait_for(lambda e: e.path == "/tmp/eg-unwatch-1")
        watcher.wait_for(lambda e: e.path == "/etc/shadow")
        sensor.unwatch(setup.container.id)
        assert not sensor.is_watching(setup.container.id)
        before, foreign = len(watcher.events), sensor.foreign
        _run(
            setup.box,
            "cat /etc/shadow > /dev/null; ln -s /etc/shadow /tmp/eg-unwatch-2; "
            ": > /var/log/eg-unwatch; echo x > /tmp/eg-unwatch-3",
        )
        time.sleep(1)
        assert watcher.events[before:] == []
        assert sensor.foreign == foreign  # no mark left: the kernel sent nothing at all
    finally:
        watcher.close()


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
    agent = _started(
        AgentSettings(
            data_dir=tmp_path / "defender", policy=policy, network_interval=1.0, log=io.StringIO()
        )
    )
    try:
        assert agent.files is not None
        with runc_container(tmp_path, ["/bin/sh", "-c", "sleep 600"], image=PREVENT_IMAGE) as box:
            cid = box.id[:12]
            _until_watched(agent.files, cid)
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


def _started(settings: AgentSettings) -> DefenderAgent:
    """A running agent; the test is skipped where a sensor it needs is unavailable."""
    agent = DefenderAgent(settings)
    try:
        agent.start()
    except SensorUnavailable as exc:
        pytest.skip(f"a sensor is unavailable: {exc}")
    return agent


def _until_watched(files: FileSensor, container_id: str) -> None:
    """Until the process sensor has told the file sensor about the container."""
    deadline = time.monotonic() + 15
    while not files.is_watching(container_id):
        assert time.monotonic() < deadline, "the container was never watched"
        time.sleep(0.1)


class LinkRecorder(RuleSet):
    """Falco's rules, keeping every link event the agent matched and its alerts."""

    def __init__(self, ruleset: RuleSet) -> None:
        super().__init__(ruleset.rules)
        self.links: list[tuple[FileEvent, list[Alert]]] = []

    def match(self, event: Event) -> list[Alert]:
        alerts = super().match(event)
        if isinstance(event, FileEvent) and event.type in ("symlinkat", "linkat"):
            self.links.append((event, alerts))
        return alerts

    def wait_for(self, path: str, timeout: float = 10) -> tuple[FileEvent, list[Alert]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event, alerts in list(self.links):
                if event.path == path:
                    return event, alerts
            time.sleep(0.05)
        raise AssertionError(f"no link event for {path}; saw {[e.path for e, _ in self.links]}")


@pytest.mark.root
def test_new_links_are_told_with_what_they_point_to_and_falco_rules_fire(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    loaded = load_rules([DATA / "falco-rules" / "falco_rules.yaml"])
    loaded.raise_for_errors()
    recorder = LinkRecorder(loaded.ruleset)
    agent = _started(
        AgentSettings(data_dir=tmp_path / "defender", rules=recorder, log=io.StringIO())
    )
    try:
        assert agent.files is not None
        if not agent.files.links:
            pytest.skip("this kernel has no fanotify directory-entry events (Linux 5.9)")
        with runc_container(tmp_path, ["/bin/sh", "-c", "sleep 600"]) as box:
            cid = box.id[:12]
            _until_watched(agent.files, cid)
            # each ln exits at once: the agent knows it from the process sensor
            _run(
                box,
                "ln -s /etc/shadow /tmp/eg-sym && ln /etc/shadow /root/eg-hard && "
                "ln -s ../etc/passwd /eg-rel && touch /tmp/eg-plain && mkdir /tmp/eg-dir && "
                "mkdir -p /srv && ln -s /etc/shadow /srv/eg-elsewhere",
            )
            symbolic, alerts = recorder.wait_for("/tmp/eg-sym")
            assert symbolic.type == "symlinkat"
            assert symbolic.link_target == "/etc/shadow"
            # ln, or the shell it was forked from when ln was gone before its exec was
            # read (the process sensor then knows it as it was before the exec)
            assert symbolic.process.name in {"ln", "sh"}
            assert symbolic.process.container.id == cid
            assert [a.rule for a in alerts] == ["Create Symlink Over Sensitive Files"]
            hard, alerts = recorder.wait_for("/root/eg-hard")
            assert hard.type == "linkat"
            assert hard.source_path == "/etc/shadow"
            assert [a.rule for a in alerts] == ["Create Hardlink Over Sensitive Files"]
            relative, alerts = recorder.wait_for("/eg-rel")
            assert relative.link_target == "../etc/passwd"
            assert alerts == []
            # a host process making a link in the container's /tmp through the overlay's
            # host side is not the container's (it lives: its root says so)
            host = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import os, sys, time; os.symlink('/etc/shadow', sys.argv[1]); "
                    "print(flush=True); time.sleep(30)",
                    str(box.bundle / "rootfs" / "tmp" / "host"),
                ],
                stdout=subprocess.PIPE,
            )
            try:
                assert host.stdout is not None
                host.stdout.readline()
                # runc exec's ln alone, gone before the process sensor has told its exec:
                # the container's all the same; and everything before it has come
                _run(box, "ln -s /nowhere /tmp/eg-marker")
                marker, _ = recorder.wait_for("/tmp/eg-marker")
                assert marker.process.container.id == cid
                deadline = time.monotonic() + 10
                while agent.files.waiting:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            finally:
                host.kill()
                host.wait()
                host.stdout.close()  # type: ignore[union-attr]
            # plain files and directories are not links; /srv is not a link directory
            told = {e.path for e, _ in recorder.links}
            assert told == {"/tmp/eg-sym", "/root/eg-hard", "/eg-rel", "/tmp/eg-marker"}
    finally:
        agent.stop()


@pytest.mark.root
def test_the_file_sensor_can_be_turned_off(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    settings = AgentSettings(data_dir=tmp_path / "defender", file_sensor=False, log=io.StringIO())
    agent = _started(settings)
    try:
        assert agent.files is None
        assert "file-sensor" not in {t.name for t in threading.enumerate()}
        assert {"process-sensor", "housekeeping"} <= {t.name for t in threading.enumerate()}
    finally:
        agent.stop()
