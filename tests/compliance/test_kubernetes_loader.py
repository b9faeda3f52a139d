"""Loading Kubernetes manifests: files, directories, text, Lists, Helm output, JSON, and
the errors for what cannot be loaded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.compliance import kubernetes
from stockade.compliance.interface import Status
from stockade.compliance.kubernetes import (
    KUBERNETES_CHECKS,
    ManifestError,
    Resource,
    check_manifests,
    load_manifest_text,
    load_manifests,
)
from stockade.compliance.yamlload import YamlLimits, YamlLoadError

HELM_OUTPUT = """\
---
# Source: web/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: shop
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
          securityContext:
            privileged: true
"""

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {type: NodePort}
- apiVersion: batch/v1
  kind: CronJob
  metadata:
    name: nightly
    namespace: shop
  spec:
    jobTemplate:
      spec:
        template:
          spec:
            containers:
            - name: job
              image: busybox
              securityContext: {privileged: true}
"""


def test_helm_output_keeps_sources_and_lines() -> None:
    account, deployment = load_manifests(HELM_OUTPUT)
    assert account.ref == "ServiceAccount/shop/web"
    assert account.helm_source == "web/templates/serviceaccount.yaml"
    assert (deployment.kind, deployment.line, deployment.file) == ("Deployment", 10, "<text>")
    assert deployment.helm_source == "web/templates/deployment.yaml"
    assert deployment.pod_spec_path == ("spec", "template", "spec")
    (failed,) = [
        r
        for r in check_manifests([deployment])
        if r.check.id == "STK-K8S-001" and r.status is Status.FAILED
    ]
    assert failed.path == "spec.template.spec.containers[0].securityContext.privileged"
    assert failed.line == 22
    assert failed.resource == "Deployment/shop/web"


def test_list_items_are_resources_with_their_own_paths_and_lines() -> None:
    service, cronjob = load_manifests(LIST)
    assert (service.ref, service.prefix, service.line) == ("Service/shop/web", ("items", 0), 4)
    assert (cronjob.ref, cronjob.prefix, cronjob.line) == ("CronJob/shop/nightly", ("items", 1), 8)
    assert cronjob.pod_spec_path == ("spec", "jobTemplate", "spec", "template", "spec")
    results = {r.check.id: r for r in check_manifests([cronjob]) if r.status is Status.FAILED}
    privileged = results["STK-K8S-001"]
    # paths are relative to the object; lines are the file's
    assert privileged.path == (
        "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged"
    )
    assert privileged.line == 21


