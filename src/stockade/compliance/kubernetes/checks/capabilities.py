"""Linux capabilities added to and dropped from containers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import Container, capability_name, pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

BASELINE_CAPABILITIES: Final = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""What the Pod Security Standards' baseline lets a container add: the runtimes' default
set, less NET_RAW. Anything else widens what root in the container can do to the node."""


@kubernetes_check(
    "STK-K8S-009",
    "Containers must not add capabilities beyond the runtime's defaults",
    Severity.HIGH,
    rationale=(
        "Capabilities outside the container runtime's default set (SYS_ADMIN, "
        "NET_ADMIN, SYS_PTRACE, SYS_MODULE, BPF, IPC_LOCK…) give root in the container "
        "powers over the node's kernel."
    ),
    remediation=(
        "Remove the capability from securityContext.capabilities.add; if the workload "
        "really needs it, run it where the baseline policy is knowingly exempted."
    ),
    references={"checkov": "CKV_K8S_25", "pss": "baseline", "cis": "5.2.9"},
)
def added_capabilities(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        for index, name in container.capabilities("add"):
            if name not in BASELINE_CAPABILITIES:
                yield Violation(
                    container.at("securityContext", "capabilities", "add", index),
                    f"container {container.name} adds capability {name}",
                )


@kubernetes_check(
    "STK-K8S-010",
    "Containers must not add CAP_SYS_ADMIN",
    Severity.CRITICAL,
    rationale=(
        "CAP_SYS_ADMIN is close to full root: mount, namespaces, BPF, and many known "
        "container escapes need nothing more."
    ),
    remediation="Remove SYS_ADMIN (and ALL) from securityContext.capabilities.add.",
    references={"checkov": "CKV_K8S_39", "kubesec": "CapSysAdmin", "pss": "baseline"},
)
def sys_admin(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        for index, name in container.capabilities("add"):
            if name in ("SYS_ADMIN", "ALL"):
                yield Violation(
                    container.at("securityContext", "capabilities", "add", index),
                    f"container {container.name} adds {name}"
                    + (", which includes SYS_ADMIN" if name == "ALL" else ""),
                )


def _drops(container: Container, capability: str) -> bool:
    dropped = {name for _, name in container.capabilities("drop")}
    added = {name for _, name in container.capabilities("add")}
    return bool(dropped & {capability, "ALL"}) and not added & {capability, "ALL"}


def _capabilities_path(container: Container) -> tuple[str | int, ...]:
    if "capabilities" in container.security_context:
        return container.at("securityContext", "capabilities")
    return container.context_path()


@kubernetes_check(
    "STK-K8S-011",
    "Containers must drop NET_RAW",
    Severity.MEDIUM,
    rationale=(
        "NET_RAW is in the runtimes' default set; it lets a container forge packets "
        "and spoof addresses on the pod network (ARP and DNS spoofing)."
    ),
    remediation="Add NET_RAW (or ALL) to securityContext.capabilities.drop.",
    references={"checkov": "CKV_K8S_28", "cis": "5.2.8"},
)
def net_raw(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        if not _drops(container, "NET_RAW"):
            yield Violation(
                _capabilities_path(container),
                f"container {container.name} keeps NET_RAW",
            )


@kubernetes_check(
    "STK-K8S-012",
    "Containers must drop all capabilities",
    Severity.LOW,
    rationale=(
        "Dropping ALL and adding back only what the process needs leaves root in the "
        "container with the fewest kernel powers; the restricted policy requires it."
    ),
    remediation=(
        "Set securityContext.capabilities.drop: [ALL] and add back only what is "
        "needed (NET_BIND_SERVICE for ports under 1024)."
    ),
    references={
        "checkov": "CKV_K8S_37",
        "kubesec": "CapDropAll",
        "pss": "restricted",
        "cis": "5.2.10",
    },
)
def drop_all(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        written = container.written_capabilities("drop")
        if "ALL" in written.values():
            continue
        spelled = [i for i, text in written.items() if capability_name(text) == "ALL"]
        if spelled:
            # Runtimes accept any case, but the restricted policy (and PodSecurity
            # admission) accepts only ALL: "all" would be refused there.
            yield Violation(
                container.at("securityContext", "capabilities", "drop", spelled[0]),
                f"container {container.name} drops {written[spelled[0]]!r}; the restricted "
                "policy accepts only 'ALL'",
            )
        else:
            yield Violation(
                _capabilities_path(container),
                f"container {container.name} does not drop ALL capabilities",
            )
