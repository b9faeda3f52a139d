"""Built-in detections: what is worth an alert in any container, without learning.

Each detection looks at one event (and, for "a shell in a container that never ran one",
at the image's model) and returns :class:`Finding` s with a sentence that explains them.
They are pure functions of their inputs, so each is tested on events as data and again,
end to end, on real containers.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from stockade.runtime.events import (
    OPEN_CALLS,
    Event,
    FileEvent,
    NetworkEvent,
    Process,
    ProcessEvent,
)
from stockade.runtime.models import Model, ModelState
from stockade.runtime.rules import Priority

__all__ = ["BUILTINS", "Finding", "builtin_findings", "describe", "is_shell"]

SHELLS: Final = frozenset(
    {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "tcsh", "csh", "fish", "busybox"}
)
MINERS: Final = frozenset(
    {
        "xmrig",
        "xmr-stak",
        "xmr-stak-cpu",
        "minerd",
        "cpuminer",
        "cpuminer-multi",
        "cgminer",
        "bfgminer",
        "ethminer",
        "t-rex",
        "nbminer",
        "lolminer",
        "phoenixminer",
        "ccminer",
        "nanominer",
        "srbminer",
        "teamredminer",
        "gminer",
        "kdevtmpfsi",
        "kinsing",
    }
)
_MINER_ARGS: Final = re.compile(
    r"stratum\+(?:tcp|ssl|tls)://|--donate-level|--cpu-priority|cryptonight|randomx"
    r"|(?:^|[./@])(?:minexmr|supportxmr|nanopool|xmrpool|2miners|f2pool|hashvault|moneroocean"
    r"|c3pool|herominers|nicehash|unmineable)\.",
    re.IGNORECASE,
)
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_METADATA_ARG: Final = re.compile(
    r"169\.254\.169\.254|metadata\.google\.internal|100\.100\.100\.200"
)
_PACKAGE_MANAGERS: Final[dict[str, frozenset[str] | None]] = {
    # program → arguments of which one must appear (None: any run counts)
    "apt": frozenset({"install", "upgrade", "dist-upgrade", "full-upgrade", "reinstall"}),
    "apt-get": frozenset({"install", "upgrade", "dist-upgrade", "reinstall", "build-dep"}),
    "aptitude": frozenset({"install", "upgrade", "safe-upgrade", "full-upgrade"}),
    "dpkg": frozenset({"-i", "--install", "--unpack"}),
    "yum": frozenset({"install", "update", "upgrade", "localinstall", "reinstall"}),
    "dnf": frozenset({"install", "update", "upgrade", "reinstall"}),
    "microdnf": frozenset({"install", "update", "upgrade"}),
    "tdnf": frozenset({"install", "update", "upgrade"}),
    "zypper": frozenset({"install", "in", "update", "up"}),
    "rpm": frozenset({"-i", "-U", "-F", "--install", "--upgrade", "--freshen", "-ivh", "-Uvh"}),
    "apk": frozenset({"add", "upgrade"}),
    "pip": frozenset({"install"}),
    "pip2": frozenset({"install"}),
    "pip3": frozenset({"install"}),
    "pipx": frozenset({"install"}),
    "uv": frozenset({"add", "install"}),
    "npm": frozenset({"install", "i", "add", "ci"}),
    "yarn": frozenset({"add", "install"}),
    "pnpm": frozenset({"add", "install", "i"}),
    "gem": frozenset({"install"}),
    "composer": frozenset({"require", "install"}),
    "conda": frozenset({"install"}),
    "cargo": frozenset({"install"}),
    "go": frozenset({"install", "get"}),
}
_SENSITIVE_READS: Final = frozenset({"/etc/shadow", "/etc/gshadow", "/etc/sudoers"})
_SSH_PRIVATE_KEY: Final = re.compile(
    r"(?:/root|/home/[^/]+)/\.ssh/id_[^/]*|/etc/ssh/ssh_host_[^/]*_key"
)
_SSH_TOOLS: Final = frozenset({"ssh", "sshd", "ssh-add", "ssh-agent", "ssh-keygen", "scp", "sftp"})
_SENSITIVE_WRITE_PREFIXES: Final = (
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/ssh/",
    "/root/.ssh/",
    "/var/lib/dpkg/",
    "/var/lib/rpm/",
    "/lib/apk/db/",
    "/etc/ld.so.preload",
    "/etc/cron",
    "/var/spool/cron/",
)
_BIN_DIRS: Final = (
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    """``builtin:reverse-shell``, ``model:process`` …"""
    priority: Priority
    title: str
    explanation: str
    source: str = "builtin"


def describe(process: Process) -> str:
    """A process as a person reads it: ``cat /etc/shadow`` (pid 123)."""
    line = " ".join((posixpath.basename(process.exe) or process.name, *process.args))
    if len(line) > 200:
        line = line[:197] + "..."
    return f"`{line}` (pid {process.pid})"


def _where(process: Process) -> str:
    container = process.container
    if container.is_host:
        return "on the host"
    image = f" of image {container.image}" if container.image else ""
    return f"in container {container.name or container.id}{image}"


def program_name(process: Process) -> str:
    return posixpath.basename(process.exe) or process.name


def is_shell(process: Process) -> bool:
    name = program_name(process)
    if name == "busybox":
        return bool(process.args) and process.args[0] in SHELLS
    return name in SHELLS or posixpath.basename(process.exepath) in SHELLS - {"busybox"}


def _socket(target: str) -> bool:
    return target.startswith("socket:")


def reverse_shell(event: Event, model: Model | None) -> list[Finding]:
    if not isinstance(event, ProcessEvent) or event.type != "execve":
        return []
    process = event.process
    stdio = process.stdio
    if not is_shell(process) or len(stdio) < 2 or not (_socket(stdio[0]) and _socket(stdio[1])):
        return []
    return [
        Finding(
            "builtin:reverse-shell",
            Priority.CRITICAL,
            f"Reverse shell {_where(process)}",
            f"the shell {describe(process)} started with its standard input and output "
            f"connected to a network socket ({stdio[0]}): someone is driving it remotely",
        )
    ]


def crypto_miner(event: Event, model: Model | None) -> list[Finding]:
    if isinstance(event, ProcessEvent) and event.type == "execve":
        process = event.process
        name = program_name(process).lower()
        arg = next((a for a in process.args if _MINER_ARGS.search(a)), None)
        if name in MINERS or posixpath.basename(process.exepath).lower() in MINERS or arg:
            why = (
                f"its arguments name a mining pool or option ({arg[:100]})"
                if arg
                else ("it is a known cryptocurrency miner")
            )
            return [
                Finding(
                    "builtin:crypto-miner",
                    Priority.CRITICAL,
                    f"Cryptocurrency miner {_where(process)}",
                    f"{describe(process)} was started: {why}",
                )
            ]
    if (
        isinstance(event, NetworkEvent)
        and event.type == "connect"
        and event.server_name
        and _MINER_ARGS.search("." + event.server_name)
    ):
        return [
            Finding(
                "builtin:crypto-miner",
                Priority.CRITICAL,
                f"Connection to a mining pool {_where(event.process)}",
                f"{describe(event.process)} connected to {event.server_name}:"
                f"{event.server_port}, a known mining pool",
            )
        ]
    return []


def package_manager(event: Event, model: Model | None) -> list[Finding]:
    if not isinstance(event, ProcessEvent) or event.type != "execve":
        return []
    process = event.process
    if process.container.is_host:
        return []
    name = program_name(process)
    if name.startswith("python") and process.args[:2] == ("-m", "pip"):
        name, args = "pip", process.args[2:]
    else:
        args = process.args
    verbs = _PACKAGE_MANAGERS.get(name, frozenset())
    if name not in _PACKAGE_MANAGERS or (verbs is not None and not verbs.intersection(args)):
        return []
    return [
        Finding(
            "builtin:package-manager",
            Priority.ERROR,
            f"Package manager run {_where(process)}",
            f"{describe(process)} changes the software of a running container: containers "
            "are immutable, packages belong in the image build",
        )
    ]


def drift(event: Event, model: Model | None) -> list[Finding]:
    """A program that was not in the image: it lives in the writable layer, or its file
    changed after the container started. The file sensor's exec-opens count when their
    process is the program executed (the process was gone before its exec event could
    describe it); otherwise the exec event judges."""
    if isinstance(event, FileEvent):
        if not event.opened_for_exec or event.process.exepath != event.path:
            return []
    elif not isinstance(event, ProcessEvent) or event.type != "execve":
        return []
    process = event.process
    container = process.container
    if container.is_host:
        return []
    changed_after_start = (
        process.exe_ino_ctime is not None
        and container.start_ts is not None
        and process.exe_ino_ctime > container.start_ts
    )
    if not (process.exe_upper_layer or changed_after_start or process.exe_from_memfd):
        return []
    how = (
        "from memory (memfd)"
        if process.exe_from_memfd
        else "written or changed after the container started"
    )
    return [
        Finding(
            "builtin:drift",
            Priority.ERROR,
            f"New executable run {_where(process)}",
            f"{describe(process)} runs {process.exepath or process.exe}, which was not in "
            f"the image: it was {how}",
        )
    ]


def sensitive_files(event: Event, model: Model | None) -> list[Finding]:
    if not isinstance(event, FileEvent):
        return []
    process = event.process
    path = event.path
    opened = event.type in OPEN_CALLS
    writes = not opened or event.flags & 0o3 != 0 or event.created
    if opened and not writes and path in _SENSITIVE_READS:
        return [
            Finding(
                "builtin:sensitive-read",
                Priority.ERROR,
                f"Read of {path} {_where(process)}",
                f"{describe(process)} opened {path}, which holds password hashes; "
                "applications have no reason to read it",
            )
        ]
    if (
        opened
        and not writes
        and not event.opened_for_exec
        and _SSH_PRIVATE_KEY.fullmatch(path)
        and not path.endswith(".pub")
        and program_name(process) not in _SSH_TOOLS
    ):
        return [
            Finding(
                "builtin:sensitive-read",
                Priority.ERROR,
                f"Read of {path} {_where(process)}",
                f"{describe(process)} opened {path}, an SSH private key: whoever holds it "
                "can log in as its owner or pose as this server",
            )
        ]
    if (
        writes
        and event.type not in ("unlinkat",)
        and (
            path.startswith(_SENSITIVE_WRITE_PREFIXES)
            or (not process.container.is_host and path.startswith(_BIN_DIRS))
        )
    ):
        return [
            Finding(
                "builtin:sensitive-write",
                Priority.ERROR,
                f"Write to {path} {_where(process)}",
                f"{describe(process)} changed {path}: accounts, SSH, package databases, "
                "scheduled jobs and system programs do not change in a running container",
            )
        ]
    return []


def cloud_metadata(event: Event, model: Model | None) -> list[Finding]:
    if (
        isinstance(event, NetworkEvent)
        and event.type == "connect"
        and event.server_ip in METADATA_ADDRESSES
    ):
        return [
            Finding(
                "builtin:cloud-metadata",
                Priority.ERROR,
                f"Cloud metadata service contacted {_where(event.process)}",
                f"{describe(event.process)} connected to {event.server_ip}:"
                f"{event.server_port}, the cloud provider's metadata service, where "
                "instance credentials can be read",
            )
        ]
    if isinstance(event, ProcessEvent) and event.type == "execve":
        arg = next((a for a in event.process.args if _METADATA_ARG.search(a)), None)
        if arg is not None and not event.process.container.is_host:
            return [
                Finding(
                    "builtin:cloud-metadata",
                    Priority.ERROR,
                    f"Cloud metadata service addressed {_where(event.process)}",
                    f"{describe(event.process)} addresses the cloud metadata service "
                    f"({arg[:100]}), where instance credentials can be read",
                )
            ]
    return []


def unexpected_shell(event: Event, model: Model | None) -> list[Finding]:
    if (
        not isinstance(event, ProcessEvent)
        or event.type != "execve"
        or model is None
        or model.state is ModelState.LEARNING
        or not is_shell(event.process)
    ):
        return []
    from stockade.runtime.models import process_identity

    shells = [p for p in model.processes if _identity_is_shell(p)]
    if shells or process_identity(event.process) in model.processes:
        return []
    return [
        Finding(
            "model:shell",
            Priority.ERROR,
            f"Shell in a container that never ran one {_where(event.process)}",
            f"{describe(event.process)} is a shell, and no shell ran in {model.learned_for()} "
            f"of learning for image {model.image}",
            source="model",
        )
    ]


def _identity_is_shell(identity: str) -> bool:
    path, _, called = identity.partition("[")
    name = called.rstrip("]") or posixpath.basename(path)
    return name in SHELLS - {"busybox"}


BUILTINS: Final[tuple[Callable[[Event, Model | None], list[Finding]], ...]] = (
    reverse_shell,
    crypto_miner,
    package_manager,
    drift,
    sensitive_files,
    cloud_metadata,
    unexpected_shell,
)


def builtin_findings(event: Event, model: Model | None) -> list[Finding]:
    found: list[Finding] = []
    for detection in BUILTINS:
        found.extend(detection(event, model))
    return found
