"""What a Dockerfile check is, and running a set of them over a parsed Dockerfile.

A :class:`DockerfileCheck` is metadata plus ``inspect``, a function from a
:class:`~stockade.compliance.dockerfile.parser.Dockerfile` to the :class:`Violation`
objects it finds. Calling the check turns those into results: one ``PASSED`` for the
file when there is no violation, one ``FAILED`` per violation (with its line), or one
``SKIPPED`` when ``inspect`` raises :class:`NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from stockade.compliance.dockerfile.parser import Dockerfile
from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.compliance.suppress import apply_skips
from stockade.core.advisory import Severity

__all__ = ["DockerfileCheck", "NotApplicable", "Violation", "check_dockerfile", "dockerfile_check"]


@dataclass(frozen=True, slots=True)
class Violation:
    line: int | None
    message: str


class NotApplicable(Exception):
    """Raised by ``inspect`` when the file cannot be judged; the reason is reported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Inspector = Callable[[Dockerfile], Iterable[Violation]]


@dataclass(frozen=True, slots=True)
class DockerfileCheck:
    meta: CheckMeta
    inspect: Inspector

    @property
    def id(self) -> str:
        return self.meta.id

    def __call__(self, dockerfile: Dockerfile) -> list[Result]:
        try:
            violations = list(self.inspect(dockerfile))
        except NotApplicable as skipped:
            return [self._result(dockerfile, Status.SKIPPED, None, skipped.reason)]
        if not violations:
            return [self._result(dockerfile, Status.PASSED, None, "")]
        return [self._result(dockerfile, Status.FAILED, v.line, v.message) for v in violations]

    def _result(
        self, dockerfile: Dockerfile, status: Status, line: int | None, message: str
    ) -> Result:
        return Result(
            check=self.meta,
            status=status,
            resource=dockerfile.name,
            file=dockerfile.name,
            line=line,
            message=message,
        )


def dockerfile_check(
    check_id: str,
    title: str,
    severity: Severity,
    *,
    rationale: str,
    remediation: str,
    references: Mapping[str, str],
) -> Callable[[Inspector], DockerfileCheck]:
    """Decorate an inspector into a :class:`DockerfileCheck`."""

    def wrap(inspect: Inspector) -> DockerfileCheck:
        meta = CheckMeta(
            id=check_id,
            title=title,
            severity=severity,
            target=Target.DOCKERFILE,
            rationale=rationale,
            remediation=remediation,
            references=dict(references),
        )
        return DockerfileCheck(meta=meta, inspect=inspect)

    return wrap


def check_dockerfile(
    dockerfile: Dockerfile, checks: Sequence[DockerfileCheck] | None = None
) -> list[Result]:
    """Run ``checks`` (all of :data:`DOCKERFILE_CHECKS` by default) over ``dockerfile``.

    Checks its ``# stockade:skip=ID`` comments name are reported as suppressed.
    """
    if checks is None:
        from stockade.compliance.dockerfile.registry import DOCKERFILE_CHECKS

        checks = DOCKERFILE_CHECKS
    results: list[Result] = []
    for check in checks:
        results.extend(check(dockerfile))
    return apply_skips(results, dockerfile.skips)
