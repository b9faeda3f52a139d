"""OpenSSH server settings (CIS Distribution Independent Linux, section 5.2)."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.host.check import Finding, NotApplicable, host_check
from stockade.compliance.host.fs import HostRoot
from stockade.compliance.host.sshd import SSHD_CONFIG, SshdSetting, read_sshd_config
from stockade.core.advisory import Severity

_FILE = "/" + SSHD_CONFIG


def _settings(host: HostRoot) -> dict[str, SshdSetting]:
    settings = read_sshd_config(host)
    if settings is None:
        raise NotApplicable(f"no {_FILE}")
    return settings


def _require(host: HostRoot, keyword: str, wanted: str, default: str) -> Iterator[Finding]:
    setting = _settings(host).get(keyword.lower())
    value = setting.value if setting else default
    if value.lower() != wanted:
        where = (
            f"{keyword} {value}"
            if setting
            else f"{keyword} is not set (sshd's default is {default})"
        )
        yield Finding(
            setting.file if setting else _FILE,
            f"{where}; it should be {wanted}",
            setting.line if setting else None,
            keyword,
        )


@host_check(
    "STK-HOST-001",
    "SSH root login must be disabled",
    Severity.HIGH,
    file=_FILE,
    rationale="Logging in as root directly leaves no trace of who did it and invites guessing.",
    remediation="Set `PermitRootLogin no` and log in as a user who then uses sudo.",
    references={"cis": "5.2.10"},
)
def permit_root_login(host: HostRoot) -> Iterator[Finding]:
    return _require(host, "PermitRootLogin", "no", "prohibit-password")


@host_check(
    "STK-HOST-002",
    "SSH password authentication should be disabled",
    Severity.MEDIUM,
    file=_FILE,
    rationale="Passwords can be guessed and phished; keys and certificates cannot be guessed.",
    remediation="Set `PasswordAuthentication no` once every user has a key.",
    references={"cis": "5.2.12"},
)
def password_authentication(host: HostRoot) -> Iterator[Finding]:
    return _require(host, "PasswordAuthentication", "no", "yes")


@host_check(
    "STK-HOST-003",
    "SSH protocol 1 must not be enabled",
    Severity.HIGH,
    file=_FILE,
    rationale="SSH protocol 1 has known weaknesses that let an attacker read or hijack sessions.",
    remediation="Remove `Protocol`, or set `Protocol 2`.",
    references={"cis": "5.2.4"},
)
def protocol(host: HostRoot) -> Iterator[Finding]:
    setting = _settings(host).get("protocol")
    if setting and "1" in setting.value.replace(" ", "").split(","):
        yield Finding(
            setting.file, f"Protocol {setting.value} allows protocol 1", setting.line, "Protocol"
        )


@host_check(
    "STK-HOST-004",
    "SSH X11 forwarding should be disabled",
    Severity.LOW,
    file=_FILE,
    rationale="A forwarded X11 display lets a compromised server read the client's keystrokes.",
    remediation="Set `X11Forwarding no`.",
    references={"cis": "5.2.6"},
)
def x11_forwarding(host: HostRoot) -> Iterator[Finding]:
    return _require(host, "X11Forwarding", "no", "no")


@host_check(
    "STK-HOST-005",
    "SSH MaxAuthTries should be 4 or less",
    Severity.MEDIUM,
    file=_FILE,
    rationale="Few attempts per connection slow down password and key guessing.",
    remediation="Set `MaxAuthTries 4` (or lower).",
    references={"cis": "5.2.7"},
)
def max_auth_tries(host: HostRoot) -> Iterator[Finding]:
    setting = _settings(host).get("maxauthtries")
    if setting is None:
        yield Finding(_FILE, "MaxAuthTries is not set (sshd's default is 6)", None, "MaxAuthTries")
        return
    try:
        tries = int(setting.value)
    except ValueError:
        tries = None
    if tries is None or tries > 4:
        yield Finding(
            setting.file,
            f"MaxAuthTries {setting.value}; it should be 4 or less",
            setting.line,
            "MaxAuthTries",
        )


@host_check(
    "STK-HOST-006",
    "SSH empty passwords must not be permitted",
    Severity.HIGH,
    file=_FILE,
    rationale="An account with an empty password is open to anyone who can reach port 22.",
    remediation="Set `PermitEmptyPasswords no`.",
    references={"cis": "5.2.11"},
)
def permit_empty_passwords(host: HostRoot) -> Iterator[Finding]:
    return _require(host, "PermitEmptyPasswords", "no", "no")
