"""Process events from the real kernel proc connector, enriched from /proc, with the
container resolved from a real runc container's cgroup and bundle."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from tests.support.containers import busybox_rootfs, container_skip_reason, runc_container

from stockade.runtime.events import HOST, Container, ProcessEvent
from stockade.runtime.sensors.containers import ContainerResolver, match_cgroup
from stockade.runtime.sensors.procconn import (
    ProcConnector,
    ProcEventKind,
    RawProcEvent,
    SensorUnavailable,
    parse_messages,
)
from stockade.runtime.sensors.processes import ProcessTracker, watch


def _connector() -> ProcConnector:
    try:
        return ProcConnector()
    except SensorUnavailable as exc:
        pytest.skip(f"the proc connector is unavailable: {exc}")


class Recorder:
    """Runs the tracker over the kernel's events in a thread, keeping what it saw."""

    def __init__(self, tracker: ProcessTracker) -> None:
        self.tracker = tracker
        self.connector = _connector()
        self.events: list[ProcessEvent] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for event in watch(self.tracker, self.connector, timeout=0.1):
            self.events.append(event)

    def __enter__(self) -> Recorder:
        self.tracker.seed()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.connector.close()
        self.thread.join(timeout=5)

    def wait_for(self, predicate, timeout: float = 10) -> ProcessEvent:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError("no such event; saw: " + repr([e.type for e in self.events][-20:]))


def test_garbage_never_raises() -> None:
    for data in (b"", b"\x00" * 7, b"\xff" * 64, b"\x10\x00\x00\x00" + b"\x00" * 12):
        assert list(parse_messages(data)) == []


@pytest.mark.root
def test_exec_fork_exit_of_a_host_process() -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    with Recorder(ProcessTracker()) as recorder:
        done = subprocess.run(["/bin/sh", "-c", "exec /bin/sleep 0.2"], check=True)
        assert done.returncode == 0
        execd = recorder.wait_for(
            lambda e: e.type == "execve" and e.process.exepath == "/usr/bin/sleep"
        )
        assert execd.process.args == ("0.2",)
        assert execd.process.container.is_host
        assert execd.process.uid == 0
        assert execd.process.user_name == "root"
        pid = execd.process.pid
        exited = recorder.wait_for(lambda e: e.type == "procexit" and e.process.pid == pid)
        assert exited.process.exepath == "/usr/bin/sleep"  # known after /proc is gone
        assert exited.num > execd.num


