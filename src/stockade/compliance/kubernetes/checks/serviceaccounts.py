"""Service account tokens and the default service account."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


@kubernetes_check(
    "STK-K8S-027",
    "Pods should not mount a service account token unless they use the API",
    Severity.MEDIUM,
    rationale=(
        "Every pod gets a token for its service account unless told otherwise; "
        "whoever takes over the container can then call the Kubernetes API with it."
    ),
    remediation=(
        "Set automountServiceAccountToken: false in the pod spec (or on its service "
        "account) unless the application talks to the Kubernetes API."
    ),
    references={
        "checkov": "CKV_K8S_38",
        "kubesec": "AutomountServiceAccountToken",
        "cis": "5.1.6",
    },
)
def automount_token(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource, need_containers=False)
    value = spec.body.get("automountServiceAccountToken")
    if value is False:
        return
    if value is None:
        yield Violation(spec.path, "the pod mounts a service account token by default")
    else:
        yield Violation(
            spec.at("automountServiceAccountToken"), "the pod mounts a service account token"
        )


@kubernetes_check(
    "STK-K8S-028",
    "Pods should run as a service account of their own",
    Severity.LOW,
    rationale=(
        "Pods that run as their namespace's default service account share its "
        "permissions with every other such pod: granting one of them access grants it "
        "to all."
    ),
    remediation="Create a service account for the workload and set spec.serviceAccountName.",
    references={"kubesec": "ServiceAccountName", "cis": "5.1.5"},
)
def own_service_account(resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource, need_containers=False)
    for field in ("serviceAccountName", "serviceAccount"):
        name = spec.body.get(field)
        if isinstance(name, str) and name:
            if name == "default":
                yield Violation(spec.at(field), "the pod runs as the default service account")
            return
    yield Violation(spec.path, "the pod runs as the default service account (none is named)")


@kubernetes_check(
    "STK-K8S-029",
    "The default service account should not mount tokens",
    Severity.MEDIUM,
    kinds=("ServiceAccount",),
    rationale=(
        "Pods that name no service account run as default; if its token is mounted, "
        "every such pod can call the API with whatever was granted to default."
    ),
    remediation="Set automountServiceAccountToken: false on each namespace's default account.",
    references={"checkov": "CKV_K8S_41", "cis": "5.1.5"},
)
def default_account_token(resource: Resource) -> Iterator[Violation]:
    if resource.name != "default":
        return
    value = resource.body.get("automountServiceAccountToken")
    if value is not False:
        path = ("automountServiceAccountToken",) if value is not None else ("metadata",)
        yield Violation(path, "the default service account mounts its token into pods")


@kubernetes_check(
    "STK-K8S-030",
    "Roles should not be bound to a default service account",
    Severity.MEDIUM,
    kinds=("RoleBinding", "ClusterRoleBinding"),
    rationale=(
        "Every pod that names no service account runs as default: a role bound to it "
        "is granted to all of them."
    ),
    remediation="Bind the role to a service account created for the workload that needs it.",
    references={"checkov": "CKV_K8S_42", "cis": "5.1.5"},
)
def default_account_binding(resource: Resource) -> Iterator[Violation]:
    subjects = resource.body.get("subjects")
    if not isinstance(subjects, list):
        return
    for index, subject in enumerate(subjects):
        if not isinstance(subject, Mapping):
            continue
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and name == "default":
            yield Violation(
                ("subjects", index), "the binding grants its role to a default service account"
            )
        elif (
            kind == "Group" and isinstance(name, str) and name.startswith("system:serviceaccounts")
        ):
            yield Violation(
                ("subjects", index),
                f"the binding grants its role to every service account in {name}",
            )
