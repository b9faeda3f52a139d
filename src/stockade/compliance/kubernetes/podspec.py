"""Reading a workload's pod spec the way the kubelet does, for checks to share.

The pod spec is found through the kind's path (:data:`POD_SPEC_PATHS`); containers are
the regular, init and ephemeral ones; a container's security settings override the
pod's where both are set (``runAsUser``, ``runAsNonRoot``, ``seccompProfile``…), which
:meth:`PodSpec.effective` resolves once for every check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stockade.compliance.kubernetes.check import NotApplicable, Unverifiable
from stockade.compliance.kubernetes.resources import Resource
from stockade.compliance.yamlload import PathSegment, format_path

__all__ = [
    "CONTAINER_GROUPS",
    "Container",
    "ImageRef",
    "PodSpec",
    "capability_name",
    "parse_image",
    "pod_spec",
]

CONTAINER_GROUPS: Final = ("containers", "initContainers", "ephemeralContainers")

Path = tuple[PathSegment, ...]


@dataclass(frozen=True, slots=True)
class Container:
    """One container of a pod spec, with its path from the object's root."""

    path: Path
    body: Mapping[str, Any]
    group: str
    """``containers``, ``initContainers`` or ``ephemeralContainers``."""

    @property
    def name(self) -> str:
        name = self.body.get("name")
        return name if isinstance(name, str) else f"{self.group}[{self.path[-1]}]"

    @property
    def security_context(self) -> Mapping[str, Any]:
        context = self.body.get("securityContext")
        return context if isinstance(context, Mapping) else {}

    @property
    def image(self) -> str | None:
        image = self.body.get("image")
        return image if isinstance(image, str) else None

    def at(self, *segments: PathSegment) -> Path:
        """The path of a field of this container."""
        return (*self.path, *segments)

    def context_path(self) -> Path:
        """Where to point when a security setting is missing: the securityContext if
        the container has one, else the container itself."""
        return self.at("securityContext") if "securityContext" in self.body else self.path

    def written_capabilities(self, which: str) -> dict[int, str]:
        """index → capability of ``add`` or ``drop``, spelled as written."""
        caps = self.security_context.get("capabilities")
        listed = caps.get(which) if isinstance(caps, Mapping) else None
        if not isinstance(listed, list):
            return {}
        return {i: c for i, c in enumerate(listed) if isinstance(c, str)}

    def capabilities(self, which: str) -> list[tuple[int, str]]:
        """(index, normalised name) of each ``add`` or ``drop`` capability."""
        caps = self.security_context.get("capabilities")
        listed = caps.get(which) if isinstance(caps, Mapping) else None
        if not isinstance(listed, list):
            return []
        return [(i, capability_name(c)) for i, c in enumerate(listed) if isinstance(c, str)]


