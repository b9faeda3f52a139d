"""What a Kubernetes check is, and running a set of them over resources.

A check is a :class:`KubernetesCheck`: metadata plus ``inspect``, a function from one
:class:`~stockade.compliance.kubernetes.resources.Resource` to the
:class:`Violation` objects it finds, each naming the offending field by path. Calling the
check turns those into :class:`~stockade.compliance.interface.Result` records:

* a kind the check does not inspect: no result at all;
* ``inspect`` raises :class:`NotApplicable` (a workload with no containers, probes on a
  Job): one ``SKIPPED`` result with the reason;
* ``inspect`` raises :class:`Unverifiable` (the field the check needs is malformed: a
  pod spec that is a list, ``resources`` that is a string): one ``FAILED`` result
  saying what could not be verified. The API server would refuse such an object, and
  a security check must not pass what it could not read;
* no violation: one ``PASSED`` result for the resource;
* otherwise one ``FAILED`` result per violation, with its path and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockade.compliance.interface import CheckMeta, Result, Status
from stockade.compliance.kubernetes.resources import Resource
from stockade.compliance.suppress import annotation_skips, apply_skips
from stockade.compliance.yamlload import PathSegment

__all__ = [
    "KubernetesCheck",
    "NotApplicable",
    "Unverifiable",
    "Violation",
    "check_manifests",
]


@dataclass(frozen=True, slots=True)
class Violation:
    """One offending field: its path from the object's root, and what is wrong with it."""

    path: tuple[PathSegment, ...]
    message: str


class NotApplicable(Exception):
    """Raised by ``inspect`` when the resource cannot be judged: the reason is reported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unverifiable(Exception):
    """Raised by ``inspect`` when what it must read is malformed: reported as FAILED."""

    def __init__(self, path: tuple[PathSegment, ...], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


Inspector = Callable[[Resource], Iterable[Violation]]


@dataclass(frozen=True, slots=True)
class KubernetesCheck:
    """A check over Kubernetes objects of some kinds."""

    meta: CheckMeta
    kinds: frozenset[str]
    """The kinds ``inspect`` understands; other objects get no result."""
    inspect: Inspector

    @property
    def id(self) -> str:
        return self.meta.id

    def applies_to(self, resource: Resource) -> bool:
        return resource.kind in self.kinds

    def __call__(self, resource: Resource) -> list[Result]:
        if not self.applies_to(resource):
            return []
        try:
            violations = list(self.inspect(resource))
        except NotApplicable as skipped:
            return [self._result(resource, Status.SKIPPED, (), skipped.reason)]
        except Unverifiable as malformed:
            message = f"cannot verify: {malformed.reason}"
            return [self._result(resource, Status.FAILED, malformed.path, message)]
        if not violations:
            return [self._result(resource, Status.PASSED, (), "")]
        return [self._result(resource, Status.FAILED, v.path, v.message) for v in violations]

    def _result(
        self, resource: Resource, status: Status, path: tuple[PathSegment, ...], message: str
    ) -> Result:
        return Result(
            check=self.meta,
            status=status,
            resource=resource.ref,
            file=resource.file,
            line=resource.line_of(path) if path else resource.line,
            path=resource.json_path(path),
            message=message,
        )


def check_manifests(
    resources: Iterable[Resource], checks: Sequence[KubernetesCheck] | None = None
) -> list[Result]:
    """Run ``checks`` (all of :data:`KUBERNETES_CHECKS` by default) over ``resources``.

    Results come resource by resource, in the order of ``checks`` within each. Checks
    the object's ``stockade.io/skip`` (or Checkov's ``checkov.io/skipN``) annotations
    name are reported as suppressed (see :mod:`stockade.compliance.suppress`).
    """
    if checks is None:
        from stockade.compliance.kubernetes.registry import KUBERNETES_CHECKS

        checks = KUBERNETES_CHECKS
    results: list[Result] = []
    for resource in resources:
        skips = annotation_skips(_metadatas(resource))
        for check in checks:
            results.extend(apply_skips(check(resource), skips))
    return results


def _metadatas(resource: Resource) -> list[Mapping[str, Any]]:
    """The object's metadata and, for workloads, its pod template's: where a skip
    annotation may be written."""
    found = [resource.metadata]
    spec_path = resource.pod_spec_path
    if spec_path:
        template = resource.get((*spec_path[:-1], "metadata"))
        if isinstance(template, Mapping):
            found.append(template)
    return found
