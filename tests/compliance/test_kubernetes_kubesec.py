"""Reproducing kubesec's scores (their sign, as kubesec's own tests assert them).

kubesec adds points for each rule a manifest meets (positive rules: runAsNonRoot,
resource limits…) or breaks (negative rules: privileged, host namespaces…). Each kubesec
rule Stockade maps (:data:`RULES`) is scored from our results for the object; rules we
do not map score nothing. The sum's sign is compared with what ``test/1_cli.bats``
asserts (``tests/data/compliance/kubesec/expected_scores.tsv``). Point values are
kubesec's; the two "unconfined" rules are taken as -1 (the value kubesec gave
SeccompUnconfined), which only their sign matters for here.

``python tests/compliance/test_kubernetes_kubesec.py`` prints the figures in the docs.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stockade.compliance.interface import Result, Status
from stockade.compliance.kubernetes import (
    KUBERNETES_CHECKS_BY_ID,
    Resource,
    load_manifest_file,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "compliance" / "kubesec"


def _results(check_id: str, resource: Resource) -> list[Result]:
    return KUBERNETES_CHECKS_BY_ID[check_id](resource)


def passed(check_id: str) -> Callable[[Resource], bool]:
    def fires(resource: Resource) -> bool:
        results = _results(check_id, resource)
        return bool(results) and all(r.status is Status.PASSED for r in results)

    return fires


def failed(check_id: str, path_suffix: str = "", message: str = "") -> Callable[[Resource], bool]:
    """Fires when the check failed, at a field ending in ``path_suffix`` if given."""

    def fires(resource: Resource) -> bool:
        return any(
            r.status is Status.FAILED and r.path.endswith(path_suffix) and message in r.message
            for r in _results(check_id, resource)
        )

    return fires


@dataclass(frozen=True, slots=True)
class Rule:
    kubesec_id: str
    points: int
    fires: Callable[[Resource], bool]


RULES: tuple[Rule, ...] = (
    Rule("HostNetwork", -9, failed("STK-K8S-005")),
    Rule("HostPID", -9, failed("STK-K8S-003")),
    Rule("HostIPC", -9, failed("STK-K8S-004")),
    Rule("Privileged", -30, failed("STK-K8S-001")),
    Rule("CapSysAdmin", -30, failed("STK-K8S-010")),
    Rule("DockerSock", -9, failed("STK-K8S-007")),
    # kubesec penalises an explicit allowPrivilegeEscalation: true; our check also
    # fails when it is left unset, at the container rather than at the field.
    Rule(
        "AllowPrivilegeEscalation",
        -7,
        failed("STK-K8S-002", path_suffix="allowPrivilegeEscalation"),
    ),
    Rule("SeccompUnconfined", -1, failed("STK-K8S-016", message="Unconfined")),
    # kubesec's rule against unconfined AppArmor; STK-K8S-017 names no kubesec id, as
    # kubesec's own AppArmor rule (ApparmorAny) rewards a profile rather than faulting one.
    Rule("ApparmorUnconfined", -1, failed("STK-K8S-017")),
    Rule("ReadOnlyRootFilesystem", 1, passed("STK-K8S-015")),
    Rule("RunAsNonRoot", 1, passed("STK-K8S-013")),
    Rule("RunAsUser", 1, passed("STK-K8S-014")),
    Rule("CapDropAll", 1, passed("STK-K8S-012")),
    Rule("RequestsCPU", 1, passed("STK-K8S-018")),
    Rule("LimitsCPU", 1, passed("STK-K8S-019")),
    Rule("RequestsMemory", 1, passed("STK-K8S-020")),
    Rule("LimitsMemory", 1, passed("STK-K8S-021")),
    Rule("ServiceAccountName", 3, passed("STK-K8S-028")),
    Rule("AutomountServiceAccountToken", 1, passed("STK-K8S-027")),
    Rule("SeccompAny", 1, passed("STK-K8S-016")),
)
"""The kubesec rules Stockade maps, with kubesec's points and when each one fires."""

