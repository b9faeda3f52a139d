"""Privileged containers and privilege escalation."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


@kubernetes_check(
    "STK-K8S-001",
    "Containers must not be privileged",
    Severity.CRITICAL,
    rationale=(
        "A privileged container has every capability and every host device, with no "
        "seccomp or AppArmor confinement: root in it is root on the node."
    ),
    remediation=(
        "Remove securityContext.privileged (or set it to false); grant the one "
        "capability the container needs instead."
    ),
    references={
        "checkov": "CKV_K8S_16",
        "kube-score": "container-security-context-privileged",
        "kubesec": "Privileged",
        "pss": "baseline",
        "cis": "5.2.2",
    },
)
def privileged_containers(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        if container.security_context.get("privileged") is True:
            yield Violation(
                container.at("securityContext", "privileged"),
                f"container {container.name} is privileged",
            )


@kubernetes_check(
    "STK-K8S-002",
    "Containers must not allow privilege escalation",
    Severity.HIGH,
    rationale=(
        "Unless allowPrivilegeEscalation is false, a process can gain more privileges "
        "than its parent (setuid binaries, file capabilities); the kubelet's default "
        "is to allow it."
    ),
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
    references={
        "checkov": "CKV_K8S_20",
        "kubesec": "AllowPrivilegeEscalation",
        "pss": "restricted",
        "cis": "5.2.6",
    },
)
def privilege_escalation(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is False:
            continue
        if value is None:
            yield Violation(
                container.context_path(),
                f"container {container.name} does not set allowPrivilegeEscalation: false",
            )
        else:
            yield Violation(
                container.at("securityContext", "allowPrivilegeEscalation"),
                f"container {container.name} allows privilege escalation",
            )
