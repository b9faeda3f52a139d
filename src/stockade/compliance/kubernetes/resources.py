"""Kubernetes resources as the checks see them: one object, where it came from, its pod spec.

:func:`resources_from_documents` is pure: YAML documents in, :class:`Resource` records
out. ``kind: List`` (and ``PodList``, ``DeploymentList``…) objects are unpacked into
their items; every workload kind knows where its pod spec lives, so a check written
once for a pod spec covers Deployments, CronJobs and the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.compliance.yamlload import PathSegment, YamlDocument, format_path

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "POD_SPEC_PATHS",
    "Resource",
    "resources_from_documents",
]

POD_SPEC_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "DeploymentConfig": ("spec", "template", "spec"),  # OpenShift
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each workload kind keeps its pod spec, as a JSON path from the object's root."""

CLUSTER_SCOPED_KINDS: Final = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CertificateSigningRequest",
        "IngressClass",
        "CSIDriver",
        "VolumeAttachment",
    }
)
"""Kinds that live outside any namespace (the common built-in ones)."""

_MAX_LIST_NESTING: Final = 4


@dataclass(frozen=True, slots=True)
class Resource:
    """One Kubernetes object read from a manifest."""

    kind: str
    name: str
    namespace: str | None
    """As written; None when the manifest does not say (the namespace is chosen at
    apply) and for cluster-scoped kinds (ClusterRole, Namespace…), which have none."""
    body: Mapping[str, Any] = field(compare=False, repr=False)
    """The object as loaded: ``apiVersion``, ``kind``, ``metadata``, ``spec``…"""
    api_version: str = ""
    file: str = ""
    line: int = 1
    """1-based line where the object starts in ``file``."""
    document: int = 0
    """Index of the YAML document that held the object (0-based)."""
    prefix: tuple[PathSegment, ...] = ()
    """Path of the object inside its document: ``()``, or ``("items", 3)`` in a List."""
    helm_source: str | None = None
    """The Helm template that rendered the object (its ``# Source:`` comment)."""
    source: YamlDocument | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``, or ``Kind/name`` when no namespace is written."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @property
    def pod_spec_path(self) -> tuple[str, ...] | None:
        """Where this kind keeps its pod spec, or None for kinds that run no pods."""
        return POD_SPEC_PATHS.get(self.kind)

    @property
    def is_workload(self) -> bool:
        return self.kind in POD_SPEC_PATHS

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.body.get("metadata")
        return metadata if isinstance(metadata, Mapping) else {}

    def get(self, path: Sequence[PathSegment]) -> Any:
        """The value at ``path`` (relative to the object), or None when any step is missing."""
        value: Any = self.body
        for segment in path:
            if isinstance(segment, int):
                if not isinstance(value, list) or not -len(value) <= segment < len(value):
                    return None
                value = value[segment]
            else:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(segment)
        return value

    def line_of(self, path: Sequence[PathSegment]) -> int:
        """The line of ``path`` (or of its nearest written ancestor, or the object's)."""
        if self.source is None:
            return self.line
        line = self.source.line_of((*self.prefix, *path))
        return max(line, self.line)

    def json_path(self, path: Sequence[PathSegment]) -> str:
        """``path`` formatted for a report: relative to the object, as ``kubectl`` shows it."""
        return format_path(path)


def resources_from_documents(documents: Sequence[YamlDocument], file: str) -> list[Resource]:
    """Every Kubernetes object in ``documents``: those with a string ``kind``.

    Documents that are not objects (Helm values, a bare list, a scalar) are skipped; a
    ``List`` contributes its items, each with its path inside the document.
    """
    resources: list[Resource] = []
    for document in documents:
        resources.extend(_objects(document.data, (), document, file, depth=0))
    return resources


def _objects(
    value: Any, prefix: tuple[PathSegment, ...], document: YamlDocument, file: str, depth: int
) -> Iterator[Resource]:
    if not isinstance(value, Mapping):
        return
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        return
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, list):
        if depth >= _MAX_LIST_NESTING:
            return
        for index, item in enumerate(items):
            yield from _objects(item, (*prefix, "items", index), document, file, depth + 1)
        return
    metadata = value.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = metadata.get("name")
    if not isinstance(name, str):
        generate = metadata.get("generateName")
        name = f"{generate}*" if isinstance(generate, str) else ""
    namespace = metadata.get("namespace")
    if kind in CLUSTER_SCOPED_KINDS:
        namespace = None  # the API server ignores a namespace on a cluster-scoped object
    api_version = value.get("apiVersion")
    yield Resource(
        kind=kind,
        name=name,
        namespace=str(namespace) if isinstance(namespace, str | int) and namespace != "" else None,
        body=value,
        api_version=api_version if isinstance(api_version, str) else "",
        file=file,
        line=document.line_of(prefix) if prefix else document.line,
        document=document.index,
        prefix=prefix,
        helm_source=document.helm_source,
        source=document,
    )
