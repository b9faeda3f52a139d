"""Which container a process runs in, and what image it came from.

A process's cgroup names its container: each runtime puts the container id in the path
(docker ``/docker/<id>`` or ``docker-<id>.scope``, containerd's CRI ``cri-containerd-<id>``
or ``/kubepods/…/<id>``, CRI-O ``crio-<id>``, podman ``libpod-<id>``). Plain runc (and crun)
name the cgroup after the container id the caller chose, which can be anything; those are
found through the runtime's state directories (``/run/runc/<id>/state.json`` lists each
container's cgroup paths and init pid).

Image identity is read from the runtime's own files where it keeps them — podman's
``overlay-containers/containers.json`` and ``overlay-images/images.json``, docker's
``containers/<id>/config.v2.json``, an OCI bundle's ``config.json`` annotations
(``org.opencontainers.image.ref.name``) — and otherwise from what the user registered
(:meth:`ContainerResolver.register`). Every reader tolerates missing and malformed files:
a container whose image is unknown is still a container.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from stockade.runtime.events import HOST, Container
from stockade.runtime.sensors.procinfo import bounding_capabilities

__all__ = [
    "CgroupMatch",
    "ContainerResolver",
    "ImageInfo",
    "match_cgroup",
    "parse_cgroup_file",
]

_HEX64 = r"([0-9a-f]{64})"
_PATTERNS: Final = (
    ("podman", re.compile(r"libpod-(?:conmon-)?" + _HEX64 + r"(?:\.scope)?(?:/|$)")),
    ("docker", re.compile(r"(?:^|/)docker[-/]" + _HEX64 + r"(?:\.scope)?(?:/|$)")),
    ("containerd", re.compile(r"cri-containerd-" + _HEX64 + r"(?:\.scope)?(?:/|$)")),
    ("cri-o", re.compile(r"crio-(?:conmon-)?" + _HEX64 + r"(?:\.scope)?(?:/|$)")),
    ("containerd", re.compile(r"/kubepods[^\n]*/" + _HEX64 + r"$")),
)
_RUNTIME_STATE_ROOTS: Final = (
    ("runc", Path("/run/runc")),
    ("crun", Path("/run/crun")),
    ("runc", Path("/run/containerd/runc/k8s.io")),
)


@dataclass(frozen=True, slots=True)
class CgroupMatch:
    id: str
    """The full container id."""
    runtime: str
    path: str


@dataclass(frozen=True, slots=True)
class ImageInfo:
    reference: str | None = None
    digest: str | None = None
    image_id: str | None = None
    name: str | None = None
    """The container's name."""
    labels: tuple[tuple[str, str], ...] = ()
    privileged: bool | None = None
    """Started privileged (None: not known)."""


def parse_cgroup_file(text: str) -> list[str]:
    """The cgroup paths of a ``/proc/PID/cgroup`` file (v1 and v2 lines)."""
    paths = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2]:
            paths.append(parts[2])
    return paths


def match_cgroup(paths: Iterable[str]) -> CgroupMatch | None:
    """The container a process's cgroup paths name by a runtime's convention."""
    for path in paths:
        for runtime, pattern in _PATTERNS:
            found = pattern.search(path)
            if found:
                return CgroupMatch(found.group(1), runtime, path)
    return None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _split_reference(reference: str) -> tuple[str, str | None]:
    name, _, _digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


