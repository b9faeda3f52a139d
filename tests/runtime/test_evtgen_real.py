"""Falco's event-generator suite, performed for real inside runc containers.

``test_evtgen_suite.py`` runs the suite offline, on events built as data. Here every case
our sensors can express is *done*: real programs (or, where the generator itself runs its
own binary under a process name, a stand-in under that name) run inside a Debian bookworm
container (busybox for ``nc``), with a :class:`~stockade.runtime.agent.DefenderAgent`
running the stable Falco rules, and the named rule must fire with the expected priority on
an event from that container, caused by that case's processes.

How each kind of step is reproduced:

* context processes become real processes, each the child of the one before: a process
  that must run another is ``dash`` under the context's name (a symlink, so ``comm`` is
  that name); one that only has to exist with given arguments is a two-line script under
  that name (it sleeps); programs the image has (``bash``, ``grep``, ``find``, ``id``,
  ``shred``, ``mkfs``, ``mke2fs``, ``debugfs``, busybox ``nc``) are themselves;
* ``open``/``openat``/``openat2``/``link``/``linkat``/``symlink``/``symlinkat`` steps are
  those very system calls with the same arguments, made by Debian's ``perl`` (``syscall``);
* a ``clientServer`` resource is a real TCP connection (``bash``'s ``/dev/tcp``) from the
  process; the container has its own network namespace where the server address routes
  to a veth pair that never answers, so the connection stays in ``SYN_SENT`` and nothing
  leaves the machine;
* a ``fileLess`` process is ``sleep`` copied into a ``memfd`` and exec'd from it;
* ``user:`` is ``setpriv`` with every capability kept (the generator's containers are
  privileged, and so is the Debian container here); every action runs with all the
  capabilities the host grants.

The proc connector reports an exec and the sensor reads ``/proc`` then; a program gone
by then is known from the kernel's exec record where eBPF is available (without its
descriptors), else without its name and arguments, and under load the agent runs seconds
behind. So every case's processes are held until the agent has handled their events: real
programs that would finish at once write into a pipe that is already full (``hold``) or
read one that stays open, with exactly the case's arguments; the others sleep. Cases run
in batches; a batch ends (its processes are killed) once the agent has handled the exec
of a sentinel started after it. The figures are in docs/runtime-rules.md.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import platform
import posixpath
import shlex
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.containers import RuncContainer, container_skip_reason, runc_container

from stockade.runtime.agent import AgentSettings, DefenderAgent
from stockade.runtime.events import Event, FileEvent, field_spec
from stockade.runtime.rules import Alert, RuleSet, load_rules
from stockade.runtime.rules.evtgen import EvtgenCase, load_suite, synthesize
from stockade.runtime.rules.output import render_value
from stockade.runtime.sensors.procinfo import bounding_capabilities

pytestmark = [pytest.mark.root, pytest.mark.slow]

DATA = Path(__file__).parents[1] / "data" / "runtime"
CASES = load_suite(DATA / "falco-evtgen-suite")

FILE_SENSOR = "file sensor not available"
FAILED = "EG-FAILED"
"""What the harness's perl prints when a system call of a step fails."""
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EG = "/tmp/eg"
"""Where the harness keeps its files inside the containers."""
HOLD_SECONDS = 60
"""How long a case's processes live at most: each batch is ended (its processes killed)
as soon as the agent has caught up with it."""
CONNECTION_SECONDS = 10
"""How long the cases' connections stay open (run alongside the batches)."""
BATCH = 80
"""Cases started at once."""
SERVER_ADDRESS = "203.0.113.10"
"""The generator's server address (TEST-NET-3): routed, inside the container's own
network namespace, to a veth pair that never answers."""
SSHD_UID = 101
"""The uid Debian's openssh-server would give its ``sshd`` account (and the offline
synthesizer assumes)."""

_SYSCALL_NUMBERS = {  # x86-64
    "open": 2,
    "close": 3,
    "link": 86,
    "symlink": 88,
    "openat": 257,
    "linkat": 265,
    "symlinkat": 266,
    "memfd_create": 319,
    "openat2": 437,
}
_OPEN_FLAGS = {"O_RDONLY": 0, "O_WRONLY": 0o1, "O_CREAT": 0o100, "O_TRUNC": 0o1000}
_REAL_SHELLS = frozenset({"bash", "dash", "sh"})
"""Shells the Debian image has; the others of Falco's list run as dash under their name."""


# -- what each case does -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """How one case is performed: a shell snippet run in the case's own directory."""

    box: str
    """``debian`` or ``busybox``."""
    snippet: str
    files: bool = False
    """Needs the file sensor."""
    order: str = "parallel"
    """``parallel`` (a batch at a time), ``sequential`` (shared paths), ``slow`` (waits)."""
    how: str = ""
    """What performs it, in words (for the report)."""


