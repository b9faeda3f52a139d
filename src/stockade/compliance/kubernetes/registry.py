"""Every Kubernetes check, in id order. Adding a check is adding it here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from stockade.compliance.kubernetes.check import KubernetesCheck
from stockade.compliance.kubernetes.checks import (
    capabilities,
    hardening,
    host,
    images,
    limits,
    namespaces,
    privileges,
    probes,
    pss,
    rbac,
    secrets,
    serviceaccounts,
    services,
    users,
)

__all__ = ["KUBERNETES_CHECKS", "KUBERNETES_CHECKS_BY_ID"]

KUBERNETES_CHECKS: Final[tuple[KubernetesCheck, ...]] = tuple(
    sorted(
        (
            privileges.privileged_containers,
            privileges.privilege_escalation,
            host.host_pid,
            host.host_ipc,
            host.host_network,
            host.host_path_volumes,
            host.runtime_socket,
            host.host_ports,
            capabilities.added_capabilities,
            capabilities.sys_admin,
            capabilities.net_raw,
            capabilities.drop_all,
            users.non_root,
            users.high_uid,
            hardening.read_only_root,
            hardening.seccomp,
            hardening.apparmor,
            limits.cpu_requests,
            limits.cpu_limits,
            limits.memory_requests,
            limits.memory_limits,
            probes.liveness_probe,
            probes.readiness_probe,
            images.image_tag,
            images.pull_policy,
            images.image_digest,
            serviceaccounts.automount_token,
            serviceaccounts.own_service_account,
            serviceaccounts.default_account_token,
            serviceaccounts.default_account_binding,
            secrets.literal_secrets,
            namespaces.default_namespace,
            rbac.wildcards,
            rbac.escalate,
            rbac.bind,
            rbac.impersonate,
            rbac.secret_access,
            services.exposed_service,
            pss.pss_baseline,
            pss.pss_restricted,
        ),
        key=lambda check: check.id,
    )
)
"""Every Kubernetes check Stockade has, ordered by id."""

KUBERNETES_CHECKS_BY_ID: Final[Mapping[str, KubernetesCheck]] = {
    check.id: check for check in KUBERNETES_CHECKS
}
