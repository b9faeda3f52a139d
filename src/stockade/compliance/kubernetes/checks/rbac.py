"""What Roles and ClusterRoles grant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

ROLE_KINDS: Final = frozenset({"Role", "ClusterRole"})
RBAC_GROUP: Final = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule of a role, its lists reduced to the strings written."""

    index: int
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    non_resource_urls: tuple[str, ...]

    def grants(self, verbs: set[str], resources: set[str], groups: set[str]) -> bool:
        """True when the rule allows one of ``verbs`` on one of ``resources`` in one of
        ``groups``, wildcards included."""
        return (
            bool({*self.verbs} & (verbs | {"*"}))
            and bool({*self.resources} & (resources | {"*"}))
            and bool({*self.api_groups} & (groups | {"*"}))
        )


def _strings(rule: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = rule.get(key)
    if isinstance(values, str):
        return (values,)
    if not isinstance(values, list):
        return ()
    return tuple(v for v in values if isinstance(v, str))


def rules(resource: Resource) -> Iterator[Rule]:
    listed = resource.body.get("rules")
    if not isinstance(listed, list):
        return
    for index, rule in enumerate(listed):
        if isinstance(rule, Mapping):
            yield Rule(
                index,
                _strings(rule, "apiGroups"),
                _strings(rule, "resources"),
                _strings(rule, "verbs"),
                _strings(rule, "nonResourceURLs"),
            )


@kubernetes_check(
    "STK-K8S-033",
    "Roles should not use wildcards",
    Severity.MEDIUM,
    kinds=ROLE_KINDS,
    rationale=(
        "A * grants everything that exists and everything added later: new resource "
        "types, subresources, verbs. Roles should list what they allow."
    ),
    remediation="Replace * in apiGroups, resources and verbs with the items the role needs.",
    references={"checkov": "CKV_K8S_49", "cis": "5.1.3"},
)
def wildcards(resource: Resource) -> Iterator[Violation]:
    fields = (
        ("apiGroups", "API groups"),
        ("resources", "resources"),
        ("verbs", "verbs"),
        ("nonResourceURLs", "non-resource URLs"),
    )
    for rule in rules(resource):
        for key, words in fields:
            listed = resource.get(("rules", rule.index, key))
            if isinstance(listed, list) and "*" in listed:
                yield Violation(
                    ("rules", rule.index, key, listed.index("*")),
                    f"rule {rule.index} grants all {words}",
                )


def _grant(
    resource: Resource, verbs: set[str], resources: set[str], groups: set[str], what: str
) -> Iterator[Violation]:
    for rule in rules(resource):
        if rule.grants(verbs, resources, groups):
            yield Violation(("rules", rule.index), f"rule {rule.index} grants {what}")


@kubernetes_check(
    "STK-K8S-034",
    "Roles should not grant escalate on roles",
    Severity.HIGH,
    kinds=ROLE_KINDS,
    rationale=(
        "The escalate verb lets a subject create or edit roles with permissions it "
        "does not hold itself, bypassing RBAC's escalation check."
    ),
    remediation="Remove escalate (and *) from rules on roles and clusterroles.",
    references={"checkov": "CKV_K8S_158", "cis": "5.1.8"},
)
def escalate(resource: Resource) -> Iterator[Violation]:
    return _grant(
        resource, {"escalate"}, {"roles", "clusterroles"}, {RBAC_GROUP}, "escalate on roles"
    )


@kubernetes_check(
    "STK-K8S-035",
    "Roles should not grant bind on roles or role bindings",
    Severity.HIGH,
    kinds=ROLE_KINDS,
    rationale=(
        "The bind verb lets a subject bind roles with permissions it does not hold "
        "itself: with create on rolebindings it can grant itself cluster-admin."
    ),
    remediation="Remove bind (and *) from rules on roles, clusterroles and their bindings.",
    references={"checkov": "CKV_K8S_157", "cis": "5.1.8"},
)
def bind(resource: Resource) -> Iterator[Violation]:
    # Kubernetes checks bind on the role being referenced; rules that name the
    # binding resources instead are flagged too, since they show the same intent.
    return _grant(
        resource,
        {"bind"},
        {"roles", "clusterroles", "rolebindings", "clusterrolebindings"},
        {RBAC_GROUP},
        "bind on roles",
    )


@kubernetes_check(
    "STK-K8S-036",
    "Roles should not grant impersonation",
    Severity.HIGH,
    kinds=ROLE_KINDS,
    rationale=(
        "A subject that can impersonate users, groups or service accounts acts with "
        "their permissions, system:masters included."
    ),
    remediation="Remove impersonate (and *) from rules on users, groups and serviceaccounts.",
    references={"cis": "5.1.8"},
)
def impersonate(resource: Resource) -> Iterator[Violation]:
    return _grant(
        resource,
        {"impersonate"},
        {"users", "groups", "serviceaccounts", "uids", "userextras"},
        {"", "authentication.k8s.io"},
        "impersonation",
    )


@kubernetes_check(
    "STK-K8S-037",
    "Roles should not grant read access to secrets",
    Severity.MEDIUM,
    kinds=ROLE_KINDS,
    rationale=(
        "Reading secrets yields service account tokens, TLS keys and passwords; list "
        "and watch return every secret in scope, not just one."
    ),
    remediation=(
        "Remove get, list and watch on secrets, or limit get to named secrets with resourceNames."
    ),
    references={"cis": "5.1.2"},
)
def secret_access(resource: Resource) -> Iterator[Violation]:
    for rule in rules(resource):
        if not rule.grants({"get", "list", "watch"}, {"secrets"}, {""}):
            continue
        named = resource.get(("rules", rule.index, "resourceNames"))
        broad = {*rule.verbs} & {"list", "watch", "*"}
        if named and not broad:
            continue  # get on listed secrets only: the least a controller needs
        yield Violation(("rules", rule.index), f"rule {rule.index} grants reading secrets")