def q(text: str) -> str:
    return shlex.quote(text)


def hold(command: str) -> str:
    """``command`` with its output going into a pipe that is already full: its first
    write blocks until the batch ends, so it is still itself when the sensor reads
    ``/proc``."""
    return (
        f"{{ head -c 65536 /dev/zero; {command}; }} 2>&1 "
        f"| {{ sleep {HOLD_SECONDS}; cat >/dev/null; }}"
    )


def as_user(user: str) -> str:
    """``setpriv`` to ``user``, keeping every capability (a privileged container's user)."""
    if user == "root":
        return ""
    caps = ",".join(f"+{c.removeprefix('CAP_').lower()}" for c in host_capabilities())
    return (
        f"setpriv --reuid={user} --regid=$(id -g {user}) --clear-groups "
        f"--inh-caps={caps} --ambient-caps={caps} "
    )


def _flags(text: str) -> int:
    value = 0
    for name in str(text).split("|"):
        value |= _OPEN_FLAGS[name.strip()]
    return value


def perl_syscall(syscall: str, args: Mapping[str, Any], *, wait: float = 0.0) -> str:
    """Perl code making ``syscall`` with the step's arguments. An open's descriptor is
    kept a second, then closed (a write is reported when the file is closed) while the
    process lives on until its batch ends: the sensor describes a process from ``/proc``."""
    number = _SYSCALL_NUMBERS[syscall]
    before = f"select(undef, undef, undef, {wait}); " if wait else ""
    if syscall in ("open", "openat", "openat2"):
        how = args.get("how") if syscall == "openat2" else args
        assert isinstance(how, Mapping)
        flags = _flags(how.get("flags", "O_RDONLY"))
        mode = int(str(how["mode"]), 8) if how.get("mode") is not None else 0
        path = f"my $p = q({args['pathname']}); "
        if syscall == "open":
            call = f"syscall({number}, $p, {flags}, {mode})"
        elif syscall == "openat":
            call = f"syscall({number}, -100, $p, {flags}, {mode})"
        else:
            path += f"my $h = pack(q(QQQ), {flags}, {mode}, 0); "
            call = f"syscall({number}, -100, $p, $h, 24)"
        return (
            f"{before}{path}my $r = {call}; die qq({FAILED} {syscall}: $!\\n) if $r < 0; "
            f"select(undef, undef, undef, 1); syscall({_SYSCALL_NUMBERS['close']}, $r); "
            f"select(undef, undef, undef, {HOLD_SECONDS});"
        )
    if syscall in ("link", "linkat"):
        old, new = args["oldPath"], args["newPath"]
        names = f"my $o = q({old}); my $n = q({new}); "
        call = (
            f"syscall({number}, $o, $n)"
            if syscall == "link"
            else f"syscall({number}, -100, $o, -100, $n, 0)"
        )
    else:
        target, link = args["target"], args["linkPath"]
        names = f"my $o = q({target}); my $n = q({link}); "
        call = (
            f"syscall({number}, $o, $n)"
            if syscall == "symlink"
            else f"syscall({number}, $o, -100, $n)"
        )
    return (
        f"{before}{names}my $r = {call}; die qq({FAILED} {syscall}: $!\\n) if $r < 0; "
        f"select(undef, undef, undef, {HOLD_SECONDS});"
    )


MEMFD_EXEC = " ".join(
    (
        "my $n = q(eg_memfd); my $fd = syscall(319, $n, 0);",
        f"die qq({FAILED} memfd_create: $!\\n) if $fd < 0;",
        f"open(my $in, q(<:raw), q(/bin/sleep)) or die qq({FAILED} open: $!\\n);",
        "my $elf = do { local $/; <$in> };",
        f"open(my $out, q(>&=), $fd) or die qq({FAILED} fdopen: $!\\n);",
        f"syswrite($out, $elf) == length $elf or die qq({FAILED} write: $!\\n);",
        f"exec {{ qq(/proc/self/fd/$fd) }} q(eg_memfd), q({HOLD_SECONDS})",
        f"or die qq({FAILED} exec: $!\\n);",
    )
)


def _spec_processes(case: EvtgenCase) -> list[Mapping[str, Any]]:
    return list((case.spec.get("context") or {}).get("processes") or [])


