"""Small real templates and objects shared by the Gatekeeper tests."""

from __future__ import annotations

from typing import Any

LABELS_REGO = """\
package k8srequiredlabels

violation[{"msg": msg, "details": {"missing_labels": missing}}] {
  provided := {label | input.review.object.metadata.labels[label]}
  required := {label | label := input.parameters.labels[_]}
  missing := required - provided
  count(missing) > 0
  msg := sprintf("you must provide labels: %v", [missing])
}
"""


def template(
    kind: str = "K8sRequiredLabels", rego: str = LABELS_REGO, **extra: Any
) -> dict[str, Any]:
    target: dict[str, Any] = {"target": "admission.k8s.gatekeeper.sh", "rego": rego, **extra}
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.lower()},
        "spec": {"crd": {"spec": {"names": {"kind": kind}}}, "targets": [target]},
    }


def constraint(
    name: str = "need-owner",
    kind: str = "K8sRequiredLabels",
    *,
    match: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "parameters": {"labels": ["owner"]} if parameters is None else parameters
    }
    if match is not None:
        spec["match"] = match
    if action is not None:
        spec["enforcementAction"] = action
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def obj(
    kind: str = "Pod",
    name: str = "web",
    *,
    namespace: str | None = "shop",
    api_version: str = "v1",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": {}}
