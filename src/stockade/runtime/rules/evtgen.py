"""Falco's declarative event-generator tests, turned into the events our sensors report.

Each test of the suite (``e2e_tests/evtgen_suite/*.yaml`` in Falco's repository) names a
rule, a context (processes, a container), resources (files, a client/server connection)
and system-call steps, plus the expected priority and output fields; ``cases`` expand
``%{ item.x }`` placeholders by matrix or vector. :func:`load_suite` reads them and
expands every case; :func:`synthesize` builds the events our sensors would report for one
case, or says why they cannot (a system call our sensors do not observe).

The Defender's root tests will run the same cases for real inside containers; this is
the offline half, and the events here follow what the sensors are specified to report:

* each process of the context is exec'd in turn (the proc connector's exec event), each
  the child of the one before it;
* a context ``container`` is a privileged container (the generator's runner starts them
  so), and an ``exe`` given for a process in a container is a file the generator copies
  into the container's writable layer (``proc.is_exe_upper_layer``), unless it is under
  ``/dev`` (a tmpfs);
* opens become one fanotify open event (``openat``) with the path resolved, the path as
  passed kept raw, and the descriptor the call returned (3: the generator holds 0 to 2);
  ``link``/``symlink`` become fanotify create events (``linkat``/``symlinkat``);
* a ``clientServer`` resource becomes the client's outbound connection (sock_diag);
* a ``fileLess`` process is exec'd from a memfd: ``/proc/PID/exe`` reads
  ``/memfd:NAME (deleted)`` and the memfd is writable.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Final

import yaml

from stockade.runtime.events import (
    HOST,
    Container,
    Event,
    FileEvent,
    NetworkEvent,
    Process,
    ProcessEvent,
)
from stockade.runtime.rules.errors import RulesError

__all__ = ["EvtgenCase", "Synthesized", "load_suite", "synthesize"]

_PLACEHOLDER: Final = re.compile(r"%\{\s*item\.([A-Za-z0-9_]+)\s*\}")
_BARE_PLACEHOLDER: Final = re.compile(r"(:\s+)(%\{\s*item\.[A-Za-z0-9_]+\s*\})\s*$", re.MULTILINE)

_USERS: Final = {
    "root": 0,
    "daemon": 1,
    "bin": 2,
    "sys": 3,
    "sync": 4,
    "games": 5,
    "man": 6,
    "lp": 7,
    "mail": 8,
    "news": 9,
    "uucp": 10,
    "proxy": 13,
    "www-data": 33,
    "sshd": 101,
    "nobody": 65534,
}
"""Debian's standard accounts, as a container or host built from Debian has them."""

_CAPABILITY_NAMES: Final = """
    CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
    SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
    SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
    MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
    CHECKPOINT_RESTORE
"""
ALL_CAPABILITIES: Final = frozenset(f"CAP_{name}" for name in _CAPABILITY_NAMES.split())
"""A privileged container's capability set."""

_OPEN_FLAGS: Final = {
    "O_RDONLY": os.O_RDONLY,
    "O_WRONLY": os.O_WRONLY,
    "O_RDWR": os.O_RDWR,
    "O_CREAT": os.O_CREAT,
    "O_TRUNC": os.O_TRUNC,
    "O_APPEND": os.O_APPEND,
    "O_EXCL": os.O_EXCL,
    "O_CLOEXEC": os.O_CLOEXEC,
    "O_NONBLOCK": os.O_NONBLOCK,
    "O_DIRECTORY": os.O_DIRECTORY,
    "O_NOFOLLOW": os.O_NOFOLLOW,
}
_OPENS: Final = frozenset({"open", "openat", "openat2"})
_LINKS: Final = frozenset({"link", "linkat"})
_SYMLINKS: Final = frozenset({"symlink", "symlinkat"})
_START: Final = 1_700_000_000 * 10**9
"""When the synthesized processes start (a fixed instant: runs are reproducible)."""
_SECOND: Final = 10**9


@dataclass(frozen=True, slots=True)
class EvtgenCase:
    """One expanded case of one test."""

    test: str
    case: str
    """The test name and the values of this case (``read_x[target=/etc/shadow]``)."""
    rule: str
    priority: str
    output_fields: Mapping[str, str]
    spec: Mapping[str, Any] = field(repr=False)
    """The test with this case's values substituted."""
    file: str = ""