def plan(case: EvtgenCase) -> Action | str:
    """How ``case`` is performed, or why our sensors cannot express it."""
    unsupported = synthesize(case).unsupported
    if unsupported:
        return unsupported
    test = case.test
    procs = _spec_processes(case)
    steps = case.spec.get("steps") or []
    leaf = procs[-1] if procs else {}
    name = str(leaf.get("name", ""))
    args = str(leaf.get("args") or "")
    user = str(leaf.get("user") or "root")

    if test.startswith("run_shell_untrusted"):
        # on PATH: bash, dash and sh are the image's; the others dash under their name
        inner = f"{name} -c {q(f'sleep {HOLD_SECONDS}; :')}"
        if test.endswith("ancestor_spawner"):
            middle = f"eg_middle -c {q(inner + '; :')}"
            command = f"{procs[0]['name']} -c {q(middle + '; :')}"
        elif test.endswith("java_parent"):
            command = f"java -c {q(inner + '; :')} {q(str(procs[0].get('args')))}"
        else:
            command = f"{procs[0]['name']} -c {q(inner + '; :')}"
        how = "dash as the spawner; the shell runs `sleep`"
        return Action("debian", f"PATH={EG}/sh-as:$PATH {command}", how=how)
    if test == "system_user_interactive_ssh_descendant":
        inner = hold(f"{as_user(user)}id")
        return Action(
            "debian",
            f"PATH={EG}/sh-as:$PATH sshd -c {q(inner + '; :')}",
            how="dash as sshd runs the real `id` as the user",
        )
    if test == "system_user_interactive_login":
        return Action(
            "debian",
            f"{as_user(user)}{EG}/fake/{name}",
            how=f"a stand-in named {name}, as the user",
        )
    if test == "debugfs_launched_in_privileged_container":
        return Action(
            "debian",
            f"sleep {HOLD_SECONDS} | debugfs",
            how="the real debugfs reading commands from a pipe",
        )
    if test == "remove_bulk_data_from_disk":
        if name == "mkfs":
            # util-linux's mkfs execs mkfs.<type> within microseconds, before /proc can
            # be read: the sensor sees mkfs.ext2 (see docs/runtime-rules.md)
            return Action("debian", f"{EG}/fake/mkfs disk.img", how="a stand-in named mkfs")
        command = {
            "shred": "head -c 65536 /dev/urandom > data; shred -v -n 1 data",
            "mke2fs": "mke2fs -F disk.img 1024",
        }[name]
        return Action("debian", hold(command), how=f"the real {name}")
    if test == "drop_and_execute_new_binary_in_container":
        path = str(leaf["exe"])
        return Action(
            "debian",
            f"{as_user(user)}{path} {HOLD_SECONDS}",
            how="`sleep` copied to the path after the container started, run as daemon",
        )
    if test == "execution_from_dev_shm_exe":
        return Action(
            "debian",
            f"/dev/shm/eg_devshm {HOLD_SECONDS}",
            how="`sleep` copied into /dev/shm and run from there",
        )
    if test == "execution_from_dev_shm_shell":
        shell_args = f"-c {q(args[3:] + '; :')}" if args.startswith("-c ") else args
        return Action(
            "debian",
            f"PATH={EG}/sh-as:$PATH {name} {shell_args}",
            how="the shell runs /dev/shm/evil, a script that sleeps",
        )
    if test == "fileless_execution_via_memfd_create":
        return Action("debian", f"perl -e {q(MEMFD_EXEC)}", how="perl: memfd_create, then exec")
    if test in ("find_aws_credentials_grep", "search_private_keys_or_passwords_grep"):
        return Action(
            "debian",
            f"sleep {HOLD_SECONDS} | {name} {q(args)}",
            how=f"the real {name} reading a pipe",
        )
    if test in ("find_aws_credentials_find", "search_private_keys_or_passwords_find"):
        return Action("debian", hold(f"find {args}"), how="the real find")
    if test == "netcat_remote_code_execution_in_container":
        if name == "nc" and args.startswith("-e "):
            return Action(
                "busybox",
                # by path: busybox's sh runs applets named bare through /proc/self/exe,
                # so their comm (proc.name) would be "exe"
                f"/bin/nc -l -p 4444 {args} & sleep {HOLD_SECONDS}; kill $!",
                how="busybox nc as a bind shell",
            )
        return Action(
            "debian",
            f"{EG}/fake/{name} {args}",
            how=f"a stand-in named {name} (the image has no {name} with this option)",
        )
    if test == "disallowed_ssh_connection_non_standard_port":
        resource = case.spec["resources"][0]
        host, _, port = str(resource["address"]).rpartition(":")
        # The program connects as soon as it starts (the network sensor looks again for
        # the owner of a socket made after its poll listed the processes); the
        # connection is kept (in SYN_SENT) a while: polls come late while the agent is
        # busy with a burst of execs.
        connect = f"exec 3<>/dev/tcp/{host}/{port}"
        return Action(
            "debian",
            f"timeout --foreground {CONNECTION_SECONDS} {EG}/bash-as/ssh -c {q(connect)}",
            order="slow",
            how="bash as ssh connecting with /dev/tcp",
        )
    if test == "read_sensitive_file_trusted_after_startup":
        code = perl_syscall(steps[0]["syscall"], steps[0]["args"], wait=6)
        return Action(
            "debian",
            f"PATH={EG}/perl-as:$PATH {name} -e {q(code)}",
            files=True,
            order="slow",
            how=f"perl named {name}, 6 s after it started",
        )
    if test.startswith("detect_release_agent"):
        code = perl_syscall(steps[0]["syscall"], steps[0]["args"])
        return Action(
            "debian",
            f"{as_user(user)}{EG}/perl-as/eg_release -e {q(code)}",
            files=True,
            how="perl named eg_release",
        )
    if test.startswith("directory_traversal"):
        code = perl_syscall(steps[0]["syscall"], steps[0]["args"])
        # the rule ignores programs whose parent is a shell; the generator's is not one
        return Action(
            "debian",
            f"timeout --foreground {HOLD_SECONDS} perl -e {q(code)}",
            files=True,
            how="perl under timeout",
        )
    if test.startswith(("clear_log_activities", "read_sensitive_file_untrusted")):
        code = perl_syscall(steps[0]["syscall"], steps[0]["args"])
        return Action("debian", f"perl -e {q(code)}", files=True, how="perl")
    if test.startswith(("create_hardlink", "create_symlink")):
        code = perl_syscall(steps[0]["syscall"], steps[0]["args"])
        before = str(case.spec.get("before") or "")
        return Action(
            "debian", f"{before}; perl -e {q(code)}", files=True, order="sequential", how="perl"
        )
    raise AssertionError(f"no plan for {case.case}")


