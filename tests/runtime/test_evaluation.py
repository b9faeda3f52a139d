"""Evaluating compiled conditions over events: operators, field semantics, the index."""

from __future__ import annotations

import os
from ipaddress import ip_address

import pytest

from stockade.runtime.events import FileEvent, NetworkEvent, Process, ProcessEvent
from stockade.runtime.rules import load_rules_text

INIT = Process(pid=1, name="systemd", exe="/sbin/init", exepath="/usr/lib/systemd/systemd")
SSHD = Process(pid=50, name="sshd", exe="/usr/sbin/sshd", exepath="/usr/sbin/sshd", parent=INIT)
BASH = Process(
    pid=60,
    name="bash",
    exe="-bash",
    exepath="/usr/bin/bash",
    tty=34816,
    parent=SSHD,
    uid=1000,
    user_name="alice",
    loginuid=1000,
    cap_effective=frozenset({"CAP_CHOWN"}),
)
GREP = Process(
    pid=70,
    name="grep",
    exe="grep",
    exepath="/usr/bin/grep",
    args=("-ri", "BEGIN RSA PRIVATE", "/"),
    cwd="/home/alice",
    parent=BASH,
    uid=1000,
    user_name="alice",
)


def _holds(condition: str, event: object) -> bool:
    text = (
        f"- rule: r\n  desc: d\n  condition: {condition!r}\n  output: o\n  priority: INFO\n"
        "  warn_evttypes: false\n"
    )
    loaded = load_rules_text([("t.yaml", text)])
    assert loaded.ok, loaded.errors
    assert len(loaded.ruleset) == 1, loaded.disabled
    return bool(loaded.ruleset.match(event))  # type: ignore[arg-type]


EXEC = ProcessEvent("execve", GREP, ts=10**18)
OPEN = FileEvent(
    "openat", GREP, path="/etc/shadow", raw_path="../../etc/shadow", flags=os.O_RDONLY, fd=4
)
WRITE = FileEvent(
    "openat", BASH, path="/var/log/syslog", flags=os.O_WRONLY | os.O_TRUNC | os.O_CREAT, fd=5
)
CONNECT = NetworkEvent(
    "connect",
    BASH,
    client_ip=ip_address("10.1.2.3"),
    client_port=40000,
    server_ip=ip_address("203.0.113.10"),
    server_port=443,
    fd=3,
)


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("proc.name = grep", EXEC, True),
        ("proc.name != grep", EXEC, False),
        ("proc.cmdline = 'grep -ri BEGIN RSA PRIVATE /'", EXEC, True),
        ("proc.args icontains 'begin rsa'", EXEC, True),
        ("proc.args contains 'begin rsa'", EXEC, False),
        ("proc.exepath startswith /usr/", EXEC, True),
        ("proc.exepath endswith /grep", EXEC, True),
        ("proc.exepath glob '/usr/*/gr?p'", EXEC, True),
        ("proc.exepath iglob '/USR/*'", EXEC, True),
        ("proc.exepath regex '/usr/bin/g.*'", EXEC, True),
        ("proc.exepath regex 'bin'", EXEC, False),
        ("proc.cwd pmatch (/home, /root)", EXEC, True),
        ("proc.cwd pmatch (/hom)", EXEC, False),
        ("proc.name in (cat, grep)", EXEC, True),
        ("proc.name in ()", EXEC, False),
        ("proc.pname = bash and proc.aname[2] = sshd and proc.aname[3] = systemd", EXEC, True),
        ("proc.aname = sshd", EXEC, True),
        ("proc.aname = grep", EXEC, False),
        ("proc.aname[0] = grep", EXEC, True),
        ("proc.aname[9] exists", EXEC, False),
        ("proc.pcmdline = bash and proc.pexepath = /usr/bin/bash", EXEC, True),
        ("proc.tty != 0", ProcessEvent("execve", BASH), True),
        ("proc.tty = 0", EXEC, True),
        ("user.loginuid = -1 and user.uid >= 1000", EXEC, True),
        ("thread.cap_effective contains CAP_CHOWN", ProcessEvent("execve", BASH), True),
        ("k8s.ns.name exists", EXEC, False),
        ("not k8s.ns.name = prod", EXEC, True),
        ("k8s.ns.name != prod", EXEC, False),
        ("container.id = host", EXEC, True),
        ("proc.name bcontains 6772", EXEC, True),
        ("proc.name bstartswith 7265", EXEC, False),
        ("evt.type = openat and fd.name = /etc/shadow and fd.nameraw contains '../'", OPEN, True),
        ("fd.directory = /etc and fd.filename = shadow and fd.typechar = f", OPEN, True),
        ("evt.is_open_read = true and evt.is_open_write = false and fd.num >= 0", OPEN, True),
        ("evt.arg.flags contains O_TRUNC and evt.is_open_write = true", WRITE, True),
        ("evt.arg.flags = 'O_WRONLY|O_CREAT|O_TRUNC'", WRITE, True),
        ("evt.rawarg.flags > 0", WRITE, True),
        ("evt.dir = < and evt.res = SUCCESS and evt.rawres = 0", WRITE, True),
        (
            "fd.typechar = 4 and fd.l4proto = tcp and fd.sport = 443 and fd.lport = 40000",
            CONNECT,
            True,
        ),
        ("fd.sip = 203.0.113.10 and fd.rip = 203.0.113.10 and fd.lip = 10.1.2.3", CONNECT, True),
        ("fd.snet in ('10.0.0.0/8', '192.168.0.0/16')", CONNECT, False),
        ("fd.cnet = 10.0.0.0/8 and fd.net != 127.0.0.0/8", CONNECT, True),
        ("fd.ip = 10.1.2.3", CONNECT, True),
        ("fd.port in (443, 8443)", CONNECT, True),
        ("fd.name = '10.1.2.3:40000->203.0.113.10:443'", CONNECT, True),
        ("fd.sockfamily = ip and fd.is_server = false", CONNECT, True),
    ],
)
def test_operators_and_fields(condition: str, event: object, expected: bool) -> None:
    assert _holds(condition, event) is expected