def test_every_workload_kind_finds_its_pod_spec() -> None:
    container = {"name": "c", "image": "x", "securityContext": {"privileged": True}}
    pod = {"containers": [container]}
    template = {"template": {"spec": pod}}
    bodies = {
        "Pod": pod,
        "Deployment": template,
        "ReplicaSet": template,
        "StatefulSet": template,
        "DaemonSet": template,
        "Job": template,
        "ReplicationController": template,
        "CronJob": {"jobTemplate": {"spec": template}},
    }
    for kind, spec in bodies.items():
        text = json.dumps(
            {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
        )
        (resource,) = load_manifests(text)
        assert resource.is_workload
        results = KUBERNETES_CHECKS[0](resource)
        assert [r.status for r in results] == [Status.FAILED], kind


def test_json_manifests_load() -> None:
    text = json.dumps({"kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": {}})
    (pod,) = load_manifests(text.encode())
    assert pod.ref == "Pod/n/p"


def test_documents_that_are_not_objects_are_skipped() -> None:
    text = "replicaCount: 3\n---\n- a\n- b\n---\nplain\n---\nkind: Pod\nmetadata: {name: p}\n"
    assert [r.ref for r in load_manifests(text)] == ["Pod/p"]


def test_names_and_namespaces() -> None:
    text = """\
kind: ClusterRole
metadata: {name: reader, namespace: ignored}
---
kind: Pod
metadata: {generateName: worker-}
---
kind: Pod
metadata: {name: p, namespace: ""}
"""
    role, generated, unnamed = load_manifests(text)
    assert (role.namespace, role.ref) == (None, "ClusterRole/reader")
    assert generated.ref == "Pod/worker-*"
    assert unnamed.namespace is None


def test_directories_are_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.yaml").write_text("kind: Pod\nmetadata: {name: z}\n")
    (tmp_path / "a.yml").write_text("kind: Pod\nmetadata: {name: a}\n")
    (tmp_path / "c.json").write_text('{"kind": "Pod", "metadata": {"name": "c"}}')
    (tmp_path / "notes.txt").write_text("kind: Pod\n")
    resources = load_manifests(tmp_path)
    assert [r.name for r in resources] == ["a", "c", "z"]
    assert resources[2].file == str(tmp_path / "b" / "z.yaml")
    assert [r.name for r in load_manifests(str(tmp_path / "a.yml"))] == ["a"]


def test_a_missing_path_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file") as caught:
        load_manifests(tmp_path / "missing.yaml")
    assert caught.value.file == str(tmp_path / "missing.yaml")
    assert "text" in (caught.value.hint or "")


def test_malformed_file_error_names_file_and_line(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("kind: Pod\nmetadata:\n  name: x\n   labels: {}\n")
    with pytest.raises(YamlLoadError) as caught:
        load_manifests(manifest)
    assert (caught.value.file, caught.value.line) == (str(manifest), 4)


def test_a_50_mb_manifest_is_refused_before_reading(tmp_path: Path) -> None:
    manifest = tmp_path / "huge.yaml"
    with manifest.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: costs no disk
    start = time.perf_counter()
    with pytest.raises(YamlLoadError, match="52428800 bytes is over") as caught:
        load_manifests(manifest)
    assert time.perf_counter() - start < 0.5
    assert caught.value.file == str(manifest)


def test_the_limit_can_be_raised() -> None:
    text = "kind: Pod\nmetadata: {name: p}\n"
    with pytest.raises(YamlLoadError):
        load_manifests(text, limits=YamlLimits(max_bytes=10))
    assert load_manifests(text, limits=YamlLimits(max_bytes=100))


def test_billion_laughs_in_a_manifest_is_refused() -> None:
    bomb = "kind: Pod\nmetadata:\n  name: x\n  labels:\n    a: &a [x,x,x,x,x,x,x,x,x]\n"
    for level in range(1, 9):
        name, previous = f"l{level}", "a" if level == 1 else f"l{level - 1}"
        bomb += f"    {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    with pytest.raises(YamlLoadError, match="aliases"):
        load_manifests(bomb)


def test_public_names_are_exported() -> None:
    public = {
        name
        for name in dir(kubernetes)
        if not name.startswith("_") and not isinstance(getattr(kubernetes, name), ModuleType)
    }
    assert public == set(kubernetes.__all__)
    assert {"load_manifests", "check_manifests", "KUBERNETES_CHECKS"} <= public


_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-2, 70000)
    | st.sampled_from(
        [
            "",
            "ALL",
            "all",
            "SYS_ADMIN",
            "NET_RAW",
            "Unconfined",
            "RuntimeDefault",
            "*",
            "default",
            "/var/run",
            "/",
            "nginx:latest",
            "a@sha256:00",
            "unconfined",
            "Always",
            "NodePort",
            "secrets",
            "get",
            "bind",
            "escalate",
            "roles",
            "PASSWORD",
            "hunter2",
            "windows",
        ]
    )
)
_keys = st.sampled_from(
    [
        "containers",
        "initContainers",
        "ephemeralContainers",
        "securityContext",
        "privileged",
        "capabilities",
        "add",
        "drop",
        "runAsUser",
        "runAsNonRoot",
        "seccompProfile",
        "type",
        "appArmorProfile",
        "volumes",
        "hostPath",
        "path",
        "ports",
        "hostPort",
        "resources",
        "limits",
        "requests",
        "cpu",
        "memory",
        "image",
        "imagePullPolicy",
        "env",
        "name",
        "value",
        "hostPID",
        "hostNetwork",
        "hostIPC",
        "automountServiceAccountToken",
        "serviceAccountName",
        "metadata",
        "annotations",
        "namespace",
        "rules",
        "verbs",
        "resources",
        "apiGroups",
        "subjects",
        "kind",
        "os",
        "sysctls",
        "seLinuxOptions",
        "procMount",
        "windowsOptions",
        "hostProcess",
        "livenessProbe",
        "template",
        "spec",
        "jobTemplate",
        "resourceNames",
        "hostUsers",
        "allowPrivilegeEscalation",
    ]
)
_tree = st.recursive(
    _scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=40,
)
_kinds = st.sampled_from(
    [
        "Pod",
        "Deployment",
        "CronJob",
        "Job",
        "DaemonSet",
        "ServiceAccount",
        "Service",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "List",
        "ConfigMap",
    ]
)


@settings(max_examples=400, deadline=None)
@given(_kinds, _tree, _tree)
def test_checks_never_raise_on_any_shape_of_object(kind: str, spec: object, extra: object) -> None:
    body = {
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": spec,
        "rules": extra,
        "subjects": extra,
        "items": [{"kind": "Pod", "spec": spec}],
    }
    resources = [
        Resource(kind=kind, name="x", namespace=None, body=body),
        *load_manifest_text(json.dumps(body)),
    ]
    for result in check_manifests(resources):
        assert result.status in (Status.PASSED, Status.FAILED, Status.SKIPPED)
        assert result.check.id.startswith("STK-K8S-")