# -- cases known not to fire, and why ------------------------------------------------------


def known_miss(case: EvtgenCase) -> str | None:
    """Why a performed case is known not to fire, before it runs (a gap outside the rules
    engine). None at present: the file sensor's gaps are judged from what it reported
    (``Outcome.sensor_gap``); the last ones listed here (container user names,
    ``container.privileged``) were closed."""
    del case
    return None


def _param(case: EvtgenCase) -> Any:
    reason = known_miss(case)
    if reason is None:
        return pytest.param(case, id=case.case)
    return pytest.param(case, id=case.case, marks=pytest.mark.xfail(strict=True, reason=reason))


# -- the machinery -------------------------------------------------------------------------


def host_capabilities() -> tuple[str, ...]:
    """The capability names our own bounding set holds (what a container can be given)."""
    return tuple(sorted(bounding_capabilities()))


class Tap(RuleSet):
    """The stable rules, keeping every container event the Defender matched and the
    alerts it got (incidents fold repeats; the suite asks whether the rule fired)."""

    def __init__(self, ruleset: RuleSet) -> None:
        super().__init__(ruleset.rules)
        self.seen: list[tuple[Event, list[Alert]]] = []
        self._per_directory: Counter[tuple[str, str | None]] = Counter()
        self._exec_directories: set[tuple[str, str | None]] = set()
        self._lock = threading.Lock()

    def match(self, event: Event) -> list[Alert]:
        alerts = super().match(event)
        if not event.process.container.is_host:
            key = (event.process.container.id, event.process.cwd)
            with self._lock:
                self.seen.append((event, alerts))
                self._per_directory[key] += 1
                if event.type == "execve":
                    self._exec_directories.add(key)
        return alerts

    def saw_exec_in(self, container: str, directory: str) -> bool:
        with self._lock:
            return (container, directory) in self._exec_directories

    def count(self, container: str, directories: Iterable[str]) -> int:
        with self._lock:
            return sum(self._per_directory[(container, d)] for d in directories)

    def by_case(self) -> dict[tuple[str, str], list[tuple[Event, list[Alert]]]]:
        """The events by (container, case directory) of the process or an ancestor."""
        found: dict[tuple[str, str], list[tuple[Event, list[Alert]]]] = {}
        with self._lock:
            seen = list(self.seen)
        for event, alerts in seen:
            directories = {
                p.cwd
                for p in (event.process, *event.process.ancestors())
                if p.cwd is not None and p.cwd.startswith(f"{EG}/c/")
            }
            for directory in directories:
                found.setdefault((event.process.container.id, directory), []).append(
                    (event, alerts)
                )
        return found

    def snapshot(self) -> list[tuple[Event, list[Alert]]]:
        with self._lock:
            return list(self.seen)


@dataclass
class Outcome:
    status: str
    """``fired``, ``missed``, ``skipped``."""
    detail: str = ""
    how: str = ""
    fields_differ: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    sensor_gap: bool = False
    """Missed because the file sensor does not report what the rule needs (diagnosed
    from the events it did report)."""


