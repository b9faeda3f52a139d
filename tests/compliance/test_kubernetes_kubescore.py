"""Reproducing kube-score's expected grades for the kube-score checks Stockade maps.

kube-score grades each check per object: ``GradeAllOK``, ``GradeWarning`` or
``GradeCritical``. Our results are turned into a grade the way kube-score grades
(:data:`GRADERS`), and compared with the grades kube-score's own tests expect
(``tests/data/compliance/kube-score/expected_grades.tsv``). Rows where our semantics
differ on purpose are listed, with the reason, in :data:`KNOWN_DIFFERENCES`.

``python tests/compliance/test_kubernetes_kubescore.py`` prints the figures in the docs.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stockade.compliance.interface import Status
from stockade.compliance.kubernetes import (
    KUBERNETES_CHECKS_BY_ID,
    Resource,
    load_manifest_file,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "compliance" / "kube-score"

OK, WARNING, CRITICAL = "GradeAllOK", "GradeWarning", "GradeCritical"


def failed(check_id: str, resources: list[Resource]) -> bool:
    check = KUBERNETES_CHECKS_BY_ID[check_id]
    return any(r.status is Status.FAILED for res in resources for r in check(res))


def grade_resources(resources: list[Resource]) -> str:
    # kube-score: a missing limit is critical; limits without requests only a warning.
    if failed("STK-K8S-019", resources) or failed("STK-K8S-021", resources):
        return CRITICAL
    if failed("STK-K8S-018", resources) or failed("STK-K8S-020", resources):
        return WARNING
    return OK


def grade_single(check_id: str, failing: str) -> Callable[[list[Resource]], str]:
    def grade(resources: list[Resource]) -> str:
        return failing if failed(check_id, resources) else OK

    return grade


def grade_probes(resources: list[Resource]) -> str:
    if failed("STK-K8S-022", resources) or failed("STK-K8S-023", resources):
        return CRITICAL
    return OK


GRADERS: dict[str, Callable[[list[Resource]], str]] = {
    "Container Resources": grade_resources,
    "Container Image Tag": grade_single("STK-K8S-024", CRITICAL),
    "Container Image Pull Policy": grade_single("STK-K8S-025", CRITICAL),
    "Pod Probes": grade_probes,
    "Service Type": grade_single("STK-K8S-038", WARNING),
}
"""kube-score check name → how its grade follows from Stockade's results."""

KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("pod-probes-not-targeted-by-service.yaml", "Pod Probes"): (
        "kube-score asks for a readiness probe only when a Service in the same input "
        "selects the pod; Stockade's checks look at one object at a time"
    ),
    ("pod-probes-not-targeted-by-service-multi-labels.yaml", "Pod Probes"): (
        "as above: no Service selects the pod"
    ),
    ("pod-probes-targeted-by-service-different-namespace.yaml", "Pod Probes"): (
        "as above: the Service is in another namespace"
    ),
    ("pod-probes-on-different-containers.yaml", "Pod Probes"): (
        "kube-score is satisfied by probes on any one container; Stockade (like Checkov "
        "CKV_K8S_8/9) wants them on every container"
    ),
}


def expected_grades() -> list[tuple[str, str, str]]:
    with (DATA / "expected_grades.tsv").open(encoding="utf-8") as stream:
        rows = csv.DictReader(stream, delimiter="\t")
        return [(r["testdata_file"], r["check_name"], r["expected_grade"]) for r in rows]


def our_grade(file: str, check_name: str) -> str:
    return GRADERS[check_name](load_manifest_file(DATA / file))


@pytest.mark.parametrize(("file", "check_name", "expected"), expected_grades())
def test_kube_score_grade(file: str, check_name: str, expected: str) -> None:
    ours = our_grade(file, check_name)
    if (file, check_name) in KNOWN_DIFFERENCES:
        assert ours != expected, "a known difference disappeared: remove it from the list"
    else:
        assert ours == expected


def test_every_known_difference_is_a_row() -> None:
    rows = {(file, name) for file, name, _ in expected_grades()}
    assert set(KNOWN_DIFFERENCES) <= rows


def summary() -> str:
    rows = expected_grades()
    lines = ["| kube-score check | Stockade checks | rows | agree |", "|---|---|---|---|"]
    used = {
        "Container Resources": "STK-K8S-018..021",
        "Container Image Tag": "STK-K8S-024",
        "Container Image Pull Policy": "STK-K8S-025",
        "Pod Probes": "STK-K8S-022, 023",
        "Service Type": "STK-K8S-038",
    }
    total = agree_total = 0
    for name, checks in used.items():
        mine = [(f, e) for f, n, e in rows if n == name]
        agree = sum(our_grade(f, name) == e for f, e in mine)
        total += len(mine)
        agree_total += agree
        lines.append(f"| {name} | {checks} | {len(mine)} | {agree} |")
    lines.append(f"| **all** | | {total} | {agree_total} ({agree_total / total:.0%}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(summary() + "\n")