@dataclass(frozen=True, slots=True)
class PodSpec:
    """A pod spec inside a workload object."""

    resource: Resource
    path: Path
    body: Mapping[str, Any]
    containers: tuple[Container, ...]
    """Every container in the spec: regular, then init, then ephemeral."""

    @property
    def security_context(self) -> Mapping[str, Any]:
        context = self.body.get("securityContext")
        return context if isinstance(context, Mapping) else {}

    @property
    def template_metadata(self) -> Mapping[str, Any]:
        """The pod's own metadata: the template's for controllers, the object's for a Pod."""
        if self.resource.kind == "Pod":
            return self.resource.metadata
        metadata = self.resource.get((*self.path[:-1], "metadata"))
        return metadata if isinstance(metadata, Mapping) else {}

    @property
    def template_metadata_path(self) -> Path:
        return ("metadata",) if self.resource.kind == "Pod" else (*self.path[:-1], "metadata")

    def annotations(self) -> list[tuple[Path, str, str]]:
        """(path, key, value) of the pod's annotations, then the object's when they differ.

        Controllers pass only the template's annotations to their pods, but older
        manifests (and tools) put seccomp and AppArmor annotations on the object itself.
        """
        found: list[tuple[Path, str, str]] = []
        places = [(self.template_metadata_path, self.template_metadata)]
        if self.resource.kind != "Pod":
            places.append((("metadata",), self.resource.metadata))
        for path, metadata in places:
            annotations = metadata.get("annotations")
            if not isinstance(annotations, Mapping):
                continue
            for key, value in annotations.items():
                if isinstance(key, str) and isinstance(value, str):
                    found.append(((*path, "annotations", key), key, value))
        return found

    def at(self, *segments: PathSegment) -> Path:
        return (*self.path, *segments)

    def regular_containers(self) -> Iterator[Container]:
        return (c for c in self.containers if c.group == "containers")

    def effective(self, container: Container, key: str) -> tuple[Any, Path | None]:
        """A security setting as the kubelet applies it: the container's, else the pod's.

        Returns the value and the path where it was set (None when set nowhere).
        """
        if key in container.security_context:
            return container.security_context[key], container.at("securityContext", key)
        if key in self.security_context:
            return self.security_context[key], self.at("securityContext", key)
        return None, None

    def volumes(self) -> Iterator[tuple[Path, Mapping[str, Any]]]:
        volumes = self.body.get("volumes")
        if not isinstance(volumes, list):
            return
        for index, volume in enumerate(volumes):
            if isinstance(volume, Mapping):
                yield self.at("volumes", index), volume


def pod_spec(resource: Resource, *, need_containers: bool = True) -> PodSpec:
    """The pod spec of a workload.

    A spec that is absent (``spec: null``) is read as empty: there is nothing in it to
    fault. One that is there but malformed raises :class:`Unverifiable`. A container
    written as a mapping where the list belongs is read as a list of one. With
    ``need_containers``, a spec without a single container (which the API server
    refuses) raises :class:`Unverifiable` too.
    """
    path = resource.pod_spec_path
    if path is None:
        raise NotApplicable(f"{resource.kind} runs no pods")
    body: Any = resource.body
    for depth, segment in enumerate(path):
        body = body.get(segment)  # a Mapping: the object, or checked below
        if body is None:
            body = {}
            break
        if not isinstance(body, Mapping):
            where = path[: depth + 1]
            raise Unverifiable(where, f"{format_path(where)} is not a mapping")
    containers: list[Container] = []
    for group in CONTAINER_GROUPS:
        listed = body.get(group)
        if listed is None:
            continue
        if isinstance(listed, Mapping):
            listed = [listed]
        if not isinstance(listed, list):
            group_path: Path = (*path, group)
            raise Unverifiable(group_path, f"{format_path(group_path)} is not a list")
        for index, item in enumerate(listed):
            if not isinstance(item, Mapping):
                item_path: Path = (*path, group, index)
                raise Unverifiable(item_path, f"{format_path(item_path)} is not a container")
            containers.append(Container((*path, group, index), item, group))
    if need_containers and not containers:
        empty: Path = (*path, "containers") if "containers" in body else path
        raise Unverifiable(empty, "the pod spec has no containers")
    return PodSpec(resource, path, body, tuple(containers))


def capability_name(text: str) -> str:
    """``cap_sys_admin`` and ``SYS_ADMIN`` are the same capability: ``SYS_ADMIN``."""
    name = text.strip().upper()
    return name.removeprefix("CAP_")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image reference split as the container runtime reads it."""

    name: str
    """Registry and repository: ``registry:5000/team/app``."""
    tag: str | None
    digest: str | None


_DIGEST: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Za-z0-9=_-]+")


def parse_image(reference: str) -> ImageRef:
    """Split ``registry:5000/app:1.2@sha256:…`` into name, tag and digest.

    A digest is kept when it has the OCI form ``algorithm:encoded``; a port in the
    registry is not a tag.
    """
    name, _, digest = reference.strip().partition("@")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return ImageRef(
        name=name,
        tag=tag or None,
        digest=digest if digest and _DIGEST.fullmatch(digest) else None,
    )