@dataclass
class Performed:
    outcomes: dict[str, Outcome]
    agent: DefenderAgent
    containers: dict[str, str]
    """box -> container id as the sensors name it."""
    seconds: float
    tap: Tap
    """Every container event the Defender matched, with its alerts (for inspection)."""
    boxes: dict[str, RuncContainer]


def _exec(box: RuncContainer, script: str) -> subprocess.Popen[str]:
    caps = [arg for cap in host_capabilities() for arg in ("--cap", cap)]
    return subprocess.Popen(
        ["runc", "exec", *caps, box.id, "/bin/sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, _ = process.communicate(timeout=timeout)
    return out


class Driver:
    """One ``runc exec`` of a shell script that runs stages of jobs (each case in its own
    directory and session). After each stage's jobs it starts a sentinel and waits at a
    gate (a FIFO) until the harness has seen the agent handle the sentinel's exec (so every
    exec before it, too) and no newer event of the stage's cases for a moment; then it
    kills the stage's jobs. Cases are held by long sleeps, so however far the agent lags
    behind under load, their processes are still there when it reads them."""

    _numbers = iter(range(1, 1_000_000))

    def __init__(
        self,
        box: RuncContainer,
        stages: Sequence[Sequence[tuple[int, str]]],
        *,
        settle: float = 0.5,
        quiet: float = 0.5,
    ) -> None:
        self.box = box
        self.quiet = quiet
        self.stages: list[tuple[str, str, list[str]]] = []
        root = box.bundle / "rootfs"
        lines = [f"export PATH={PATH}"]
        for jobs in stages:
            number = next(self._numbers)
            sentinel, gate = f"{EG}/sentinel/{number}", f"{EG}/gate-{number}"
            (root / sentinel.lstrip("/")).mkdir(parents=True)
            os.mkfifo(root / gate.lstrip("/"))
            lines.append("jobs=")
            for index, snippet in jobs:
                directory = f"{EG}/c/{index}"
                command = q(f"cd {directory} && {snippet}")
                lines.append(f"setsid sh -c {command} </dev/null >{directory}/out 2>&1 &")
                lines.append('jobs="$jobs $!"')
            lines += [
                f"sleep {settle}",  # the jobs' processes start
                f"(cd {sentinel} && exec sleep {HOLD_SECONDS}) &",
                'jobs="$jobs $!"',
                f"read go < {gate}",
                'for job in $jobs; do kill -KILL "-$job" 2>/dev/null || kill -KILL "$job"; done',
            ]
            self.stages.append((sentinel, gate, [f"{EG}/c/{i}" for i, _ in jobs]))
        self.process = _exec(box, "\n".join(lines) + "\n")

    def release(self, tap: Tap, *, limit: float = 120) -> str:
        """Open each stage's gate once the agent has caught up with it; the output."""
        cid = self.box.id[:12]
        for sentinel, gate, directories in self.stages:
            deadline = time.monotonic() + limit
            while not tap.saw_exec_in(cid, sentinel):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    break
                time.sleep(0.1)
            _wait_settled(tap, cid, directories, quiet=self.quiet)
            self._open(gate, deadline)
        return _finish(self.process)

    def _open(self, gate: str, deadline: float) -> None:
        path = self.box.bundle / "rootfs" / gate.lstrip("/")
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # the driver is not reading yet
                if time.monotonic() > deadline or self.process.poll() is not None:
                    return
                time.sleep(0.05)
                continue
            os.write(fd, b"go\n")
            os.close(fd)
            return


def _nsenter(pid: int, flag: str, *command: str) -> None:
    subprocess.run(["nsenter", "-t", str(pid), flag, *command], check=True, capture_output=True)


def _prepare_debian(box: RuncContainer) -> None:
    root = box.bundle / "rootfs"
    eg = root / EG.lstrip("/")
    for directory in ("sh-as", "perl-as", "bash-as", "fake"):
        (eg / directory).mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    perl_names: set[str] = {"eg_release"}
    fake_names: set[str] = set()
    for case in CASES:
        procs = _spec_processes(case)
        if case.test.startswith("run_shell_untrusted") or case.test.startswith(
            "execution_from_dev_shm_shell"
        ):
            names.update(str(p["name"]) for p in procs if str(p["name"]) not in _REAL_SHELLS)
        if case.test == "read_sensitive_file_trusted_after_startup":
            perl_names.update(str(p["name"]) for p in procs)
        if case.test in (
            "system_user_interactive_login",
            "netcat_remote_code_execution_in_container",
            "remove_bulk_data_from_disk",
        ):
            fake_names.update(str(p["name"]) for p in procs)
    names.update({"eg_middle", "java", "sshd"})
    for name in names:
        (eg / "sh-as" / name).symlink_to("/bin/dash")
    for name in perl_names:
        (eg / "perl-as" / name).symlink_to("/usr/bin/perl")
    (eg / "bash-as" / "ssh").symlink_to("/bin/bash")
    for name in fake_names:
        script = eg / "fake" / name
        script.write_text(
            f"#!/bin/sh\n# stands in for {name}: exists, with its arguments\nsleep {HOLD_SECONDS}\n"
        )
        script.chmod(0o755)
    # the suite's fd resources: files its steps open or link, made beforehand
    for case in CASES:
        for resource in case.spec.get("resources") or []:
            if resource.get("type") == "fd" and resource.get("subtype") == "file":
                target = root / str(resource["filePath"]).lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.write_text("eg\n")
    # what openssh-server would add
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write(f"sshd:x:{SSHD_UID}:65534::/run/sshd:/usr/sbin/nologin\n")
    # dropped binaries for "Drop and execute new binary in container"
    for path in ("tmp/eg_dropped", "usr/local/bin/eg_dropped", "root/eg_dropped"):
        target = root / path
        target.write_bytes((root / "usr/bin/sleep").read_bytes())
        target.chmod(0o755)
    # /dev/shm is the container's own tmpfs; runc mounts it noexec, Docker's privileged
    # containers (where the generator runs) do not
    _nsenter(box.pid, "-m", "mount", "-o", "remount,exec", "/dev/shm")
    setup = _exec(
        box,
        "cp /bin/sleep /dev/shm/eg_devshm && "
        f"printf '#!/bin/sh\\nsleep {HOLD_SECONDS}\\n' > /dev/shm/evil "
        "&& chmod 755 /dev/shm/eg_devshm /dev/shm/evil",
    )
    out = _finish(setup, 30)
    assert setup.returncode == 0, out
    # the server address routes to a veth pair that never answers (its neighbour entry is
    # nobody's address: eg1 drops the SYN), so connections stay in SYN_SENT, locally
    for command in (
        "ip link set lo up",
        "ip link add eg0 type veth peer name eg1",
        "ip link set eg0 up",
        "ip link set eg1 up",
        "ip addr add 198.51.100.1/24 dev eg0",
        "ip route add 203.0.113.0/24 dev eg0",
        f"ip neigh add {SERVER_ADDRESS} lladdr 02:00:00:00:00:01 dev eg0 nud permanent",
    ):
        _nsenter(box.pid, "-n", *command.split())


def _prepare_busybox(box: RuncContainer) -> None:
    _nsenter(box.pid, "-n", "ip", "link", "set", "lo", "up")


def _case_dirs(box: RuncContainer, indexes: Sequence[int]) -> None:
    base = box.bundle / "rootfs" / EG.lstrip("/") / "c"
    for index in indexes:
        directory = base / str(index)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)


def _wait_settled(
    tap: Tap, container: str, directories: Iterable[str], quiet: float = 0.5, limit: float = 15
) -> None:
    """Until no new event of these cases has reached the Defender for ``quiet`` seconds."""
    wanted = set(directories)
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = tap.count(container, wanted)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _field(alert: Alert, event: Event, name: str) -> str | None:
    if name in alert.fields:
        return alert.fields[name]
    found = field_spec(name)
    if found is None or found[0].bind is None:
        return None
    return render_value(found[0].bind(found[1])(event))


def judge(case: EvtgenCase, mine: Sequence[tuple[Event, list[Alert]]]) -> Outcome:
    """The outcome of ``case`` from the events its processes caused."""
    if not mine:
        return Outcome("missed", "no event from the case's processes reached the Defender")
    wrong: list[str] = []
    for event, alerts in mine:
        for alert in alerts:
            if alert.rule != case.rule:
                continue
            if alert.priority.label != case.priority:
                wrong.append(alert.priority.label)
                continue
            differ = {
                name: (got, expected)
                for name, expected in case.output_fields.items()
                if (got := _field(alert, event, name)) != expected
            }
            return Outcome("fired", fields_differ=differ)
    if wrong:
        return Outcome("missed", f"fired with priority {', '.join(sorted(set(wrong)))}")
    gaps = file_sensor_gaps(case, [e for e, _ in mine])
    if gaps:
        return Outcome("missed", "; ".join(gaps), sensor_gap=True)
    kinds = Counter(
        f"{e.type} {e.process.name} {e.path} (parent {e.process.parent.name})"
        if isinstance(e, FileEvent) and e.process.parent is not None
        else f"{e.type} {e.process.name}" + (f" {e.path}" if isinstance(e, FileEvent) else "")
        for e, _ in mine
    )
    return Outcome("missed", f"the rule did not fire; events: {dict(kinds)}")


def file_sensor_gaps(case: EvtgenCase, events: Sequence[Event]) -> list[str]:
    """What the file sensor's reports of ``case``'s file step lack for the rule."""
    steps = case.spec.get("steps") or []
    if not steps or steps[0].get("syscall") not in _SYSCALL_NUMBERS:
        return []
    syscall = str(steps[0]["syscall"])
    args = steps[0]["args"]
    if syscall in ("link", "linkat", "symlink", "symlinkat"):
        made = posixpath.normpath(str(args.get("newPath") or args.get("linkPath")))
        if not any(isinstance(e, FileEvent) and e.path == made for e in events):
            return [f"the file sensor reports no {syscall} (no fanotify mark for creations)"]
        return []
    path = posixpath.normpath(str(args["pathname"]))
    opens = [e for e in events if isinstance(e, FileEvent) and e.path == path]
    if not opens:
        return [
            f"the file sensor reported no open of {path} (it reports opens of its "
            "sensitive-read list and opens for writing, not other reads)"
        ]
    gaps = []
    if all(e.fd is None for e in opens):
        gaps.append(
            "the file sensor reports the open without its descriptor number, and Falco's "
            "open_read/open_write macros require fd.num>=0"
        )
    how = args.get("how") if syscall == "openat2" else args
    if "O_TRUNC" in str((how or {}).get("flags")) and not any(
        e.flags & _OPEN_FLAGS["O_TRUNC"] for e in opens
    ):
        gaps.append(
            "the write is reported at close, without the open's O_TRUNC (no eBPF open records here)"
        )
    if "fd.nameraw" in case.output_fields and all(e.raw_path is None for e in opens):
        gaps.append("fanotify reports the resolved path only: fd.nameraw has no '../'")
    return gaps


def _file_sensor_probe(agent: DefenderAgent, tap: Tap, box: RuncContainer, cid: str) -> str | None:
    """None when file events from the container reach the agent, else why not."""
    if importlib.util.find_spec("stockade.runtime.sensors.files") is None:
        return FILE_SENSOR
    probe = _exec(
        box,
        f"mkdir -p {EG}/probe && cd {EG}/probe && "
        "perl -e 'open(my $f, q(<), q(/etc/shadow)) or die; select(undef, undef, undef, 2)'",
    )
    _finish(probe, 30)
    deadline = time.monotonic() + 20  # the agent may run seconds behind on a busy machine
    while time.monotonic() < deadline:
        if any(
            isinstance(e, FileEvent) and e.path == "/etc/shadow" and e.process.container.id == cid
            for e, _ in tap.snapshot()
        ):
            return None
        time.sleep(0.1)
    return f"{FILE_SENSOR}: no file event reached the agent for a probe open in the container"


@contextmanager
def perform(work: Path, rootfs: Path, cases: Sequence[EvtgenCase]) -> Iterator[Performed]:
    """Start the agent and the containers, perform ``cases``, judge each; the agent runs
    until the context exits."""
    loaded = load_rules([DATA / "falco-rules" / "falco_rules.yaml"])
    loaded.raise_for_errors()
    tap = Tap(loaded.ruleset)
    agent = DefenderAgent(
        AgentSettings(
            data_dir=work / "defender",
            learning_seconds=1,
            dry_run_seconds=0,
            rules=tap,
            network_interval=0.1,
            recorder_bytes=64 * 1024,
            log=io.StringIO(),
        )
    )
    started = time.monotonic()
    with (
        runc_container(
            work,
            ["/bin/sleep", "100000"],
            rootfs=rootfs,
            image="test/bookworm:12",
            network_host=False,
            privileged=True,  # as the generator's own containers are
        ) as debian,
        runc_container(work, ["/bin/sleep", "100000"], network_host=False) as busybox,
    ):
        boxes = {"debian": debian, "busybox": busybox}
        ids = {name: box.id[:12] for name, box in boxes.items()}
        _prepare_debian(debian)
        _prepare_busybox(busybox)
        agent.start()
        try:
            outcomes = _perform(agent, tap, boxes, ids, cases)
            yield Performed(outcomes, agent, ids, time.monotonic() - started, tap, boxes)
        finally:
            agent.stop()


@pytest.fixture(scope="module")
def performed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Performed]:
    if reason := container_skip_reason():
        pytest.skip(reason)
    if platform.machine() != "x86_64":
        pytest.skip("the system-call numbers used are x86-64's")
    from tests.support.images import BuildError, bookworm_image, missing_tools

    if missing_tools("debootstrap", "nsenter", "ip"):
        pytest.skip("needs debootstrap (the Debian image), nsenter and ip")
    try:
        rootfs = bookworm_image().rootfs
    except BuildError as exc:
        pytest.skip(f"the Debian image could not be built here: {exc}")
    with perform(tmp_path_factory.mktemp("evtgen-real"), rootfs, CASES) as done:
        yield done


