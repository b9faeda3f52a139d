"""CPU and memory requests and limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from stockade.compliance.kubernetes.check import KubernetesCheck, Unverifiable, Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


def _missing(resource: Resource, section: str, quantity: str) -> Iterator[Violation]:
    # Ephemeral containers cannot have resources: only regular and init containers count.
    for container in pod_spec(resource).containers:
        if container.group == "ephemeralContainers":
            continue
        resources = container.body.get("resources")
        if resources is not None and not isinstance(resources, Mapping):
            raise Unverifiable(container.at("resources"), "resources is not a mapping")
        values = resources.get(section) if resources is not None else None
        if values is not None and not isinstance(values, Mapping):
            raise Unverifiable(container.at("resources", section), f"{section} is not a mapping")
        if values is not None and values.get(quantity) not in (None, ""):
            continue
        if values is not None:
            path = container.at("resources", section)
        elif resources is not None:
            path = container.at("resources")
        else:
            path = container.path
        singular = section.removesuffix("s")
        yield Violation(path, f"container {container.name} sets no {quantity} {singular}")


def _quantity_check(
    id: str,
    *,
    section: str,
    quantity: str,
    severity: Severity,
    checkov: str,
    kubesec: str,
    rationale: str,
) -> KubernetesCheck:
    singular = section.removesuffix("s")
    inspect = kubernetes_check(
        id,
        f"Containers should set a {quantity.upper() if quantity == 'cpu' else quantity} {singular}",
        severity,
        rationale=rationale,
        remediation=f"Set resources.{section}.{quantity} on every container.",
        references={"checkov": checkov, "kubesec": kubesec, "kube-score": "container-resources"},
    )

    def missing(resource: Resource) -> Iterator[Violation]:
        return _missing(resource, section, quantity)

    return inspect(missing)


cpu_requests = _quantity_check(
    "STK-K8S-018",
    section="requests",
    quantity="cpu",
    severity=Severity.LOW,
    checkov="CKV_K8S_10",
    kubesec="RequestsCPU",
    rationale=(
        "The scheduler places pods by their requests; without one, a node can be "
        "overcommitted and the container starved of CPU under contention."
    ),
)
cpu_limits = _quantity_check(
    "STK-K8S-019",
    section="limits",
    quantity="cpu",
    severity=Severity.LOW,
    checkov="CKV_K8S_11",
    kubesec="LimitsCPU",
    rationale=(
        "Without a CPU limit one container can take every core of its node, a denial of "
        "service for its neighbours."
    ),
)
memory_requests = _quantity_check(
    "STK-K8S-020",
    section="requests",
    quantity="memory",
    severity=Severity.LOW,
    checkov="CKV_K8S_12",
    kubesec="RequestsMemory",
    rationale=(
        "The scheduler places pods by their requests; without a memory request the pod is "
        "among the first evicted and can land on a node without room for it."
    ),
)
memory_limits = _quantity_check(
    "STK-K8S-021",
    section="limits",
    quantity="memory",
    severity=Severity.MEDIUM,
    checkov="CKV_K8S_13",
    kubesec="LimitsMemory",
    rationale=(
        "Without a memory limit one container can exhaust its node's memory, and the "
        "kernel's out-of-memory killer then picks victims among its neighbours."
    ),
)
