"""Small helpers every check module uses to declare itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from stockade.compliance.interface import CheckMeta, Target
from stockade.compliance.kubernetes.check import Inspector, KubernetesCheck
from stockade.compliance.kubernetes.resources import POD_SPEC_PATHS
from stockade.core.advisory import Severity

__all__ = ["WORKLOAD_KINDS", "kubernetes_check"]

WORKLOAD_KINDS: Final = frozenset(POD_SPEC_PATHS)
"""Every kind with a pod spec: Pod, Deployment, CronJob…"""


def kubernetes_check(
    id: str,
    title: str,
    severity: Severity,
    *,
    kinds: Iterable[str] = WORKLOAD_KINDS,
    rationale: str,
    remediation: str,
    references: dict[str, str],
) -> Callable[[Inspector], KubernetesCheck]:
    """Decorate an inspector function to make it a :class:`KubernetesCheck`."""

    meta = CheckMeta(
        id=id,
        title=title,
        severity=severity,
        target=Target.KUBERNETES,
        rationale=rationale,
        remediation=remediation,
        references=dict(references),
    )

    def wrap(inspect: Inspector) -> KubernetesCheck:
        return KubernetesCheck(meta=meta, kinds=frozenset(kinds), inspect=inspect)

    return wrap
