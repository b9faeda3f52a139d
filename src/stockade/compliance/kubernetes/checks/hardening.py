"""Confinement of the container: read-only root filesystem, seccomp, AppArmor."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import Container, PodSpec, pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

SECCOMP_POD_ANNOTATION: Final = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION: Final = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_ANNOTATION: Final = "container.apparmor.security.beta.kubernetes.io/"
CONFINING_SECCOMP_TYPES: Final = frozenset({"RuntimeDefault", "Localhost"})


@kubernetes_check(
    "STK-K8S-015",
    "Containers should have a read-only root filesystem",
    Severity.LOW,
    rationale=(
        "A writable root filesystem lets an intruder drop tools and binaries into the "
        "container and tamper with the application; a read-only one makes that fail."
    ),
    remediation=(
        "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where "
        "the application must write (/tmp, caches)."
    ),
    references={
        "checkov": "CKV_K8S_22",
        "kubesec": "ReadOnlyRootFilesystem",
        "kube-score": "container-security-context-readonlyrootfilesystem",
    },
)
def read_only_root(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        value = container.security_context.get("readOnlyRootFilesystem")
        if value is True:
            continue
        path = (
            container.at("securityContext", "readOnlyRootFilesystem")
            if value is not None
            else container.context_path()
        )
        yield Violation(path, f"container {container.name} has a writable root filesystem")


def seccomp_from_annotation(value: str) -> str | None:
    """The seccompProfile type a legacy annotation value means (None if unknown)."""
    if value in ("runtime/default", "docker/default"):
        return "RuntimeDefault"
    if value.startswith("localhost/"):
        return "Localhost"
    if value == "unconfined":
        return "Unconfined"
    return None


def _profile_type(context: Mapping[str, Any], field: str) -> str | None:
    profile = context.get(field)
    kind = profile.get("type") if isinstance(profile, Mapping) else None
    return kind if isinstance(kind, str) else None


def container_seccomp(spec: PodSpec, container: Container) -> tuple[str | None, tuple[Any, ...]]:
    """The seccomp profile type that applies to ``container`` and where it is set.

    The securityContext fields win over the annotations they replaced, and the
    container's setting over the pod's, as the kubelet reads them.
    """
    kind = _profile_type(container.security_context, "seccompProfile")
    if kind is not None:
        return kind, container.at("securityContext", "seccompProfile", "type")
    annotations = {key: (path, value) for path, key, value in spec.annotations()}
    named = annotations.get(SECCOMP_CONTAINER_ANNOTATION + container.name)
    if named is not None and seccomp_from_annotation(named[1]) is not None:
        return seccomp_from_annotation(named[1]), named[0]
    kind = _profile_type(spec.security_context, "seccompProfile")
    if kind is not None:
        return kind, spec.at("securityContext", "seccompProfile", "type")
    pod = annotations.get(SECCOMP_POD_ANNOTATION)
    if pod is not None and seccomp_from_annotation(pod[1]) is not None:
        return seccomp_from_annotation(pod[1]), pod[0]
    return None, ()


@kubernetes_check(
    "STK-K8S-016",
    "Pods should run with the RuntimeDefault or a Localhost seccomp profile",
    Severity.MEDIUM,
    rationale=(
        "Without a seccomp profile a container can make every system call, including "
        "the rarely used ones where kernel exploits live; the kubelet's default is "
        "Unconfined."
    ),
    remediation="Set spec.securityContext.seccompProfile.type: RuntimeDefault on the pod.",
    references={
        "checkov": "CKV_K8S_31",
        "kubesec": "SeccompAny",
        "pss": "restricted",
        "cis": "5.7.2",
    },
)
def seccomp(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource)
    unset: list[Container] = []
    for container in spec.containers:
        kind, path = container_seccomp(spec, container)
        if kind in CONFINING_SECCOMP_TYPES:
            continue
        if kind is None:
            unset.append(container)
        else:
            yield Violation(path, f"container {container.name} runs with seccomp profile {kind}")
    if unset and len(unset) == len(spec.containers):
        yield Violation(
            spec.at("securityContext") if "securityContext" in spec.body else spec.path,
            "no seccomp profile is set for the pod or its containers",
        )
    else:
        for container in unset:
            yield Violation(
                container.context_path(), f"container {container.name} has no seccomp profile"
            )


def apparmor_unconfined(spec: PodSpec) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, who) for each place that runs a container unconfined by AppArmor."""
    if _profile_type(spec.security_context, "appArmorProfile") == "Unconfined":
        yield spec.at("securityContext", "appArmorProfile", "type"), "the pod"
    for container in spec.containers:
        if _profile_type(container.security_context, "appArmorProfile") == "Unconfined":
            yield (
                container.at("securityContext", "appArmorProfile", "type"),
                f"container {container.name}",
            )
    for path, key, value in spec.annotations():
        if key.startswith(APPARMOR_ANNOTATION) and value.strip() == "unconfined":
            yield path, f"container {key.removeprefix(APPARMOR_ANNOTATION)}"


@kubernetes_check(
    "STK-K8S-017",
    "Containers must not run unconfined by AppArmor",
    Severity.HIGH,
    rationale=(
        "On AppArmor hosts the runtime's default profile blocks writes to /proc and "
        "/sys and mounts that container escapes use; Unconfined switches it off."
    ),
    remediation=(
        "Remove the Unconfined AppArmor setting (securityContext.appArmorProfile or "
        "the container.apparmor.security.beta.kubernetes.io annotation), or use "
        "RuntimeDefault or a Localhost profile."
    ),
    references={"pss": "baseline"},
)
def apparmor(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource, need_containers=False)
    for path, who in apparmor_unconfined(spec):
        yield Violation(path, f"{who} runs unconfined by AppArmor")