class ContainerResolver:
    """Turns a pid into a :class:`~stockade.runtime.events.Container`, caching by container.

    ``proc`` is the ``/proc`` to read (tests may point it elsewhere); ``podman_roots`` and
    ``docker_root`` say where those runtimes keep state; ``state_roots`` where OCI
    runtimes keep theirs.
    """

    def __init__(
        self,
        *,
        proc: Path = Path("/proc"),
        podman_roots: Iterable[Path] = (Path("/var/lib/containers/storage"),),
        docker_root: Path = Path("/var/lib/docker"),
        state_roots: Iterable[tuple[str, Path]] = _RUNTIME_STATE_ROOTS,
    ) -> None:
        self._proc = proc
        self._podman_roots = list(podman_roots)
        self._docker_root = docker_root
        self._state_roots = list(state_roots)
        self._lock = threading.Lock()
        self._containers: dict[str, Container] = {}
        self._registered: dict[str, ImageInfo] = {}
        self._oci_paths: dict[str, tuple[str, str, Path, int | None]] = {}
        self._stamp: tuple[int, ...] = ()
        """cgroup path → (container id, runtime, bundle) of plain OCI runtime containers."""

    # -- registration and refresh --------------------------------------------------------

    def register(self, container_id: str, info: ImageInfo) -> None:
        """Say what image a container runs (for runtimes that keep no readable state)."""
        with self._lock:
            self._registered[container_id] = info
            self._containers = {
                k: v for k, v in self._containers.items() if not container_id.startswith(v.id)
            }

    def add_podman_root(self, root: Path) -> None:
        with self._lock:
            self._podman_roots.append(root)

    def add_state_root(self, runtime: str, root: Path) -> None:
        with self._lock:
            self._state_roots.append((runtime, root))

    def _state_stamp(self) -> tuple[int, ...]:
        stamps = []
        for _, root in self._state_roots:
            try:
                stamps.append(root.stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def refresh(self, *, if_changed: bool = False) -> None:
        """Re-read the OCI runtimes' state directories (a new container started); with
        ``if_changed``, only when a state directory changed since the last read."""
        stamp = self._state_stamp()
        if if_changed and stamp == self._stamp:
            return
        self._stamp = stamp
        incomplete = False
        found: dict[str, tuple[str, str, Path, int | None]] = {}
        for runtime, root in self._state_roots:
            try:
                entries = list(root.iterdir())
            except OSError:
                continue
            for entry in entries:
                state = _load_json(entry / "state.json")
                if not isinstance(state, dict):
                    incomplete = True  # being created: read again on the next miss
                    continue
                cid = state.get("id")
                cgroups = state.get("cgroup_paths")
                bundle = _bundle_of(state)
                if not isinstance(cid, str) or not isinstance(cgroups, dict):
                    continue
                created = _created_ns(state.get("created"))
                for mount_path in cgroups.values():
                    if isinstance(mount_path, str):
                        found[_relative_cgroup(mount_path)] = (cid, runtime, bundle, created)
        with self._lock:
            self._oci_paths = found
            if incomplete:
                self._stamp = ()

    # -- resolution ------------------------------------------------------------------------

    def cgroup_of(self, pid: int) -> list[str]:
        try:
            return parse_cgroup_file((self._proc / str(pid) / "cgroup").read_text())
        except OSError:
            return []

    def resolve(self, pid: int, *, cgroup_paths: list[str] | None = None) -> Container | None:
        """The container of ``pid``; :data:`HOST` for a host process; None when the
        process is gone before its cgroup could be read."""
        paths = cgroup_paths if cgroup_paths is not None else self.cgroup_of(pid)
        if not paths:
            return None
        match = match_cgroup(paths)
        bundle: Path | None = None
        created: int | None = None
        if match is None:
            match, bundle, created = self._match_oci(paths)
            if match is None:
                return HOST
        with self._lock:
            known = self._containers.get(match.id)
        if known is not None:
            return known
        container = self._describe(match, bundle, created)
        with self._lock:
            self._containers[match.id] = container
        return container

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._containers.pop(container_id, None)

    def _match_oci(self, paths: list[str]) -> tuple[CgroupMatch | None, Path | None, int | None]:
        for attempt in range(2):
            with self._lock:
                table = self._oci_paths
            for path in paths:
                hit = table.get(path)
                if hit is not None:
                    return CgroupMatch(hit[0], hit[1], path), hit[2], hit[3]
            if attempt == 0:
                self.refresh(if_changed=True)
        return None, None, None

    def _describe(self, match: CgroupMatch, bundle: Path | None, created: int | None) -> Container:
        info = self._registered.get(match.id)
        if info is None:
            if match.runtime == "podman":
                info = self._podman_info(match.id)
            elif match.runtime == "docker":
                info = self._docker_info(match.id)
            elif bundle is not None:
                info = _bundle_info(bundle)
        info = info or ImageInfo()
        repository, tag = _split_reference(info.reference) if info.reference else (None, None)
        return Container(
            id=match.id[:12],
            name=info.name or match.id[:12],
            image=info.reference,
            image_repository=repository,
            image_tag=tag,
            image_digest=info.digest,
            image_id=info.image_id,
            runtime=match.runtime,
            start_ts=created,
            labels=info.labels,
            privileged=info.privileged,
        )

    def _podman_info(self, container_id: str) -> ImageInfo | None:
        for root in self._podman_roots:
            containers = _load_json(root / "overlay-containers" / "containers.json")
            if not isinstance(containers, list):
                continue
            for entry in containers:
                if isinstance(entry, dict) and entry.get("id") == container_id:
                    return _podman_image(root, entry)
        return None

    def _docker_info(self, container_id: str) -> ImageInfo | None:
        config = _load_json(self._docker_root / "containers" / container_id / "config.v2.json")
        if not isinstance(config, dict):
            return None
        inner = _dict(config.get("Config"))
        labels = _dict(inner.get("Labels"))
        name = config.get("Name")
        host = _load_json(self._docker_root / "containers" / container_id / "hostconfig.json")
        privileged = host.get("Privileged") if isinstance(host, dict) else None
        return ImageInfo(
            reference=inner.get("Image") if isinstance(inner.get("Image"), str) else None,
            image_id=config.get("Image") if isinstance(config.get("Image"), str) else None,
            name=name.lstrip("/") if isinstance(name, str) else None,
            labels=_labels(labels),
            privileged=privileged if isinstance(privileged, bool) else None,
        )


def _created_ns(value: object) -> int | None:
    """An RFC 3339 time with nanoseconds (as runc writes ``created``) in ns since the epoch."""
    if not isinstance(value, str):
        return None
    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    if not found:
        return None
    base = dt.datetime.fromisoformat(found.group(1) + found.group(3).replace("Z", "+00:00"))
    fraction = (found.group(2) or "0")[:9].ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(fraction)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _labels(values: Mapping[Any, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in values.items()))


def _podman_image(root: Path, entry: dict[str, Any]) -> ImageInfo:
    names = entry.get("names") or []
    image_id = entry.get("image")
    reference = digest = None
    images = _load_json(root / "overlay-images" / "images.json")
    if isinstance(images, list):
        for image in images:
            if isinstance(image, dict) and image.get("id") == image_id:
                refs = image.get("names") or []
                reference = refs[0] if refs and isinstance(refs[0], str) else None
                digest = image.get("digest") if isinstance(image.get("digest"), str) else None
    # the OCI runtime config podman hands the runtime: privileged as --privileged wrote it
    runtime_config = _load_json(
        root / "overlay-containers" / str(entry.get("id")) / "userdata" / "config.json"
    )
    return ImageInfo(
        reference=reference,
        digest=digest,
        image_id=image_id if isinstance(image_id, str) else None,
        name=names[0] if names and isinstance(names[0], str) else None,
        privileged=oci_privileged(runtime_config) if isinstance(runtime_config, dict) else None,
    )


def _bundle_of(state: dict[str, Any]) -> Path:
    config = _dict(state.get("config"))
    for label in config.get("labels") or []:
        if isinstance(label, str) and label.startswith("bundle="):
            return Path(label.removeprefix("bundle="))
    return Path("/nonexistent")


def _bundle_info(bundle: Path) -> ImageInfo | None:
    config = _load_json(bundle / "config.json")
    if not isinstance(config, dict):
        return None
    privileged = oci_privileged(config)
    annotations = config.get("annotations")
    if not isinstance(annotations, dict):
        return ImageInfo(privileged=privileged)
    reference = annotations.get("org.opencontainers.image.ref.name")
    digest = annotations.get("org.opencontainers.image.digest") or annotations.get(
        "io.stockade.image.digest"
    )
    return ImageInfo(
        reference=reference if isinstance(reference, str) else None,
        digest=digest if isinstance(digest, str) else None,
        labels=_labels({k: v for k, v in annotations.items() if isinstance(v, str)}),
        privileged=privileged,
    )


def oci_privileged(config: Mapping[str, Any]) -> bool | None:
    """Whether an OCI runtime config starts its container privileged, as ``docker run
    --privileged`` and ``podman run --privileged`` write one: every capability this host
    can grant (our own bounding set) in the process's bounding set, and no seccomp
    filter. None when the config names no capabilities."""
    process = _dict(config.get("process"))
    bounding = _dict(process.get("capabilities")).get("bounding")
    if not isinstance(bounding, list):
        return None
    granted = {c for c in bounding if isinstance(c, str)}
    return bounding_capabilities() <= granted and "seccomp" not in _dict(config.get("linux"))


def _relative_cgroup(mount_path: str) -> str:
    """``/sys/fs/cgroup/memory/abc`` → ``/abc`` (the path ``/proc/PID/cgroup`` shows)."""
    parts = Path(mount_path).parts
    if len(parts) > 4 and parts[1:4] == ("sys", "fs", "cgroup"):
        rest = parts[5:] if parts[4] in _V1_CONTROLLERS or "," in parts[4] else parts[4:]
        if parts[4] == "unified":
            rest = parts[5:]
        return "/" + "/".join(rest)
    return mount_path


_V1_CONTROLLERS: Final = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
        "misc",
        "name=systemd",
        "systemd",
    }
)


def with_image(container: Container, reference: str) -> Container:
    """``container`` with its image reference set (and repository/tag split from it)."""
    repository, tag = _split_reference(reference)
    return replace(container, image=reference, image_repository=repository, image_tag=tag)