_USER_1 = (
    "kubesec scores RunAsNonRoot only for runAsNonRoot: true; STK-K8S-013 also passes a "
    "non-zero runAsUser, which runs as non-root just as well"
)
_GROUP = "kubesec's RunAsGroup rule has no Stockade check"
_CLAIMS = "kubesec's VolumeClaim* rules (StatefulSet storage) have no Stockade check"
_APPARMOR = (
    "kubesec rewards a confining AppArmor profile (ApparmorAny); STK-K8S-017 only fails "
    "Unconfined, so setting a profile earns nothing here"
)
_SECCOMP = (
    "kubesec rewards a profile on any one container; STK-K8S-016 wants every container "
    "(here the regular one has none)"
)

KNOWN_DIFFERENCES: dict[str, str] = {
    "score-1-dep-podseccon-run-as-user-1.yml": _USER_1,
    "score-1-dep-seccon-run-as-user-1.yml": _USER_1,
    "score-1-dep-podseccon-run-as-group-10001.yml": _GROUP,
    "score-1-dep-seccon-run-as-group-10001.yml": _GROUP,
    "score-1-statefulset-volumeclaimtemplate.yml": _CLAIMS,
    "score-1-statefulset-novolumeclaimtemplate.yml": _CLAIMS,
    "score-1-dep-apparmor-nonunconfined-spec-securitycontext.yml": _APPARMOR,
    "score-1-dep-apparmor-nonunconfined-container.yml": _APPARMOR,
    "score-1-dep-apparmor-nonunconfined-initcontainer.yml": _APPARMOR,
    "score-1-dep-apparmor-nonunconfined-ephemeralcontainer.yml": _APPARMOR,
    "score-1-dep-seccomp-nonunconfined-initcontainer.yml": _SECCOMP,
    "score-1-dep-seccomp-nonunconfined-ephemeralcontainer.yml": _SECCOMP,
}
"""Asset → why our score's sign differs from kubesec's."""


def expected_scores() -> list[tuple[str, str]]:
    with (DATA / "expected_scores.tsv").open(encoding="utf-8") as stream:
        return [(r["file"], r["expected_score"]) for r in csv.DictReader(stream, delimiter="\t")]


def score(file: str) -> tuple[int, list[str]]:
    """Our kubesec-style score for the (first) workload in ``file``, and the rules that fired."""
    workloads = [r for r in load_manifest_file(DATA / file) if r.pod_spec_path is not None]
    assert workloads, f"{file} has no workload"
    fired = [rule for rule in RULES if rule.fires(workloads[0])]
    return sum(rule.points for rule in fired), [f"{r.kubesec_id}({r.points:+d})" for r in fired]


def sign(points: int) -> str:
    return "lt" if points < 0 else "zero" if points == 0 else "gt"


@pytest.mark.parametrize(("file", "expected"), expected_scores())
def test_kubesec_score_sign(file: str, expected: str) -> None:
    points, fired = score(file)
    if file in KNOWN_DIFFERENCES:
        assert sign(points) != expected, "a known difference disappeared: remove it"
    else:
        assert sign(points) == expected, fired


def test_mapped_rules_match_check_references() -> None:
    referenced = {
        check.meta.references["kubesec"]
        for check in KUBERNETES_CHECKS_BY_ID.values()
        if "kubesec" in check.meta.references
    }
    mapped = {rule.kubesec_id for rule in RULES}
    assert referenced <= mapped


def summary() -> str:
    rows = expected_scores()
    agree = sum(sign(score(f)[0]) == e for f, e in rows)
    return f"{agree} of {len(rows)} assets ({agree / len(rows):.0%}) score with kubesec's sign"


if __name__ == "__main__":
    for file, expected in expected_scores():
        points, fired = score(file)
        mark = "  " if sign(points) == expected else "!!"
        sys.stdout.write(f"{mark} {file}: expected {expected}, ours {points} {fired}\n")
    sys.stdout.write(summary() + "\n")