def test_rules_are_indexed_by_event_type() -> None:
    text = "".join(
        f"- rule: r{i}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: INFO\n"
        for i, condition in enumerate(
            [
                "evt.type = execve and proc.name = grep",
                "evt.type in (openat, connect) and proc.name = grep",
                "evt.type != execve and proc.name = grep",
                "proc.name = grep",
            ]
        )
    )
    ruleset = load_rules_text([("t.yaml", text)]).ruleset
    assert [r.name for r in ruleset.candidates("execve")] == ["r0", "r3"]
    assert [r.name for r in ruleset.candidates("openat")] == ["r1", "r2", "r3"]
    assert [a.rule for a in ruleset.match(EXEC)] == ["r0", "r3"]
    first = ruleset.first_match(OPEN)
    assert first is not None
    assert first.rule == "r1"


def test_output_renders_missing_values_as_na() -> None:
    text = (
        "- rule: r\n  desc: d\n  condition: evt.type=execve\n  priority: ERROR\n"
        "  output: 'user=%user.name pod=%k8s.pod.name gp=%proc.aname[2] mounts=%container.mounts'\n"
    )
    [alert] = load_rules_text([("t.yaml", text)]).ruleset.match(EXEC)
    assert alert.output == "user=alice pod=<NA> gp=sshd mounts=<NA>"
    assert alert.fields["k8s.pod.name"] is None
    assert alert.priority.label == "error"


def test_unnumbered_events_keep_never_true_false() -> None:
    # Falco's template macros are "(evt.num=0)": they must not hold on our events.
    assert _holds("evt.type=execve and evt.num=0", EXEC) is False
    assert _holds("evt.num=7", ProcessEvent("execve", GREP, num=7)) is True
