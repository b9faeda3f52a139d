"""What a serverless check is: metadata plus a function from one document to findings.

The documents are the JSON the AWS CLI prints (``aws ecs describe-task-definition``,
``aws lambda get-function-configuration``), already decoded. Checks are pure: they read
the mapping and report the JSON path of each offending field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.compliance.serverless.errors import ServerlessError
from stockade.core.advisory import Severity

__all__ = [
    "Finding",
    "NotApplicable",
    "ServerlessCheck",
    "as_list",
    "as_mapping",
    "serverless_check",
]


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    """JSON path of the offending field: ``containerDefinitions[0].privileged``."""
    message: str


class NotApplicable(Exception):
    """Raised by ``inspect`` when the document has nothing this check judges."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Inspector = Callable[[Mapping[str, Any]], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class ServerlessCheck:
    meta: CheckMeta
    inspect: Inspector

    @property
    def id(self) -> str:
        return self.meta.id

    def run(self, doc: Mapping[str, Any], resource: str) -> list[Result]:
        try:
            findings = list(self.inspect(doc))
        except NotApplicable as skipped:
            return [Result(self.meta, Status.SKIPPED, resource, message=skipped.reason)]
        if not findings:
            return [Result(self.meta, Status.PASSED, resource)]
        return [
            Result(self.meta, Status.FAILED, resource, path=f.path, message=f.message)
            for f in findings
        ]


def serverless_check(
    check_id: str,
    title: str,
    severity: Severity,
    *,
    rationale: str,
    remediation: str,
    references: Mapping[str, str] | None = None,
) -> Callable[[Inspector], ServerlessCheck]:
    """Decorate an inspector into a :class:`ServerlessCheck`."""

    def wrap(inspect: Inspector) -> ServerlessCheck:
        meta = CheckMeta(
            id=check_id,
            title=title,
            severity=severity,
            target=Target.SERVERLESS,
            rationale=rationale,
            remediation=remediation,
            references=dict(references or {}),
        )
        return ServerlessCheck(meta=meta, inspect=inspect)

    return wrap


def as_mapping(value: object, path: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else a :class:`ServerlessError` naming ``path``."""
    if not isinstance(value, Mapping):
        raise ServerlessError(
            f"{path or 'document'}: expected a JSON object, got {type(value).__name__}",
            "pass the JSON the AWS CLI prints, decoded (json.load)",
        )
    return value


def as_list(value: object, path: str) -> Sequence[Any]:
    """``value`` if it is a JSON array (None counts as empty), else a ServerlessError."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ServerlessError(
            f"{path}: expected a JSON array, got {type(value).__name__}",
            "pass the JSON the AWS CLI prints, decoded (json.load)",
        )
    return value
