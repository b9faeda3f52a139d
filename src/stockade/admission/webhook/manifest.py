"""The ValidatingWebhookConfiguration that registers the webhook with the API server.

:func:`webhook_configuration` is pure: settings in, the object (a dict) out, ready to be
written as YAML or JSON and applied with ``kubectl apply -f -``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from stockade.core.errors import UsageError

__all__ = ["DEFAULT_WEBHOOK_NAME", "RULES", "ManifestSettings", "webhook_configuration"]

DEFAULT_WEBHOOK_NAME: Final = "validate.stockade.io"

RULES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("", "v1", ("pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates")),
    ("", "v1", ("services", "serviceaccounts")),
    ("apps", "v1", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", "v1", ("jobs", "cronjobs")),
    ("networking.k8s.io", "v1", ("ingresses",)),
    (
        "rbac.authorization.k8s.io",
        "v1",
        ("roles", "rolebindings", "clusterroles", "clusterrolebindings"),
    ),
)
"""(API group, version, resources) the webhook is sent: every kind a check inspects.
``pods/ephemeralcontainers`` is there because ``kubectl debug`` adds containers through
it, and a debug container can be as privileged as any other."""


@dataclass(frozen=True, slots=True)
class ManifestSettings:
    ca_bundle: bytes
    """PEM text of the CA that signed the server's certificate."""
    service_name: str = "stockade-admission"
    service_namespace: str = "stockade-system"
    service_port: int = 443
    path: str = "/validate"
    url: str | None = None
    """Call the webhook at this URL instead of through a Service."""
    name: str = DEFAULT_WEBHOOK_NAME
    fail_open: bool = False
    timeout: float = 3.0
    """The webhook's own deadline; ``timeoutSeconds`` leaves two seconds above it."""
    exclude_namespaces: Sequence[str] = ("kube-system",)


def webhook_configuration(settings: ManifestSettings) -> dict[str, Any]:
    """The ``admissionregistration.k8s.io/v1`` ValidatingWebhookConfiguration object."""
    if b"-----BEGIN CERTIFICATE-----" not in settings.ca_bundle:
        raise UsageError(
            "the CA bundle is not a PEM certificate",
            hint="pass the ca.crt written by `stockade admission serve --generate-cert DIR`",
        )
    timeout_seconds = min(30, max(1, math.ceil(settings.timeout) + 2))
    if settings.url is not None:
        if not settings.url.startswith("https://"):
            raise UsageError("the webhook URL must start with https://")
        client_config: dict[str, Any] = {"url": settings.url}
    else:
        client_config = {
            "service": {
                "name": settings.service_name,
                "namespace": settings.service_namespace,
                "path": settings.path,
                "port": settings.service_port,
            }
        }
    client_config["caBundle"] = base64.b64encode(settings.ca_bundle).decode("ascii")
    excluded = list(dict.fromkeys([*settings.exclude_namespaces, settings.service_namespace]))
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": settings.name,
            "labels": {"app.kubernetes.io/name": "stockade-admission"},
        },
        "webhooks": [
            {
                "name": settings.name,
                "admissionReviewVersions": ["v1"],
                "clientConfig": client_config,
                "failurePolicy": "Ignore" if settings.fail_open else "Fail",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": timeout_seconds,
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": excluded,
                        }
                    ]
                },
                "rules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": [version],
                        "resources": list(resources),
                        "operations": ["CREATE", "UPDATE"],
                        "scope": "*",
                    }
                    for group, version, resources in RULES
                ],
            }
        ],
    }
