"""Parity with Checkov's CKV_K8S_* checks, object by object, over Checkov's own fixtures.

For each Checkov check we claim parity with, every object in its fixture directory gets
an expected verdict (see ``tests/data/compliance/checkov/README.md``): the file name's
``PASSED`` or ``FAILED``, unless :data:`EXPECTED` says otherwise and why. Objects that
Checkov gives no verdict (``None``) are not counted. Agreement must be at least 95% per
check, and every disagreement must be one we know and explain in docs/compliance.md.

``python tests/compliance/test_kubernetes_checkov.py`` prints the table in the docs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stockade.compliance.interface import Result, Status
from stockade.compliance.kubernetes import KUBERNETES_CHECKS_BY_ID, load_manifest_file

DATA = Path(__file__).resolve().parent.parent / "data" / "compliance" / "checkov"

CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CKV_K8S_8": ("STK-K8S-022", ("example_LivenessReadiness",)),
    "CKV_K8S_9": ("STK-K8S-023", ("example_LivenessReadiness",)),
    "CKV_K8S_10": ("STK-K8S-018", ("example_Requests_Limits",)),
    "CKV_K8S_11": ("STK-K8S-019", ("example_Requests_Limits",)),
    "CKV_K8S_12": ("STK-K8S-020", ("example_Requests_Limits",)),
    "CKV_K8S_13": ("STK-K8S-021", ("example_Requests_Limits",)),
    "CKV_K8S_14": ("STK-K8S-024", ("example_ImageTagFixed",)),
    "CKV_K8S_15": ("STK-K8S-025", ("example_ImagePullPolicy",)),
    "CKV_K8S_16": ("STK-K8S-001", ("example_PrivilegedContainers",)),
    "CKV_K8S_17": ("STK-K8S-003", ("example_ShareHost",)),
    "CKV_K8S_18": ("STK-K8S-004", ("example_ShareHost",)),
    "CKV_K8S_19": ("STK-K8S-005", ("example_ShareHost",)),
    "CKV_K8S_20": ("STK-K8S-002", ("example_AllowPrivilegeEscalation",)),
    "CKV_K8S_21": ("STK-K8S-032", ("example_DefaultNamespace", "example_NoDefaultNamespace")),
    "CKV_K8S_22": ("STK-K8S-015", ("example_ReadOnlyFilesystem",)),
    "CKV_K8S_23": ("STK-K8S-013", ("example_RootContainers",)),
    "CKV_K8S_25": ("STK-K8S-009", ("example_AllowedCapabilities",)),
    "CKV_K8S_26": ("STK-K8S-008", ("example_HostPort",)),
    "CKV_K8S_27": ("STK-K8S-007", ("example_DockerSocketVolume",)),
    "CKV_K8S_28": ("STK-K8S-011", ("example_DropCapabilities",)),
    "CKV_K8S_31": ("STK-K8S-016", ("example_Seccomp",)),
    "CKV_K8S_37": ("STK-K8S-012", ("example_DropCapabilities",)),
    "CKV_K8S_38": ("STK-K8S-027", ("example_ServiceAccountTokens",)),
    "CKV_K8S_39": ("STK-K8S-010", ("example_AllowedCapabilitiesSysAdmin",)),
    "CKV_K8S_40": ("STK-K8S-014", ("example_RootContainersHighUID",)),
    "CKV_K8S_41": ("STK-K8S-029", ("example_DefaultServiceAccount",)),
    "CKV_K8S_42": ("STK-K8S-030", ("example_DefaultServiceAccountBinding",)),
    "CKV_K8S_43": ("STK-K8S-026", ("example_ImageDigest",)),
    "CKV_K8S_49": ("STK-K8S-033", ("example_WildcardRoles",)),
    "CKV_K8S_157": ("STK-K8S-035", ("example_RbacBindRoleBindings",)),
    "CKV_K8S_158": ("STK-K8S-034", ("example_RbacEscalateRoles",)),
}
"""Checkov id → (our check, Checkov's fixture directories for it)."""

_REQUESTS_LIMITS = {
    "example_Requests_Limits/pod-requests-limits-1FAILED1PASSED.yaml Pod/frontend": (
        "FAILED",
        "one of its two containers has no requests or limits; Checkov counts containers",
    ),
    "example_Requests_Limits/pod-requests-limits-UNKNOWN.yaml Pod/frontend": (
        None,
        "resources is a list; Checkov's test counts no result for it",
    ),
    "example_Requests_Limits/pod-requests-limits-UNKNOWN2.yaml Pod/frontend": (
        None,
        "resources.requests is a list; Checkov's test counts no result for it",
    ),
}
_PROBES = {
    "example_LivenessReadiness/pod-liveness-readiness-2pods.yaml Pod/liveness-exec": (
        "FAILED",
        "its second container has no probes; Checkov's test: 1 passed, 1 failed",
    ),
}

EXPECTED: dict[str, dict[str, tuple[str | None, str]]] = {
    "CKV_K8S_8": _PROBES,
    "CKV_K8S_9": _PROBES,
    "CKV_K8S_10": _REQUESTS_LIMITS,
    "CKV_K8S_11": _REQUESTS_LIMITS,
    "CKV_K8S_12": _REQUESTS_LIMITS,
    "CKV_K8S_13": _REQUESTS_LIMITS,
    "CKV_K8S_23": {
        "example_RootContainers/rootContainersUNKNOWN.yaml Pod/nginx-pod": (
            None,
            "UNKNOWN: containers is a mapping",
        ),
    },
    "CKV_K8S_25": {
        "example_AllowedCapabilities/cronjob-UNKOWN.yaml CronJob/hello": (
            None,
            "UNKNOWN: the CronJob has no spec",
        ),
    },
    "CKV_K8S_27": {
        "example_DockerSocketVolume/cloudwatch-agent-1PASSED-1FAILED.yaml "
        "DaemonSet/amazon-cloudwatch/cloudwatch-agent": ("FAILED", "mounts /var/run/docker.sock"),
        "example_DockerSocketVolume/cloudwatch-agent-1PASSED-1FAILED.yaml "
        "DaemonSet/amazon-cloudwatch/fluentd-cloudwatch": ("PASSED", "mounts /var/log only"),
        "example_DockerSocketVolume/scope-2PASSED-1FAILED.yaml DaemonSet/weave/weave-scope-agent": (
            "FAILED",
            "mounts /var/run/docker.sock",
        ),
        "example_DockerSocketVolume/scope-2PASSED-1FAILED.yaml Deployment/weave/weave-scope-app": (
            "PASSED",
            "no host paths",
        ),
        "example_DockerSocketVolume/scope-2PASSED-1FAILED.yaml "
        "Deployment/weave/weave-scope-cluster-agent": ("PASSED", "no host paths"),
        "example_DockerSocketVolume/scope-UNKNOWN.yaml Pod/nginx-pod": (
            None,
            "UNKNOWN: containers is a mapping",
        ),
    },
    "CKV_K8S_31": {
        "example_Seccomp/template.yaml Deployment/aws-dev/fdn-svc": (
            "PASSED",
            "listed as passing in Checkov's test_Seccomp.py",
        ),
    },
    "CKV_K8S_37": {
        # example_DropCapabilities is named for CKV_K8S_28 (NET_RAW); Checkov's
        # test_MinimizeCapabilities.py counts 1 passed and 2 failed over it.
        "example_DropCapabilities/pod-drop-all-capabilities-PASSED.yaml "
        "Pod/pod-drop-all-capability": ("PASSED", "drops ALL"),
        "example_DropCapabilities/pod-drop-NET_RAW-capabilities-PASSED.yaml "
        "Pod/pod-drop-net-raw-capability": ("FAILED", "drops NET_RAW only"),
        "example_DropCapabilities/pod-drop-all-capabilities-PASSED2.yaml "
        "Pod/pod-drop-all-capability": ("FAILED", "drops 'all', not 'ALL'"),
        "example_DropCapabilities/pod-drop-NET_RAW-capabilities-FAILED-MISSING.yaml "
        "Pod/pod-drop-net-raw-capability": (None, "capabilities is empty: no result in Checkov"),
        "example_DropCapabilities/pod-drop-none-FAILED.yaml Pod/pod-drop-none": (
            None,
            "no securityContext: no result in Checkov",
        ),
    },
    "CKV_K8S_38": {
        "example_ServiceAccountTokens/ServiceAccountTokensUNKNOWN.yaml "
        "Deployment/myapp-deployment": (None, "UNKNOWN: the pod spec is a list"),
    },
    "CKV_K8S_39": {
        "example_AllowedCapabilitiesSysAdmin/pod-FAILED2.yaml Pod/security-context-demo-1": (
            None,
            "containers is null; Checkov's test counts 1 passed, 1 failed (no result here)",
        ),
    },
    "CKV_K8S_40": {
        "example_RootContainersHighUID/rootContainersHighUIDUNKNOWN.yaml Pod/nginx-pod": (
            None,
            "UNKNOWN: containers is a mapping",
        ),
    },
}
"""Per check, ``"<file> <object>"`` → (Checkov's verdict, or None for none; why)."""

KNOWN_DISAGREEMENTS: dict[str, dict[str, str]] = {}
"""Per check, ``"<file> <object>"`` → why Stockade's verdict differs from Checkov's."""


@dataclass(frozen=True, slots=True)
class Comparison:
    checkov_id: str
    check_id: str
    key: str
    expected: str | None
    ours: str
    detail: str

    @property
    def agrees(self) -> bool:
        return self.expected is None or self.expected == self.ours


def verdict(results: list[Result]) -> str:
    """One verdict for an object: FAILED if any result failed."""
    if any(r.status is Status.FAILED for r in results):
        return "FAILED"
    return results[0].status.name


def name_verdict(name: str) -> str | None:
    upper = name.upper()
    failed, passed = "FAIL" in upper, "PASS" in upper
    if failed != passed:
        return "FAILED" if failed else "PASSED"
    return None


def compare(checkov_id: str) -> Iterator[Comparison]:
    check_id, directories = CLAIMS[checkov_id]
    check = KUBERNETES_CHECKS_BY_ID[check_id]
    expected = EXPECTED.get(checkov_id, {})
    seen: set[str] = set()
    for directory in directories:
        for file in sorted((DATA / directory).iterdir()):
            for resource in load_manifest_file(file):
                results = check(resource)
                if not results:
                    continue
                key = f"{directory}/{file.name} {resource.ref}"
                if key in expected:
                    want = expected[key][0]
                else:
                    want = name_verdict(file.name)
                    assert want is not None or "UNK" in file.name.upper(), (
                        f"{checkov_id}: no expected verdict for {key}"
                    )
                seen.add(key)
                detail = "; ".join(r.message for r in results if r.status is not Status.PASSED)
                yield Comparison(checkov_id, check_id, key, want, verdict(results), detail)
    stale = set(expected) - seen
    assert not stale, f"{checkov_id}: expectations for objects not found: {stale}"


@pytest.mark.parametrize("checkov_id", sorted(CLAIMS, key=lambda i: int(i.rsplit("_", 1)[1])))
def test_agreement_with_checkov(checkov_id: str) -> None:
    comparisons = list(compare(checkov_id))
    counted = [c for c in comparisons if c.expected is not None]
    assert counted, f"{checkov_id}: no fixture gives a verdict"
    disagreements = {c.key: c for c in counted if not c.agrees}
    assert set(disagreements) == set(KNOWN_DISAGREEMENTS.get(checkov_id, {})), {
        key: (c.expected, c.ours, c.detail) for key, c in disagreements.items()
    }
    agreement = (len(counted) - len(disagreements)) / len(counted)
    assert agreement >= 0.95, f"{checkov_id}: {agreement:.0%} agreement"


def test_claimed_checks_reference_their_checkov_id() -> None:
    for checkov_id, (check_id, _) in CLAIMS.items():
        assert KUBERNETES_CHECKS_BY_ID[check_id].meta.references.get("checkov") == checkov_id


def test_every_checkov_reference_is_claimed() -> None:
    referenced = {
        check.meta.references["checkov"]
        for check in KUBERNETES_CHECKS_BY_ID.values()
        if "checkov" in check.meta.references
    }
    assert referenced == set(CLAIMS)


def markdown_table() -> str:
    """The per-check agreement table of docs/compliance.md."""
    lines = [
        "| Checkov | Stockade | fixture files | objects with a Checkov verdict | agree "
        "| no Checkov verdict (not counted) | disagreements |",
        "|---|---|---|---|---|---|---|",
    ]
    for checkov_id in sorted(CLAIMS, key=lambda i: int(i.rsplit("_", 1)[1])):
        check_id, directories = CLAIMS[checkov_id]
        files = sum(len(list((DATA / d).iterdir())) for d in directories)
        comparisons = list(compare(checkov_id))
        counted = [c for c in comparisons if c.expected is not None]
        agree = sum(c.agrees for c in counted)
        reasons = KNOWN_DISAGREEMENTS.get(checkov_id, {})
        wrong = "; ".join(f"`{c.key}`: {reasons.get(c.key, '?')}" for c in counted if not c.agrees)
        lines.append(
            f"| {checkov_id} | {check_id} | {files} | {len(counted)} | {agree} "
            f"({agree / len(counted):.0%}) | {len(comparisons) - len(counted)} | {wrong or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
