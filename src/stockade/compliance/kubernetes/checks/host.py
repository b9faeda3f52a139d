"""What a pod shares with its node: namespaces, paths, the runtime socket, ports."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any, Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


def _host_namespace(field: str, namespace: str, resource: Resource) -> Iterator[Violation]:
    spec = pod_spec(resource, need_containers=False)
    if spec.body.get(field) is True:
        yield Violation(spec.at(field), f"the pod shares the node's {namespace} namespace")


@kubernetes_check(
    "STK-K8S-003",
    "Pods must not share the host's process ID namespace",
    Severity.HIGH,
    rationale=(
        "With hostPID a container sees every process on the node, can read their "
        "environment and, as root, signal or ptrace them."
    ),
    remediation="Remove spec.hostPID (or set it to false).",
    references={"checkov": "CKV_K8S_17", "kubesec": "HostPID", "pss": "baseline", "cis": "5.2.3"},
)
def host_pid(resource: Resource) -> Iterator[Violation]:
    return _host_namespace("hostPID", "process ID", resource)


@kubernetes_check(
    "STK-K8S-004",
    "Pods must not share the host's IPC namespace",
    Severity.HIGH,
    rationale=(
        "With hostIPC a container can read and write the node's shared memory and "
        "message queues, used by other processes on the node."
    ),
    remediation="Remove spec.hostIPC (or set it to false).",
    references={"checkov": "CKV_K8S_18", "kubesec": "HostIPC", "pss": "baseline", "cis": "5.2.4"},
)
def host_ipc(resource: Resource) -> Iterator[Violation]:
    return _host_namespace("hostIPC", "IPC", resource)


@kubernetes_check(
    "STK-K8S-005",
    "Pods must not share the host's network namespace",
    Severity.HIGH,
    rationale=(
        "With hostNetwork a container can bind the node's ports, reach services "
        "listening on the node's loopback and sniff its traffic; network policies no "
        "longer apply to it."
    ),
    remediation="Remove spec.hostNetwork (or set it to false); expose ports with a Service.",
    references={
        "checkov": "CKV_K8S_19",
        "kubesec": "HostNetwork",
        "pss": "baseline",
        "cis": "5.2.5",
    },
)
def host_network(resource: Resource) -> Iterator[Violation]:
    return _host_namespace("hostNetwork", "network", resource)


@kubernetes_check(
    "STK-K8S-006",
    "Pods must not mount host paths",
    Severity.MEDIUM,
    rationale=(
        "A hostPath volume exposes the node's filesystem to the container: "
        "credentials, the kubelet's files, and (writable) a way to the node."
    ),
    remediation=(
        "Use emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim instead of a "
        "hostPath volume; node agents that need one should run in a namespace the "
        "baseline policy exempts."
    ),
    references={"pss": "baseline", "cis": "5.2.12"},
)
def host_path_volumes(resource: Resource) -> Iterator[Violation]:
    for path, volume in pod_spec(resource, need_containers=False).volumes():
        host_path = volume.get("hostPath")
        if host_path is not None:
            where = _host_path_text(host_path)
            yield Violation((*path, "hostPath"), f"volume {volume.get('name')} mounts {where}")


RUNTIME_SOCKETS: Final = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/dockershim.sock",
    "/var/run/cri-dockerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
)
"""Sockets of container runtimes: whoever can write one can start a privileged container."""


def _host_path_text(host_path: Any) -> str:
    path = host_path.get("path") if isinstance(host_path, Mapping) else None
    return f"host path {path}" if isinstance(path, str) else "a host path"


def normalise_host_path(path: str) -> str:
    """``/var/run/`` and ``var//run`` are ``/var/run``: the kubelet resolves them so."""
    return posixpath.normpath("/" + path.strip().lstrip("/"))


def runtime_socket_exposed(path: str) -> str | None:
    """The runtime socket reachable through a mount of ``path``, if any.

    A mount of the socket itself or of a directory above it (``/var/run``, ``/run``)
    exposes it; ``/`` does too. ``/var/run`` is a link to ``/run`` on current
    distributions, so each socket is listed under both.
    """
    normal = normalise_host_path(path)
    for socket in RUNTIME_SOCKETS:
        if socket == normal or socket.startswith(normal.rstrip("/") + "/"):
            return socket
    return None


@kubernetes_check(
    "STK-K8S-007",
    "Pods must not mount the container runtime's socket",
    Severity.CRITICAL,
    rationale=(
        "The Docker, containerd and CRI-O sockets accept commands to start containers; "
        "a container that can write one can start a privileged container and take the "
        "node."
    ),
    remediation=(
        "Do not mount the runtime socket or a directory above it; build images with a "
        "rootless builder (BuildKit rootless, kaniko) instead of Docker-in-Docker."
    ),
    references={"checkov": "CKV_K8S_27", "kubesec": "DockerSock", "pss": "baseline"},
)
def runtime_socket(resource: Resource) -> Iterator[Violation]:
    for path, volume in pod_spec(resource, need_containers=False).volumes():
        host_path = volume.get("hostPath")
        target = host_path.get("path") if isinstance(host_path, Mapping) else None
        if not isinstance(target, str):
            continue
        socket = runtime_socket_exposed(target)
        if socket is not None:
            message = (
                f"volume {volume.get('name')} mounts the runtime socket {socket}"
                if normalise_host_path(target) == socket
                else f"volume {volume.get('name')} mounts {target}, which holds {socket}"
            )
            yield Violation((*path, "hostPath", "path"), message)


@kubernetes_check(
    "STK-K8S-008",
    "Containers must not bind host ports",
    Severity.MEDIUM,
    rationale=(
        "A hostPort binds the node's own address: it bypasses network policies, limits "
        "where the pod can be scheduled and exposes the container outside the cluster."
    ),
    remediation="Remove ports[].hostPort and expose the port with a Service.",
    references={"checkov": "CKV_K8S_26", "pss": "baseline", "cis": "5.2.13"},
)
def host_ports(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        ports = container.body.get("ports")
        if not isinstance(ports, list):
            continue
        for index, port in enumerate(ports):
            if not isinstance(port, Mapping):
                continue
            host_port = port.get("hostPort")
            if host_port not in (None, 0, "0"):
                yield Violation(
                    container.at("ports", index, "hostPort"),
                    f"container {container.name} binds host port {host_port}",
                )
