"""Objects left in the default namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import WORKLOAD_KINDS, kubernetes_check
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

NAMESPACED_KINDS: Final = WORKLOAD_KINDS | {
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Ingress",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "LimitRange",
    "ResourceQuota",
    "Endpoints",
    "EndpointSlice",
}
"""The built-in namespaced kinds this check inspects."""

BUILT_IN_DEFAULTS: Final = frozenset(
    {
        ("Service", "kubernetes"),
        ("Endpoints", "kubernetes"),
        ("EndpointSlice", "kubernetes"),
        ("ServiceAccount", "default"),
        ("ConfigMap", "kube-root-ca.crt"),
    }
)
"""Objects Kubernetes itself keeps in every (or the default) namespace."""


@kubernetes_check(
    "STK-K8S-032",
    "Objects should not be placed in the default namespace",
    Severity.LOW,
    kinds=NAMESPACED_KINDS,
    rationale=(
        "The default namespace is where everything lands by accident: objects there "
        "share RBAC, quotas and network policies with whatever else was applied "
        "without a namespace."
    ),
    remediation=(
        "Set metadata.namespace to the application's own namespace (an object with no "
        "namespace goes to the current context's, usually default)."
    ),
    references={"checkov": "CKV_K8S_21", "cis": "5.7.4"},
)
def default_namespace(resource: Resource) -> Iterator[Violation]:
    if (resource.kind, resource.name) in BUILT_IN_DEFAULTS:
        return
    if resource.namespace is None:
        yield Violation(
            ("metadata",), "no namespace is set: the object goes to the current namespace"
        )
    elif resource.namespace == "default":
        yield Violation(("metadata", "namespace"), "the object is in the default namespace")
