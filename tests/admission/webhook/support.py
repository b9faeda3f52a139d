"""Real AdmissionReview documents and Kubernetes objects for the webhook's tests."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any

SECURE_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "capabilities": {"drop": ["ALL"]},
}


def compliant_container(
    name: str = "app", image: str = "registry.example.com/shop/web:1.4.2"
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "securityContext": copy.deepcopy(SECURE_CONTEXT),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
    }


def compliant_deployment(
    name: str = "web", namespace: str = "shop", image: str = "registry.example.com/shop/web:1.4.2"
) -> dict[str, Any]:
    """A Deployment that passes every built-in check (restricted PSS included)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [compliant_container(image=image)],
                },
            },
        },
    }


def pod(
    name: str = "tool",
    namespace: str = "shop",
    *,
    image: str = "registry.example.com/shop/tool:2.0",
    privileged: bool = False,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A compliant Pod; ``privileged`` makes its one container privileged."""
    container = compliant_container("main", image)
    if privileged:
        container["securityContext"]["privileged"] = True
        container["securityContext"]["allowPrivilegeEscalation"] = True
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "serviceAccountName": name,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        },
    }


_RESOURCES = {"Pod": ("", "v1", "pods"), "Deployment": ("apps", "v1", "deployments")}


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    namespace: str | None = None,
    dry_run: bool = False,
    kind: str | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An admission.k8s.io/v1 AdmissionReview as the API server sends it."""
    kind = kind or (obj or old or {}).get("kind", "Pod")
    group, version, resource = _RESOURCES.get(kind, ("", "v1", kind.lower() + "s"))
    metadata = (obj or old or {}).get("metadata", {})
    if namespace is None:
        namespace = metadata.get("namespace", "")
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": metadata.get("name", ""),
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "alice@example.com", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def review_for_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The AdmissionReview an API server sends when ``obj`` (read from a file) is created.

    Kind, name and namespace come from the object as Gatekeeper's gator takes them
    (:func:`request_for_object`: no namespace unless the object names one); uid,
    resource, user and options are what the API server adds.
    """
    from stockade.admission.gatekeeper.engine import request_for_object

    request = request_for_object(obj)
    kind = request["kind"]
    resource = {
        "group": kind["group"],
        "version": kind["version"],
        "resource": kind["kind"].lower() + "s",
    }
    request.update(
        uid=str(uuid.uuid4()),
        resource=resource,
        requestKind=dict(kind),
        requestResource=dict(resource),
        userInfo={"username": "alice@example.com", "groups": ["system:authenticated"]},
        oldObject=None,
        dryRun=False,
        options={"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    )
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def scan_result(name: str, severities: list[str], *, digest: str | None = None) -> dict[str, Any]:
    """A `stockade scan -f json` document (schemaVersion 1) with one finding a severity."""
    return {
        "schemaVersion": 1,
        "artifact": {
            "name": name,
            "type": "registry",
            "digest": None,
            "repoTags": [name],
            "repoDigests": [f"{name.rsplit(':', 1)[0]}@{digest}"] if digest else [],
            "architecture": "amd64",
            "os": "linux",
            "layers": [],
        },
        "os": None,
        "advisoriesAge": None,
        "summary": {},
        "findings": [
            {
                "id": f"CVE-2024-{1000 + index}",
                "severity": severity,
                "suppressed": False,
                "package": {"name": "openssl", "version": "3.0.0"},
            }
            for index, severity in enumerate(severities)
        ],
    }