@dataclass(frozen=True, slots=True)
class Synthesized:
    """The events for a case, or why our sensors cannot express it."""

    events: tuple[Event, ...]
    unsupported: str | None = None


def load_suite(directory: str | Path) -> list[EvtgenCase]:
    """Every case of every test in the suite's YAML files, sorted by file."""
    cases: list[EvtgenCase] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        # Some placeholders stand for whole YAML values (runIf: %{ item.runIf }): quote them
        # so that the file parses, and substitute the typed value afterwards.
        text = _BARE_PLACEHOLDER.sub(lambda m: f'{m[1]}"{m[2]}"', text)
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesError(f"{path}: not valid YAML: {exc}") from exc
        for test in (document or {}).get("tests", []):
            for values in _expand_cases(test.get("cases")):
                spec = _substitute({k: v for k, v in test.items() if k != "cases"}, values)
                outcome = spec.get("expectedOutcome") or {}
                label = ",".join(f"{k}={v}" for k, v in values.items())
                cases.append(
                    EvtgenCase(
                        test=str(spec["name"]),
                        case=f"{spec['name']}[{label}]" if label else str(spec["name"]),
                        rule=str(spec["rule"]),
                        priority=str(outcome.get("priority", "")).lower(),
                        output_fields={
                            str(k): str(v) for k, v in (outcome.get("outputFields") or {}).items()
                        },
                        spec=spec,
                        file=path.name,
                    )
                )
    return cases


def _expand_cases(cases: object) -> list[dict[str, Any]]:
    if not cases:
        return [{}]
    expanded: list[dict[str, Any]] = []
    for case in cases if isinstance(cases, list) else []:
        values: dict[str, Any] = case.get("values") or {}
        if case.get("strategy") == "matrix":
            names = list(values)
            for combination in itertools.product(*(values[n] for n in names)):
                expanded.append(dict(zip(names, combination, strict=True)))
        else:
            expanded.append(dict(values))
    return expanded


