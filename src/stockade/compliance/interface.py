"""The shape every compliance check and secret rule shares, whatever it inspects.

A check is a small object with metadata (:class:`CheckMeta`: id, title, severity,
rationale, remediation, references to the CIS benchmark and the equivalent Checkov,
kube-score and kubesec ids) and a function from one resource to results. Results say
where: the file, the resource, and the JSON path of the offending field, so a user (or
the admission webhook) can point at the exact line to fix.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from stockade.core.advisory import Severity


class Target(enum.StrEnum):
    """What a check inspects."""

    IMAGE = "image"
    DOCKERFILE = "dockerfile"
    KUBERNETES = "kubernetes"
    HOST = "host"
    SERVERLESS = "serverless"
    SECRET = "secret"  # noqa: S105  # a target kind, not a password


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not applicable to this resource, or suppressed (the reason says which)."""


@dataclass(frozen=True, slots=True)
class CheckMeta:
    """What a check is, for the report and the docs.

    ``references`` maps a scheme to an id: ``cis`` (``5.2.1``), ``checkov``
    (``CKV_K8S_16``), ``kube-score`` (``container-security-context-privileged``),
    ``kubesec`` (``Privileged``), ``pss`` (``baseline``/``restricted``).
    """

    id: str
    """Stockade's own id: ``STK-K8S-001``, ``STK-DF-003``, ``STK-IMG-002``."""
    title: str
    severity: Severity
    target: Target
    rationale: str = ""
    remediation: str = ""
    references: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a result is not held against the target: someone accepted it, and where."""

    reason: str
    where: str
    """``annotation stockade.io/skip``, ``comment, line 3``, ``.stockadeignore.yaml, entry 2``."""
    in_source: bool
    """Written beside the thing checked (annotation, comment) rather than in an ignore file."""


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one check on one resource."""

    check: CheckMeta
    status: Status
    resource: str
    """What was checked: ``Deployment/default/web``, ``Dockerfile``, an image name."""
    file: str = ""
    line: int | None = None
    path: str = ""
    """JSON path of the offending field: ``spec.template.spec.containers[0].image``."""
    message: str = ""
    layer: str | None = None
    """For images: the layer that introduced what failed."""
    suppression: Suppression | None = None
    """Set (and ``status`` SKIPPED) when a suppression covers this result."""


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """A secret found in a file. ``redacted`` never holds the whole secret."""

    rule_id: str
    description: str
    file: str
    line: int
    redacted: str
    severity: Severity = Severity.HIGH
    layer: str | None = None
    entropy: float | None = None
    tags: tuple[str, ...] = ()