def _perform(
    agent: DefenderAgent,
    tap: Tap,
    boxes: Mapping[str, RuncContainer],
    ids: Mapping[str, str],
    cases: Sequence[EvtgenCase],
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    actions: dict[int, Action] = {}
    for index, case in enumerate(cases):
        planned = plan(case)
        if isinstance(planned, str):
            outcomes[case.case] = Outcome("skipped", planned)
        else:
            actions[index] = planned
    time.sleep(1.5)  # let the models leave learning, as a running Defender's would have
    files_reason = _file_sensor_probe(agent, tap, boxes["debian"], ids["debian"])
    for index, action in list(actions.items()):
        if action.files and files_reason:
            outcomes[cases[index].case] = Outcome("skipped", files_reason, how=action.how)
            del actions[index]
    for name, box in boxes.items():
        _case_dirs(box, [i for i, a in actions.items() if a.box == name])
    # the slow ones (a process that waits 6 s, connections kept a while) and the ones that
    # must take turns (they share a path) run alongside the batches
    background: list[Driver] = []
    slow = [(i, a.snippet) for i, a in actions.items() if a.order == "slow"]
    if slow:
        background.append(Driver(boxes["debian"], [slow], settle=8))
    for name, box in boxes.items():
        turns = [
            [(i, a.snippet)]
            for i, a in actions.items()
            if a.box == name and a.order == "sequential"
        ]
        if turns:
            background.append(Driver(box, turns, settle=0.2, quiet=0.3))
    releasing = [threading.Thread(target=d.release, args=(tap,), daemon=True) for d in background]
    for thread in releasing:
        thread.start()
    for name, box in boxes.items():
        parallel = [
            (i, a.snippet) for i, a in actions.items() if a.box == name and a.order == "parallel"
        ]
        for start in range(0, len(parallel), BATCH):
            Driver(box, [parallel[start : start + BATCH]]).release(tap)
    for thread in releasing:
        thread.join(timeout=300)
    by_case = tap.by_case()
    for index, action in actions.items():
        case = cases[index]
        directory = f"{EG}/c/{index}"
        out = boxes[action.box].bundle / "rootfs" / directory.lstrip("/") / "out"
        failed = [line for line in out.read_text().splitlines() if FAILED in line]
        if failed:  # the action itself did not happen: no sensor is to blame
            outcome = Outcome("missed", f"the action failed: {failed[0]}")
        else:
            outcome = judge(case, by_case.get((ids[action.box], directory), []))
        outcome.how = action.how
        outcomes[case.case] = outcome
    return outcomes


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: EvtgenCase, performed: Performed) -> None:
    outcome = performed.outcomes[case.case]
    if outcome.status == "skipped":
        pytest.skip(outcome.detail)
    if outcome.sensor_gap:
        pytest.xfail(outcome.detail)
    assert outcome.status == "fired", outcome.detail


