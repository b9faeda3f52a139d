"""Kubernetes manifests: loading (YAML, JSON, Lists, Helm output) and security checks.

::

    from stockade.compliance.kubernetes import check_manifests, load_manifests

    resources = load_manifests(Path("deploy/"))  # a file, a directory, or text
    for result in check_manifests(resources):
        if result.status is Status.FAILED:
            print(result.check.id, result.resource, result.path, result.line)
"""

from stockade.compliance.kubernetes.check import (
    KubernetesCheck,
    NotApplicable,
    Unverifiable,
    Violation,
    check_manifests,
)
from stockade.compliance.kubernetes.manifests import (
    ManifestError,
    iter_manifest_files,
    load_manifest_file,
    load_manifest_text,
    load_manifests,
)
from stockade.compliance.kubernetes.registry import KUBERNETES_CHECKS, KUBERNETES_CHECKS_BY_ID
from stockade.compliance.kubernetes.resources import (
    POD_SPEC_PATHS,
    Resource,
    resources_from_documents,
)

__all__ = [
    "KUBERNETES_CHECKS",
    "KUBERNETES_CHECKS_BY_ID",
    "POD_SPEC_PATHS",
    "KubernetesCheck",
    "ManifestError",
    "NotApplicable",
    "Resource",
    "Unverifiable",
    "Violation",
    "check_manifests",
    "iter_manifest_files",
    "load_manifest_file",
    "load_manifest_text",
    "load_manifests",
    "resources_from_documents",
]
