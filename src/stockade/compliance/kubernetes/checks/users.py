"""Which user containers run as."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

HIGH_UID: Final = 10000
"""UIDs from here up are above those of any account in common base images and on hosts."""


def _uid(value: object) -> int | None:
    """A UID as Kubernetes reads it: an integer (``bool`` is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@kubernetes_check(
    "STK-K8S-013",
    "Containers must run as a non-root user",
    Severity.MEDIUM,
    rationale=(
        "Root in a container is root on the node's kernel: one escape bug away from "
        "the node. runAsNonRoot makes the kubelet refuse to start a container whose "
        "image would run as UID 0."
    ),
    remediation=(
        "Set securityContext.runAsNonRoot: true on the pod (and runAsUser to a "
        "non-zero UID if the image has no USER); do not override it in containers."
    ),
    references={
        "checkov": "CKV_K8S_23",
        "kubesec": "RunAsNonRoot",
        "pss": "restricted",
        "cis": "5.2.7",
    },
)
def non_root(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource)
    for container in spec.containers:
        non_root_value, non_root_path = spec.effective(container, "runAsNonRoot")
        user, user_path = spec.effective(container, "runAsUser")
        uid = _uid(user)
        if uid == 0 and user_path is not None:
            yield Violation(user_path, f"container {container.name} runs as UID 0")
        elif (uid is not None and uid > 0) or non_root_value is True:
            continue
        elif non_root_value is not None and non_root_path is not None:
            yield Violation(
                non_root_path,
                f"container {container.name} sets runAsNonRoot to {non_root_value!r}",
            )
        elif user is not None and user_path is not None:
            yield Violation(
                user_path, f"container {container.name} has runAsUser {user!r}, not a UID"
            )
        else:
            yield Violation(
                container.context_path(),
                f"container {container.name} may run as root: neither runAsNonRoot "
                "nor a non-zero runAsUser is set",
            )


@kubernetes_check(
    "STK-K8S-014",
    f"Containers should run as a UID of at least {HIGH_UID}",
    Severity.LOW,
    rationale=(
        "A low UID in a container is often a real account on the node (or in "
        "another container's image); after an escape, the process acts as that user."
    ),
    remediation=(
        f"Set securityContext.runAsUser to {HIGH_UID} or more, on the pod or on every container."
    ),
    references={
        "checkov": "CKV_K8S_40",
        "kubesec": "RunAsUser",
        "kube-score": "container-security-context-user-group-id",
    },
)
def high_uid(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource)
    if spec.body.get("hostUsers") is False:
        return  # a user namespace maps every UID in the pod to an unused high host UID
    for container in spec.containers:
        user, user_path = spec.effective(container, "runAsUser")
        uid = _uid(user)
        if uid is not None and uid >= HIGH_UID:
            continue
        if user_path is None:
            yield Violation(
                container.context_path(), f"container {container.name} sets no runAsUser"
            )
        else:
            yield Violation(
                user_path, f"container {container.name} runs as UID {user!r}, below {HIGH_UID}"
            )
