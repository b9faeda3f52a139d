"""How Services are exposed."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


@kubernetes_check(
    "STK-K8S-038",
    "Services should not be exposed with NodePort or LoadBalancer",
    Severity.LOW,
    kinds=("Service",),
    rationale=(
        "A NodePort opens the port on every node's address; a LoadBalancer puts the "
        "service on an external address. Either bypasses the Ingress, its TLS and its "
        "authentication."
    ),
    remediation=(
        "Use type ClusterIP behind an Ingress or Gateway; if a load balancer is needed, "
        "restrict spec.loadBalancerSourceRanges."
    ),
    references={"kube-score": "service-type"},
)
def exposed_service(resource: Resource) -> Iterator[Violation]:
    kind = resource.get(("spec", "type"))
    if kind == "NodePort":
        yield Violation(("spec", "type"), "the service opens a port on every node")
    elif kind == "LoadBalancer":
        ranges = resource.get(("spec", "loadBalancerSourceRanges"))
        if not (isinstance(ranges, list) and ranges):
            yield Violation(
                ("spec", "type"),
                "the service gets an external load balancer open to any address",
            )