def test_agreement_and_incidents(performed: Performed) -> None:
    outcomes = performed.outcomes
    report = os.environ.get("STOCKADE_EVTGEN_REPORT")
    if report:  # every case's outcome, for docs/runtime-rules.md
        Path(report).write_text(
            json.dumps(
                {
                    "seconds": round(performed.seconds, 1),
                    "cases": {
                        c.case: {
                            "test": c.test,
                            "rule": c.rule,
                            "status": outcomes[c.case].status,
                            "detail": outcomes[c.case].detail,
                            "how": outcomes[c.case].how,
                            "fields_differ": outcomes[c.case].fields_differ,
                        }
                        for c in CASES
                    },
                },
                indent=1,
            )
        )
    done = [c for c in CASES if outcomes[c.case].status != "skipped"]
    fired = [c for c in done if outcomes[c.case].status == "fired"]
    missed = {c.case for c in done} - {c.case for c in fired}
    # every miss is a known one, with its reason (else test_case says which)
    explained = {c.case for c in done if known_miss(c) or outcomes[c.case].sensor_gap}
    assert missed == explained
    # the Defender turned the rules' alerts into incidents: each rule that fired leads or
    # joins at least one incident from our containers (later ones fold as repeats)
    ours = set(performed.containers.values())
    reported: set[str] = set()
    for incident in performed.agent.incidents:
        if incident.container.id in ours:
            reported.add(incident.rule)
            reported.update(m["rule"] for m in incident.fields.get("alsoMatched", []))
    assert {c.rule for c in fired} <= reported
