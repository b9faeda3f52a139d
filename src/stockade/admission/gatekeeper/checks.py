"""Gatekeeper constraints as ``stockade check`` results: a team's Rego policies in CI.

``stockade check k8s --policy DIR`` (and ``stockade check DIR --policy …``) reviews every
Kubernetes object the check reads, as a CREATE request, with the constraints under DIR,
and reports each violation beside the built-in checks' results. A constraint is the
check: its id is ``Kind/name``, its title the template's kind, and its severity follows
its enforcement action (``deny`` high, ``warn`` medium, ``dryrun`` low), so
``--fail-on high`` fails exactly on what the webhook would deny. Like Gatekeeper's audit,
only violations are reported. The object's ``stockade.io/skip`` annotation suppresses a
constraint named by ``Kind/name`` or by its kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from stockade.admission.gatekeeper.engine import GatekeeperEngine, request_for_object
from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.compliance.kubernetes.resources import Resource
from stockade.compliance.suppress import annotation_skips, apply_skips
from stockade.core.advisory import Severity

SEVERITY_OF_ACTION: Final = {
    "deny": Severity.HIGH,
    "warn": Severity.MEDIUM,
    "dryrun": Severity.LOW,
}


def _meta(kind: str, name: str, action: str) -> CheckMeta:
    return CheckMeta(
        id=f"{kind}/{name}",
        title=f"Gatekeeper constraint {kind}/{name}",
        severity=SEVERITY_OF_ACTION.get(action, Severity.HIGH),
        target=Target.KUBERNETES,
        rationale=f"A {kind} constraint of this repository's policies ({action}).",
        remediation="Change the object so that the constraint's message no longer applies.",
        references={"gatekeeper": kind},
    )


def gatekeeper_results(engine: GatekeeperEngine, resources: Iterable[Resource]) -> list[Result]:
    """One FAILED result per violation of ``engine``'s constraints by ``resources``.

    Raises :class:`~stockade.admission.gatekeeper.errors.PolicyEvaluationError` when a
    template fails to evaluate (the error names the constraint).
    """
    metas: dict[tuple[str, str, str], CheckMeta] = {}
    results: list[Result] = []
    for resource in resources:
        found: list[Result] = []
        for violation in engine.review(request_for_object(resource.body)):
            key = (
                violation.constraint_kind,
                violation.constraint_name,
                violation.enforcement_action,
            )
            meta = metas.get(key) or metas.setdefault(key, _meta(*key))
            found.append(
                Result(
                    check=meta,
                    status=Status.FAILED,
                    resource=resource.ref,
                    file=resource.file,
                    line=resource.line,
                    message=violation.message,
                )
            )
        # `stockade.io/skip: K8sRequiredLabels` (or `Kind/name`) suppresses, as for checks.
        results.extend(apply_skips(found, annotation_skips([resource.metadata])))
    return results
