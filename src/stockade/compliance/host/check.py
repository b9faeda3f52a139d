"""Host checks: CIS items read from files under a root directory.

A :class:`HostCheck` is metadata plus ``inspect``, a function from a :class:`HostRoot`
to :class:`Finding` objects; it raises :class:`NotApplicable` when the file it judges
is absent (a worker without an API server, a host without sshd).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from stockade.compliance.host.fs import HostRoot
from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.core.advisory import Severity

__all__ = ["Finding", "HostCheck", "NotApplicable", "host_check"]


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    message: str
    line: int | None = None
    path: str = ""
    """Key path within the file (``authentication.anonymous.enabled``), or the flag."""


class NotApplicable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Inspector = Callable[[HostRoot], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class HostCheck:
    meta: CheckMeta
    inspect: Inspector
    file: str
    """The ROOT-relative file the check reads (for PASSED and SKIPPED results)."""

    @property
    def id(self) -> str:
        return self.meta.id

    def run(self, host: HostRoot, resource: str) -> list[Result]:
        try:
            findings = list(self.inspect(host))
        except NotApplicable as skipped:
            return [
                Result(self.meta, Status.SKIPPED, resource, file=self.file, message=skipped.reason)
            ]
        if not findings:
            return [Result(self.meta, Status.PASSED, resource, file=self.file)]
        return [
            Result(
                self.meta,
                Status.FAILED,
                resource,
                file=f.file,
                line=f.line,
                path=f.path,
                message=f.message,
            )
            for f in findings
        ]


def host_check(
    check_id: str,
    title: str,
    severity: Severity,
    *,
    file: str,
    rationale: str,
    remediation: str,
    references: Mapping[str, str],
) -> Callable[[Inspector], HostCheck]:
    def wrap(inspect: Inspector) -> HostCheck:
        meta = CheckMeta(
            id=check_id,
            title=title,
            severity=severity,
            target=Target.HOST,
            rationale=rationale,
            remediation=remediation,
            references=dict(references),
        )
        return HostCheck(meta=meta, inspect=inspect, file=file)

    return wrap