@pytest.mark.root
def test_exec_inside_a_runc_container_names_container_image_and_parents(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    tracker = ProcessTracker(containers=ContainerResolver())
    with (
        Recorder(tracker) as recorder,
        runc_container(tmp_path, ["/bin/sh", "-c", "sleep 1; sleep 30; true"]) as container,
    ):
        mine = container.id[:12]
        sleeper = recorder.wait_for(
            lambda e: (
                e.type == "execve" and e.process.args == ("30",) and e.process.container.id == mine
            ),
            timeout=15,
        )
        # busybox's shell runs applets by re-executing /proc/self/exe: comm is "exe"
        assert sleeper.process.exe == "sleep"
        assert sleeper.process.exepath == "/bin/busybox"
        assert sleeper.process.container.id == container.id[:12]
        assert sleeper.process.container.runtime == "runc"
        assert sleeper.process.container.image == "test/busybox:1"
        assert sleeper.process.container.image_repository == "test/busybox"
        assert sleeper.process.container.image_tag == "1"
        assert sleeper.process.parent is not None
        assert sleeper.process.parent.name == "sh"
        assert sleeper.process.vpid is not None
        assert sleeper.process.vpid != sleeper.process.pid
        # runc exec: a second entry point, same container
        # (processes that live a while: a loaded machine may read /proc late)
        assert container.exec("/bin/sleep", "1.5").returncode == 0
        ident = recorder.wait_for(
            lambda e: (
                e.type == "execve" and e.process.exe == "/bin/sleep" and e.process.args == ("1.5",)
            )
        )
        assert ident.process.container.id == mine


def test_cgroup_conventions_of_each_runtime() -> None:
    cid = "0123456789abcdef" * 4
    cases = {
        f"0::/system.slice/docker-{cid}.scope": "docker",
        f"12:memory:/docker/{cid}": "docker",
        f"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-{cid}.scope": "containerd",
        f"11:pids:/kubepods/besteffort/pod7f0c/{cid}": "containerd",
        f"0::/kubepods.slice/kubepods-burstable.slice/crio-{cid}.scope": "cri-o",
        f"0::/machine.slice/libpod-{cid}.scope/container": "podman",
        f"1:name=systemd:/libpod_parent/libpod-{cid}": "podman",
    }
    for line, runtime in cases.items():
        match = match_cgroup([line.split(":", 2)[2]])
        assert match is not None, line
        assert (match.id, match.runtime) == (cid, runtime), line
    # the sandbox's own 32-hex cgroups and plain paths are not containers
    assert (
        match_cgroup(["/process_api/4350be55ce73d2e040248366d31df64c", "/", "/user.slice"]) is None
    )


@pytest.mark.root
def test_a_read_that_must_not_wait_returns_what_is_queued() -> None:
    with _connector() as connector:
        while connector.read(0):  # whatever the host is doing: drain it
            pass
        subprocess.run(["/bin/true"], check=True)
        deadline = time.monotonic() + 5
        seen: list[ProcEventKind] = []
        while ProcEventKind.EXIT not in seen:
            assert time.monotonic() < deadline
            seen.extend(e.kind for e in connector.read(0))  # never raises when empty


@pytest.mark.root
def test_lost_events_are_counted_not_hidden() -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    try:
        connector = ProcConnector(buffer_bytes=4096)
    except SensorUnavailable as exc:
        pytest.skip(f"the proc connector is unavailable: {exc}")
    with connector:
        # nobody reads while 300 processes start and end: the small buffer overflows
        subprocess.run(["/bin/sh", "-c", "for i in $(seq 300); do /bin/true; done"], check=True)
        kinds: set[ProcEventKind] = set()
        for _ in range(400):
            events = connector.read(0.05)
            kinds.update(e.kind for e in events)
            if connector.lost:
                break
        assert connector.lost >= 1


def test_user_names_in_a_container_come_from_its_own_account_database(tmp_path: Path) -> None:
    # A /proc laid out as the kernel shows it: the process's root is the container's
    # rootfs, its uid_map maps the container's 0-65535 to the host's 100000-165535.
    proc = tmp_path / "proc"
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    passwd = rootfs / "etc" / "passwd"
    passwd.write_text(
        "root:x:0:0:root:/root:/bin/sh\nsshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
    )
    for pid, uid_map in ((41, "0 100000 65536\n"), (42, "0 0 4294967295\n")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "root").symlink_to(rootfs)
        (proc / str(pid) / "uid_map").write_text(uid_map)
    tracker = ProcessTracker(proc=proc)
    box = Container(id="0123456789ab", runtime="runc")
    assert tracker._user_in(100101, box, 41) == "sshd"  # mapped: 100101 is 101 inside
    assert tracker._user_in(101, box, 42) == "sshd"  # no user namespace
    assert tracker._user_in(100000, box, 41) == "root"
    assert tracker._user_in(4242, box, 42) is None  # the container has no such user
    # A changed database is read again (useradd in a running container).
    passwd.write_text(passwd.read_text() + "app:x:4242:4242::/app:/bin/sh\n")
    os.utime(passwd, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert tracker._user_in(4242, box, 42) == "app"
    # The host, and a container without /etc/passwd (distroless), use the host's names.
    assert tracker._user_in(0, HOST, 42) == "root"
    passwd.unlink()
    assert tracker._user_in(0, box, 42) == "root"
    # A hostile container: a symlink would resolve against the host's root through
    # /proc/PID/root, a FIFO would block the open. Neither is read.
    secret = tmp_path / "host-secret"
    secret.write_text("leaked:x:4243:0::/:/bin/sh\n")
    passwd.symlink_to(secret)
    other = Container(id="ba9876543210", runtime="runc")
    try:
        host_name: str | None = pwd.getpwuid(4243).pw_name
    except KeyError:
        host_name = None
    assert host_name != "leaked"
    assert tracker._user_in(4243, other, 42) == host_name  # the host's, not the file's
    passwd.unlink()
    os.mkfifo(passwd)
    assert tracker._user_in(4243, other, 42) == host_name  # at once, nothing read


@pytest.mark.root
def test_a_container_started_privileged_is_known_as_one(tmp_path: Path) -> None:
    if reason := container_skip_reason():
        pytest.skip(reason)
    resolver = ContainerResolver()
    with (
        runc_container(tmp_path, ["/bin/sleep", "30"], privileged=True) as privileged,
        runc_container(tmp_path, ["/bin/sleep", "30"]) as confined,
    ):
        found = resolver.resolve(privileged.pid)
        assert found is not None
        assert found.id == privileged.id[:12]
        assert found.privileged is True
        # runc's default spec: three capabilities
        other = resolver.resolve(confined.pid)
        assert other is not None
        assert other.privileged is False


PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


@pytest.mark.root
def test_a_podman_container_is_named_with_its_image_from_podmans_storage(
    tmp_path: Path,
) -> None:
    """podman's own storage files name the container and its image, and its OCI config
    says whether it was started privileged."""
    if reason := container_skip_reason():
        pytest.skip(reason)
    if shutil.which("podman") is None:
        pytest.skip("needs podman")
    (tmp_path / "containers.conf").write_text(PODMAN_CONF)
    storage = tmp_path / "storage"
    runroot = Path(tempfile.mkdtemp(prefix="stk-pm-"))  # podman wants under 50 characters
    podman = [
        "podman",
        "--root",
        str(storage),
        "--runroot",
        str(runroot),
        "--storage-driver",
        "overlay",
    ]
    env = {**os.environ, "CONTAINERS_CONF": str(tmp_path / "containers.conf")}

    def run(*args: str) -> str:
        done = subprocess.run(
            [*podman, *args], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    image = tmp_path / "busybox.tar"
    subprocess.run(["tar", "-C", str(busybox_rootfs()), "-cf", str(image), "."], check=True)
    run("import", str(image), "localhost/test/busybox:1")
    try:
        for name, flags in (("stk-pm-priv", ["--privileged"]), ("stk-pm-plain", [])):
            run(
                "run",
                "-d",
                *flags,
                "--network",
                "host",
                "--name",
                name,
                "localhost/test/busybox:1",
                "sleep",
                "60",
            )
        resolver = ContainerResolver(podman_roots=[storage])
        found = {}
        for name in ("stk-pm-priv", "stk-pm-plain"):
            pid = int(run("inspect", "--format", "{{.State.Pid}}", name))
            container = resolver.resolve(pid)
            assert container is not None
            found[name] = container
        privileged, plain = found["stk-pm-priv"], found["stk-pm-plain"]
        assert privileged.runtime == "podman"
        assert privileged.name == "stk-pm-priv"
        assert privileged.image == "localhost/test/busybox:1"
        assert privileged.image_id is not None
        assert privileged.privileged is True
        assert plain.name == "stk-pm-plain"
        assert plain.privileged is False
    finally:
        subprocess.run([*podman, "rm", "-f", "-a"], env=env, capture_output=True, check=False)
        subprocess.run(
            [*podman, "system", "reset", "-f"], env=env, capture_output=True, check=False
        )
        shutil.rmtree(runroot, ignore_errors=True)


def test_a_fresh_look_reads_a_parent_known_from_before_its_exec() -> None:
    """``timeout`` forked from this process and exec'd: until the tracker handles that
    exec it has the parent as this process (the fork is handed in as the kernel sends
    it; the lag cannot be caused on demand). A fresh look at its child names the parent
    as what it runs now, as Falco's proc.pname must."""
    parent = subprocess.Popen(["timeout", "60", "sleep", "60"])
    try:
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
        deadline = time.monotonic() + 10
        while not children.read_text().split():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child = int(children.read_text().split()[0])
        tracker = ProcessTracker()
        forked = RawProcEvent(
            ProcEventKind.FORK, parent.pid, parent.pid, 0, 0, parent_pid=os.getpid()
        )
        assert tracker.handle(forked) is not None
        stale = tracker.known(parent.pid)
        assert stale is not None
        assert stale.name != "timeout"  # this process's name, from before the exec
        fresh = tracker.lookup(child, fresh=True)
        assert fresh is not None
        assert fresh.name == "sleep"
        assert fresh.parent is not None
        assert fresh.parent.name == "timeout"
    finally:
        parent.kill()
        parent.wait()
