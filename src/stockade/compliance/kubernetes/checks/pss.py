"""The Pod Security Standards, baseline and restricted, as two aggregate checks.

Each control of https://kubernetes.io/docs/concepts/security/pod-security-standards/
is a generator of (path, message); the baseline check runs the baseline controls and
the restricted check runs those and the restricted ones, as the PodSecurity admission
controller does for the latest policy version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.capabilities import BASELINE_CAPABILITIES
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import PodSpec, pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

Control = Callable[[PodSpec], Iterator[Violation]]

SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
RESTRICTED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def _contexts(spec: PodSpec) -> Iterator[tuple[tuple[Any, ...], Mapping[str, Any], str]]:
    """(path, securityContext, who) for the pod and then each container."""
    yield spec.at("securityContext"), spec.security_context, "the pod"
    for container in spec.containers:
        yield (
            container.at("securityContext"),
            container.security_context,
            f"container {container.name}",
        )


def host_process(spec: PodSpec) -> Iterator[Violation]:
    for path, context, who in _contexts(spec):
        options = context.get("windowsOptions")
        if isinstance(options, Mapping) and options.get("hostProcess") is True:
            yield Violation(
                (*path, "windowsOptions", "hostProcess"), f"{who} is a Windows HostProcess"
            )


def host_namespaces(spec: PodSpec) -> Iterator[Violation]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.body.get(field) is True:
            yield Violation(spec.at(field), f"the pod sets {field}")


def privileged(spec: PodSpec) -> Iterator[Violation]:
    for container in spec.containers:
        if container.security_context.get("privileged") is True:
            yield Violation(
                container.at("securityContext", "privileged"),
                f"container {container.name} is privileged",
            )


def baseline_capabilities(spec: PodSpec) -> Iterator[Violation]:
    for container in spec.containers:
        for index, name in container.capabilities("add"):
            if name not in BASELINE_CAPABILITIES:
                yield Violation(
                    container.at("securityContext", "capabilities", "add", index),
                    f"container {container.name} adds {name}",
                )


def host_path(spec: PodSpec) -> Iterator[Violation]:
    for path, volume in spec.volumes():
        if "hostPath" in volume:
            yield Violation((*path, "hostPath"), f"volume {volume.get('name')} is a hostPath")


def host_ports(spec: PodSpec) -> Iterator[Violation]:
    for container in spec.containers:
        ports = container.body.get("ports")
        for index, port in enumerate(ports if isinstance(ports, list) else []):
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0, "0"):
                yield Violation(
                    container.at("ports", index, "hostPort"),
                    f"container {container.name} binds host port {port.get('hostPort')}",
                )


def _profile_type(context: Mapping[str, Any], field: str) -> Any:
    profile = context.get(field)
    return profile.get("type") if isinstance(profile, Mapping) else None


def apparmor(spec: PodSpec) -> Iterator[Violation]:
    for path, context, who in _contexts(spec):
        kind = _profile_type(context, "appArmorProfile")
        if kind is not None and kind not in ("RuntimeDefault", "Localhost"):
            yield Violation(
                (*path, "appArmorProfile", "type"), f"{who} sets AppArmor profile {kind}"
            )
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    for path, key, value in spec.annotations():
        if key.startswith(prefix) and not (
            value in ("", "runtime/default") or value.startswith("localhost/")
        ):
            yield Violation(path, f"annotation {key} sets AppArmor profile {value}")


def selinux(spec: PodSpec) -> Iterator[Violation]:
    for path, context, who in _contexts(spec):
        options = context.get("seLinuxOptions")
        if not isinstance(options, Mapping):
            continue
        kind = options.get("type")
        if kind is not None and kind not in ALLOWED_SELINUX_TYPES:
            yield Violation((*path, "seLinuxOptions", "type"), f"{who} sets SELinux type {kind}")
        for field in ("user", "role"):
            if options.get(field) not in (None, ""):
                yield Violation(
                    (*path, "seLinuxOptions", field), f"{who} sets a custom SELinux {field}"
                )


def proc_mount(spec: PodSpec) -> Iterator[Violation]:
    for container in spec.containers:
        mount = container.security_context.get("procMount")
        if mount not in (None, "Default"):
            yield Violation(
                container.at("securityContext", "procMount"),
                f"container {container.name} sets procMount {mount}",
            )


def seccomp_not_unconfined(spec: PodSpec) -> Iterator[Violation]:
    for path, context, who in _contexts(spec):
        if _profile_type(context, "seccompProfile") == "Unconfined":
            yield Violation((*path, "seccompProfile", "type"), f"{who} runs seccomp Unconfined")


def sysctls(spec: PodSpec) -> Iterator[Violation]:
    listed = spec.security_context.get("sysctls")
    for index, sysctl in enumerate(listed if isinstance(listed, list) else []):
        name = sysctl.get("name") if isinstance(sysctl, Mapping) else None
        if name not in SAFE_SYSCTLS:
            yield Violation(
                spec.at("securityContext", "sysctls", index, "name"),
                f"the pod sets unsafe sysctl {name}",
            )


BASELINE_CONTROLS: Final[tuple[Control, ...]] = (
    host_process,
    host_namespaces,
    privileged,
    baseline_capabilities,
    host_path,
    host_ports,
    apparmor,
    selinux,
    proc_mount,
    seccomp_not_unconfined,
    sysctls,
)


def _is_windows(spec: PodSpec) -> bool:
    os = spec.body.get("os")
    return isinstance(os, Mapping) and os.get("name") == "windows"


def volume_types(spec: PodSpec) -> Iterator[Violation]:
    for path, volume in spec.volumes():
        for key in volume:
            if key != "name" and key not in RESTRICTED_VOLUME_TYPES:
                yield Violation((*path, key), f"volume {volume.get('name')} is of type {key}")


def privilege_escalation(spec: PodSpec) -> Iterator[Violation]:
    if _is_windows(spec):
        return
    for container in spec.containers:
        if container.security_context.get("allowPrivilegeEscalation") is not False:
            yield Violation(
                container.context_path(),
                f"container {container.name} does not set allowPrivilegeEscalation: false",
            )


def run_as_non_root(spec: PodSpec) -> Iterator[Violation]:
    for container in spec.containers:
        value, path = spec.effective(container, "runAsNonRoot")
        if value is not True:
            yield Violation(
                path or container.context_path(),
                f"container {container.name} does not set runAsNonRoot: true",
            )


def run_as_user(spec: PodSpec) -> Iterator[Violation]:
    for path, context, who in _contexts(spec):
        user = context.get("runAsUser")
        if isinstance(user, int) and not isinstance(user, bool) and user == 0:
            yield Violation((*path, "runAsUser"), f"{who} runs as UID 0")


def seccomp_restricted(spec: PodSpec) -> Iterator[Violation]:
    if _is_windows(spec):
        return
    pod = _profile_type(spec.security_context, "seccompProfile")
    for container in spec.containers:
        kind = _profile_type(container.security_context, "seccompProfile")
        if kind is None:
            kind = pod
        if kind not in ("RuntimeDefault", "Localhost"):
            yield Violation(
                container.context_path(),
                f"container {container.name} has no RuntimeDefault or Localhost seccomp profile",
            )


def restricted_capabilities(spec: PodSpec) -> Iterator[Violation]:
    if _is_windows(spec):
        return
    for container in spec.containers:
        if "ALL" not in container.written_capabilities("drop").values():
            yield Violation(
                container.context_path(), f"container {container.name} does not drop ALL"
            )
        for index, name in container.written_capabilities("add").items():
            if name != "NET_BIND_SERVICE":
                yield Violation(
                    container.at("securityContext", "capabilities", "add", index),
                    f"container {container.name} adds {name}",
                )


RESTRICTED_CONTROLS: Final[tuple[Control, ...]] = (
    volume_types,
    privilege_escalation,
    run_as_non_root,
    run_as_user,
    seccomp_restricted,
    restricted_capabilities,
)


def _evaluate(resource: Resource, controls: tuple[Control, ...]) -> Iterator[Violation]:
    spec = pod_spec(resource, need_containers=False)
    for control in controls:
        for violation in control(spec):
            label = control.__name__.replace("_", " ")
            yield Violation(violation.path, f"{label}: {violation.message}")


@kubernetes_check(
    "STK-K8S-039",
    "Pods must meet the Pod Security Standards baseline",
    Severity.HIGH,
    rationale=(
        "The baseline policy forbids the known privilege escalations from a pod to its "
        "node: privileged containers, host namespaces, host paths and ports, added "
        "capabilities, unconfined AppArmor or seccomp, custom SELinux, unsafe sysctls."
    ),
    remediation=(
        "Fix each listed control, then label the namespace "
        "pod-security.kubernetes.io/enforce: baseline so the API server keeps it so."
    ),
    references={"pss": "baseline"},
)
def pss_baseline(resource: Resource) -> Iterator[Violation]:
    return _evaluate(resource, BASELINE_CONTROLS)


@kubernetes_check(
    "STK-K8S-040",
    "Pods should meet the Pod Security Standards restricted policy",
    Severity.MEDIUM,
    rationale=(
        "The restricted policy is current pod hardening practice: the baseline, plus "
        "non-root users, no privilege escalation, RuntimeDefault seccomp, all "
        "capabilities dropped and only ordinary volume types."
    ),
    remediation=(
        "Fix each listed control, then label the namespace "
        "pod-security.kubernetes.io/enforce: restricted."
    ),
    references={"pss": "restricted"},
)
def pss_restricted(resource: Resource) -> Iterator[Violation]:
    return _evaluate(resource, BASELINE_CONTROLS + RESTRICTED_CONTROLS)