def _substitute(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    if isinstance(node, str):
        whole = _PLACEHOLDER.fullmatch(node.strip())
        if whole is not None:
            return values.get(whole[1])
        return _PLACEHOLDER.sub(lambda m: str(values.get(m[1], "")), node)
    return node


def synthesize(case: EvtgenCase) -> Synthesized:
    """The events our sensors would report while the case runs."""
    spec = case.spec
    context = spec.get("context") or {}
    resources = spec.get("resources") or []
    container = _container(context.get("container"))
    age = _age(spec.get("before"))
    chain = _processes(context.get("processes") or [], resources, container, age)
    events: list[Event] = [
        ProcessEvent("execve", process, ts=process.start_ts or _START, num=index + 1)
        for index, process in enumerate(chain)
        if process.start_ts is not None
    ]
    leaf = chain[-1]
    now = _START + age * _SECOND + _SECOND
    declared_files = {
        str(r.get("filePath")) for r in resources if isinstance(r, dict) and r.get("type") == "fd"
    }
    for resource in resources:
        if isinstance(resource, dict) and resource.get("type") == "clientServer":
            events.append(_connection(resource, leaf, now, len(events) + 1))
    for step in spec.get("steps") or []:
        syscall = str(step.get("syscall"))
        args = step.get("args") or {}
        if syscall in _OPENS:
            how = args.get("how") if syscall == "openat2" else args
            events.append(
                _open(
                    args,
                    how or {},
                    leaf,
                    declared_files=declared_files,
                    now=now,
                    num=len(events) + 1,
                )
            )
        elif syscall in _LINKS:
            events.append(
                FileEvent(
                    "linkat",
                    leaf,
                    path=posixpath.normpath(str(args["newPath"])),
                    raw_path=str(args["newPath"]),
                    source_path=str(args["oldPath"]),
                    ts=now,
                    num=len(events) + 1,
                )
            )
        elif syscall in _SYMLINKS:
            events.append(
                FileEvent(
                    "symlinkat",
                    leaf,
                    path=posixpath.normpath(str(args["linkPath"])),
                    raw_path=str(args["linkPath"]),
                    link_target=str(args["target"]),
                    ts=now,
                    num=len(events) + 1,
                )
            )
        else:
            return Synthesized(
                tuple(events), f"our sensors do not observe the {syscall} system call"
            )
    return Synthesized(tuple(events))


def _container(value: object) -> Container:
    if value is None:
        return HOST
    return Container(
        id="5e1ec7ed0001",
        name="evtgen",
        image="docker.io/library/debian:12",
        image_repository="docker.io/library/debian",
        image_tag="12",
        runtime="docker",
        privileged=True,
        start_ts=_START - 60 * _SECOND,
    )


def _age(before: object) -> int:
    """Seconds the processes have run when the steps happen (``before: sleep 6``)."""
    match = re.search(r"\bsleep\s+(\d+)", str(before or ""))
    return int(match[1]) if match else 0


def _processes(
    declared: Sequence[Mapping[str, Any]],
    resources: Sequence[Any],
    container: Container,
    age: int,
) -> list[Process]:
    fileless = [
        r
        for r in resources
        if isinstance(r, dict) and r.get("type") == "process" and r.get("fileLess")
    ]
    init = Process(
        pid=1,
        name="systemd",
        exe="/sbin/init",
        exepath="/usr/lib/systemd/systemd",
        uid=0,
        user_name="root",
        container=HOST,
    )
    specs: list[Mapping[str, Any]] = list(declared) or [{"name": "event-generator"}]
    if fileless:
        specs = [*specs, {"name": str(fileless[0].get("name", "memfd")), "fileless": True}]
    parent = init
    chain: list[Process] = []
    for index, spec in enumerate(specs):
        name = str(spec.get("name"))
        user = str(spec.get("user") or "root")
        given_exe = spec.get("exe")
        exepath = str(given_exe) if given_exe else f"/usr/bin/{name}"
        args = tuple(str(spec.get("args") or "").split())
        in_container = not container.is_host
        upper = bool(in_container and given_exe and not exepath.startswith("/dev/"))
        memfd = bool(spec.get("fileless"))
        if memfd:
            exepath = f"/memfd:{name} (deleted)"
        process = Process(
            pid=1000 + index,
            name=name[:15],
            exe=exepath,
            exepath=exepath,
            args=args,
            cwd="/root" if user == "root" else "/",
            uid=_USERS.get(user, 1000),
            user_name=user,
            gid=_USERS.get(user, 1000),
            group_name=user,
            loginuid=-1,
            ppid=parent.pid,
            vpid=1000 + index,
            start_ts=_START + index * 1000,
            exe_writable=memfd,
            exe_upper_layer=upper,
            exe_lower_layer=in_container and not upper and not memfd,
            exe_from_memfd=memfd,
            cap_effective=ALL_CAPABILITIES if in_container or user == "root" else frozenset(),
            cap_permitted=ALL_CAPABILITIES if in_container or user == "root" else frozenset(),
            container=container,
            parent=parent,
        )
        chain.append(process)
        parent = process
    return chain


def _open(
    args: Mapping[str, Any],
    how: Mapping[str, Any],
    process: Process,
    *,
    declared_files: set[str],
    now: int,
    num: int,
) -> FileEvent:
    raw = str(args["pathname"])
    flags = 0
    for name in str(how.get("flags", "O_RDONLY")).split("|"):
        flags |= _OPEN_FLAGS[name.strip()]
    path = posixpath.normpath(raw)
    mode = how.get("mode")
    return FileEvent(
        "openat",
        process,
        path=path,
        raw_path=raw,
        flags=flags,
        mode=int(str(mode), 8) if mode is not None else None,
        fd=3,
        created=bool(flags & os.O_CREAT) and path not in declared_files,
        ts=now,
        num=num,
    )


def _connection(resource: Mapping[str, Any], process: Process, now: int, num: int) -> NetworkEvent:
    proto = str(resource.get("l4Proto", "tcp4"))
    host, _, port = str(resource["address"]).rpartition(":")
    server = ip_address(host.strip("[]"))
    client = ip_address("192.0.2.10" if server.version == 4 else "2001:db8::10")
    if server.is_loopback:
        client = server
    return NetworkEvent(
        "connect",
        process,
        family="ipv6" if proto.endswith("6") else "ipv4",
        l4proto=proto.rstrip("46"),
        client_ip=client,
        client_port=40000,
        server_ip=server,
        server_port=int(port),
        fd=3,
        ts=now,
        num=num,
    )


def with_process(event: Event, process: Process) -> Event:
    """``event`` as if ``process`` had caused it (for tests of exceptions and outputs)."""
    return replace(event, process=process)
