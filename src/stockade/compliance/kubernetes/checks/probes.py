"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.kubernetes.check import NotApplicable, Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

RUN_TO_COMPLETION_KINDS = frozenset({"Job", "CronJob"})
"""Their pods exit when done: a liveness or readiness probe has nothing to tell."""


def _missing_probe(resource: Resource, probe: str) -> Iterator[Violation]:
    if resource.kind in RUN_TO_COMPLETION_KINDS:
        raise NotApplicable(f"{resource.kind} pods run to completion and take no traffic")
    spec = pod_spec(resource)
    # Init containers run before the pod is ready and cannot have these probes.
    for container in spec.regular_containers():
        if container.body.get(probe) is None:
            yield Violation(container.path, f"container {container.name} has no {probe}")


@kubernetes_check(
    "STK-K8S-022",
    "Containers should have a liveness probe",
    Severity.LOW,
    rationale=(
        "Without a liveness probe a hung process is never restarted; the pod stays up and broken."
    ),
    remediation="Add a livenessProbe (httpGet, tcpSocket, grpc or exec) to each container.",
    references={"checkov": "CKV_K8S_8", "kube-score": "pod-probes"},
)
def liveness_probe(resource: Resource) -> Iterator[Violation]:
    return _missing_probe(resource, "livenessProbe")


@kubernetes_check(
    "STK-K8S-023",
    "Containers should have a readiness probe",
    Severity.LOW,
    rationale=(
        "Without a readiness probe a Service sends traffic to the pod as soon as it "
        "starts, before it can answer, and during rollouts to pods that are not ready."
    ),
    remediation="Add a readinessProbe to each container that serves traffic.",
    references={"checkov": "CKV_K8S_9", "kube-score": "pod-probes"},
)
def readiness_probe(resource: Resource) -> Iterator[Violation]:
    return _missing_probe(resource, "readinessProbe")
