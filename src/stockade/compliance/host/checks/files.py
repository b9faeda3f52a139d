"""Permissions and ownership of the account databases (CIS Linux, section 6.1)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import Final

from stockade.compliance.host.check import Finding, NotApplicable, host_check
from stockade.compliance.host.fs import HostRoot
from stockade.core.advisory import Severity

# ROOT-relative file -> (the most permissive mode allowed, whether group "shadow" may own it)
_ACCOUNT_FILES: Final = {
    "etc/passwd": (0o644, False),
    "etc/group": (0o644, False),
    "etc/shadow": (0o640, True),
    "etc/gshadow": (0o640, True),
}


def _gid_of(host: HostRoot, group: str) -> int | None:
    """The gid of ``group`` in ROOT's own /etc/group (not the scanning host's)."""
    text = host.read_text("etc/group") or ""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
            return int(fields[2])
    return None


def _present(host: HostRoot) -> dict[str, tuple[int, int, int]]:
    found = {}
    for path in _ACCOUNT_FILES:
        info = host.stat(path)
        if info is not None:
            found[path] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    if not found:
        raise NotApplicable("none of /etc/passwd, /etc/group, /etc/shadow, /etc/gshadow exists")
    return found


@host_check(
    "STK-HOST-010",
    "Account databases must not be writable (or, for shadow files, readable) by others",
    Severity.HIGH,
    file="/etc/passwd",
    rationale=(
        "Anyone who can write /etc/passwd or /etc/shadow can make themselves root; anyone "
        "who can read /etc/shadow can crack its password hashes offline."
    ),
    remediation="chmod 644 /etc/passwd /etc/group; chmod 640 /etc/shadow /etc/gshadow (or 000).",
    references={"cis": "6.1.2-6.1.9"},
)
def account_file_permissions(host: HostRoot) -> Iterator[Finding]:
    for path, (mode, _, _) in _present(host).items():
        allowed, _ = _ACCOUNT_FILES[path]
        if mode & ~allowed:
            yield Finding(
                f"/{path}", f"/{path} has mode {mode:o}; it should be {allowed:o} or stricter"
            )


@host_check(
    "STK-HOST-011",
    "Account databases must be owned by root",
    Severity.HIGH,
    file="/etc/passwd",
    rationale="The owner of /etc/passwd or /etc/shadow can change them: that owner is root.",
    remediation=(
        "chown root:root /etc/passwd /etc/group; chown root:shadow /etc/shadow /etc/gshadow."
    ),
    references={"cis": "6.1.2-6.1.9"},
)
def account_file_ownership(host: HostRoot) -> Iterator[Finding]:
    shadow_gid = _gid_of(host, "shadow")
    for path, (_, uid, gid) in _present(host).items():
        _, shadow_allowed = _ACCOUNT_FILES[path]
        groups = {0} | ({shadow_gid} if shadow_allowed and shadow_gid is not None else set())
        if uid != 0 or gid not in groups:
            wanted = "root:root or root:shadow" if shadow_allowed else "root:root"
            yield Finding(f"/{path}", f"/{path} is owned by {uid}:{gid}; it should be {wanted}")
