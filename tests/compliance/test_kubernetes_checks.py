"""Each Kubernetes check on small manifests: verdicts, paths, lines and messages."""

from __future__ import annotations

import re
import textwrap

import pytest

from stockade.compliance.interface import Result, Status, Target
from stockade.compliance.kubernetes import (
    KUBERNETES_CHECKS,
    KUBERNETES_CHECKS_BY_ID,
    check_manifests,
    load_manifests,
)
from stockade.compliance.kubernetes.checks.host import runtime_socket_exposed
from stockade.compliance.kubernetes.checks.secrets import redact
from stockade.compliance.kubernetes.podspec import parse_image


def run(check_id: str, manifest: str) -> list[Result]:
    """The results of one check over the one object in ``manifest``."""
    (resource,) = load_manifests(textwrap.dedent(manifest).lstrip())
    return KUBERNETES_CHECKS_BY_ID[check_id](resource)


def status(check_id: str, manifest: str) -> Status:
    results = run(check_id, manifest)
    if any(r.status is Status.FAILED for r in results):
        return Status.FAILED
    (result,) = results
    return result.status


def failures(check_id: str, manifest: str) -> list[tuple[str, str]]:
    return [(r.path, r.message) for r in run(check_id, manifest) if r.status is Status.FAILED]


def pod(spec: str, metadata: str = "name: p\n  namespace: app") -> str:
    """A Pod manifest with ``spec`` (YAML, indented by two spaces inside)."""
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  {metadata}\nspec:\n{body}\n"


def container(fields: str = "", name: str = "app", image: str = "nginx:1.27") -> str:
    extra = textwrap.indent(textwrap.dedent(fields).strip(), "  ")
    return f"containers:\n- name: {name}\n  image: {image}\n" + (f"{extra}\n" if extra else "")


# --- the registry ------------------------------------------------------------


def test_registry_is_ordered_unique_and_documented() -> None:
    ids = [check.id for check in KUBERNETES_CHECKS]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids) == 40
    for check in KUBERNETES_CHECKS:
        meta = check.meta
        assert re.fullmatch(r"STK-K8S-\d{3}", meta.id)
        assert meta.target is Target.KUBERNETES
        assert meta.title
        assert meta.rationale
        assert meta.remediation
        assert set(meta.references) <= {"checkov", "kube-score", "kubesec", "pss", "cis"}
        if "pss" in meta.references:
            assert meta.references["pss"] in ("baseline", "restricted")
        if "cis" in meta.references:
            assert re.fullmatch(r"5\.\d+\.\d+", meta.references["cis"])


def test_kinds_a_check_does_not_inspect_get_no_result() -> None:
    (service,) = load_manifests("kind: Service\nmetadata: {name: s}\nspec: {type: ClusterIP}\n")
    assert KUBERNETES_CHECKS_BY_ID["STK-K8S-001"](service) == []
    assert [r.status for r in KUBERNETES_CHECKS_BY_ID["STK-K8S-038"](service)] == [Status.PASSED]


def test_check_manifests_runs_every_check_in_order() -> None:
    resources = load_manifests(pod(container()))
    results = check_manifests(resources)
    ids = [r.check.id for r in results]
    assert ids == sorted(ids)
    assert {r.resource for r in results} == {"Pod/app/p"}
    only = check_manifests(resources, [KUBERNETES_CHECKS_BY_ID["STK-K8S-001"]])
    assert [(r.check.id, r.status) for r in only] == [("STK-K8S-001", Status.PASSED)]


# --- malformed and empty pod specs ------------------------------------------------


def test_a_malformed_pod_spec_fails_closed() -> None:
    (result,) = run("STK-K8S-013", "kind: Pod\nmetadata: {name: p}\nspec:\n- containers: []\n")
    assert result.status is Status.FAILED
    assert result.path == "spec"
    assert result.message == "cannot verify: spec is not a mapping"


def test_a_pod_without_containers_fails_container_checks_only() -> None:
    manifest = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
    (result,) = run("STK-K8S-001", manifest)
    assert (result.status, result.path) == (Status.FAILED, "spec.containers")
    assert status("STK-K8S-003", manifest) is Status.PASSED


def test_an_absent_pod_spec_passes_pod_level_checks() -> None:
    manifest = "kind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec: null\n"
    assert status("STK-K8S-007", manifest) is Status.PASSED


def test_a_container_written_as_a_mapping_is_read() -> None:
    manifest = pod("containers:\n  name: a\n  image: x\n  securityContext: {privileged: true}")
    assert failures("STK-K8S-001", manifest) == [
        ("spec.containers[0].securityContext.privileged", "container a is privileged")
    ]


def test_malformed_resources_fail_closed() -> None:
    manifest = pod(container("resources:\n- limits: {cpu: 1}"))
    assert failures("STK-K8S-019", manifest) == [
        ("spec.containers[0].resources", "cannot verify: resources is not a mapping")
    ]


# --- privilege ------------------------------------------------------------------------


def test_privileged_reports_every_container_with_its_line() -> None:
    manifest = pod(
        container("securityContext: {privileged: true}")
        + "initContainers:\n- name: init\n  image: x\n  securityContext:\n    privileged: true\n"
    )
    results = [r for r in run("STK-K8S-001", manifest) if r.status is Status.FAILED]
    assert [(r.path, r.line) for r in results] == [
        ("spec.containers[0].securityContext.privileged", 10),
        ("spec.initContainers[0].securityContext.privileged", 15),
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("securityContext: {allowPrivilegeEscalation: false}", Status.PASSED),
        ("securityContext: {allowPrivilegeEscalation: true}", Status.FAILED),
        ("securityContext: {}", Status.FAILED),
        ("", Status.FAILED),
    ],
)
def test_privilege_escalation(fields: str, expected: Status) -> None:
    assert status("STK-K8S-002", pod(container(fields))) is expected


# --- host -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "field"),
    [
        ("STK-K8S-003", "hostPID"),
        ("STK-K8S-004", "hostIPC"),
        ("STK-K8S-005", "hostNetwork"),
    ],
)
def test_host_namespaces(check_id: str, field: str) -> None:
    assert failures(check_id, pod(f"{field}: true\n" + container()))[0][0] == f"spec.{field}"
    assert status(check_id, pod(f"{field}: false\n" + container())) is Status.PASSED


@pytest.mark.parametrize(
    ("path", "socket"),
    [
        ("/var/run/docker.sock", "/var/run/docker.sock"),
        ("/run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("/var/run/crio/crio.sock", "/var/run/crio/crio.sock"),
        ("/var/run/", "/var/run/docker.sock"),
        ("/run", "/run/docker.sock"),
        ("/", "/var/run/docker.sock"),
        ("//var//run/containerd", "/var/run/containerd/containerd.sock"),
        ("var/run/docker.sock", "/var/run/docker.sock"),
        ("/var/log", None),
        ("/var/run-not", None),
        ("/etc", None),
    ],
)
def test_runtime_socket_paths(path: str, socket: str | None) -> None:
    assert runtime_socket_exposed(path) == socket


def test_runtime_socket_and_host_path_findings() -> None:
    manifest = pod(
        container()
        + "volumes:\n- name: sock\n  hostPath: {path: /run/containerd/containerd.sock}\n"
        + "- name: logs\n  hostPath: {path: /var/log}\n- name: tmp\n  emptyDir: {}\n"
    )
    assert failures("STK-K8S-007", manifest) == [
        (
            "spec.volumes[0].hostPath.path",
            "volume sock mounts the runtime socket /run/containerd/containerd.sock",
        )
    ]
    assert [path for path, _ in failures("STK-K8S-006", manifest)] == [
        "spec.volumes[0].hostPath",
        "spec.volumes[1].hostPath",
    ]


def test_host_ports() -> None:
    manifest = pod(container("ports:\n- containerPort: 80\n- containerPort: 443\n  hostPort: 443"))
    assert failures("STK-K8S-008", manifest) == [
        ("spec.containers[0].ports[1].hostPort", "container app binds host port 443")
    ]
    assert status("STK-K8S-008", pod(container("ports:\n- {containerPort: 80, hostPort: 0}"))) is (
        Status.PASSED
    )


# --- capabilities -------------------------------------------------------------------------


def caps(add: str = "[]", drop: str = "[]") -> str:
    return pod(container(f"securityContext:\n  capabilities: {{add: {add}, drop: {drop}}}"))


@pytest.mark.parametrize(
    ("check_id", "manifest", "expected"),
    [
        ("STK-K8S-009", caps(add="[CHOWN, NET_BIND_SERVICE]"), Status.PASSED),
        ("STK-K8S-009", caps(add="[NET_ADMIN]"), Status.FAILED),
        ("STK-K8S-009", caps(add="[cap_sys_ptrace]"), Status.FAILED),
        ("STK-K8S-010", caps(add="[CAP_SYS_ADMIN]"), Status.FAILED),
        ("STK-K8S-010", caps(add="[ALL]"), Status.FAILED),
        ("STK-K8S-010", caps(add="[NET_ADMIN]"), Status.PASSED),
        ("STK-K8S-011", caps(drop="[NET_RAW]"), Status.PASSED),
        ("STK-K8S-011", caps(drop="[all]"), Status.PASSED),
        ("STK-K8S-011", caps(add="[NET_RAW]", drop="[ALL]"), Status.FAILED),
        ("STK-K8S-011", pod(container()), Status.FAILED),
        ("STK-K8S-012", caps(drop="[ALL]"), Status.PASSED),
        ("STK-K8S-012", caps(drop="[NET_RAW]"), Status.FAILED),
    ],
)
def test_capabilities(check_id: str, manifest: str, expected: Status) -> None:
    assert status(check_id, manifest) is expected


def test_drop_all_must_be_spelled_as_the_restricted_policy_accepts() -> None:
    assert failures("STK-K8S-012", caps(drop="[all]")) == [
        (
            "spec.containers[0].securityContext.capabilities.drop[0]",
            "container app drops 'all'; the restricted policy accepts only 'ALL'",
        )
    ]


# --- users ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_context", "container_context", "expected"),
    [
        ("{runAsNonRoot: true}", "{}", Status.PASSED),
        ("{}", "{runAsNonRoot: true}", Status.PASSED),
        ("{runAsNonRoot: true}", "{runAsNonRoot: false}", Status.FAILED),
        ("{runAsUser: 1000}", "{}", Status.PASSED),
        ("{runAsUser: 1000}", "{runAsUser: 0}", Status.FAILED),
        ("{runAsNonRoot: true}", "{runAsUser: 0}", Status.FAILED),
        ("{runAsUser: root}", "{}", Status.FAILED),
        ("{}", "{}", Status.FAILED),
    ],
)
def test_non_root(pod_context: str, container_context: str, expected: Status) -> None:
    manifest = pod(
        f"securityContext: {pod_context}\n" + container(f"securityContext: {container_context}")
    )
    assert status("STK-K8S-013", manifest) is expected


def test_non_root_points_at_the_field_that_makes_it_root() -> None:
    manifest = pod(
        "securityContext: {runAsUser: 1000}\n" + container("securityContext: {runAsUser: 0}")
    )
    assert failures("STK-K8S-013", manifest) == [
        ("spec.containers[0].securityContext.runAsUser", "container app runs as UID 0")
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("securityContext: {runAsUser: 10000}\n", Status.PASSED),
        ("securityContext: {runAsUser: 9999}\n", Status.FAILED),
        ("hostUsers: false\n", Status.PASSED),
        ("", Status.FAILED),
    ],
)
def test_high_uid(spec: str, expected: Status) -> None:
    assert status("STK-K8S-014", pod(spec + container())) is expected


# --- hardening -----------------------------------------------------------------------------


def test_read_only_root_filesystem() -> None:
    assert status(
        "STK-K8S-015", pod(container("securityContext: {readOnlyRootFilesystem: true}"))
    ) is (Status.PASSED)
    assert failures("STK-K8S-015", pod(container())) == [
        ("spec.containers[0]", "container app has a writable root filesystem")
    ]


@pytest.mark.parametrize(
    ("spec", "metadata", "expected"),
    [
        ("securityContext: {seccompProfile: {type: RuntimeDefault}}\n", "name: p", Status.PASSED),
        ("securityContext: {seccompProfile: {type: Localhost}}\n", "name: p", Status.PASSED),
        ("securityContext: {seccompProfile: {type: Unconfined}}\n", "name: p", Status.FAILED),
        ("", "name: p", Status.FAILED),
        (
            "",
            'name: p\n  annotations: {"seccomp.security.alpha.kubernetes.io/pod": runtime/default}',
            Status.PASSED,
        ),
        (
            "",
            'name: p\n  annotations: {"seccomp.security.alpha.kubernetes.io/pod": unconfined}',
            Status.FAILED,
        ),
    ],
)
def test_seccomp(spec: str, metadata: str, expected: Status) -> None:
    assert status("STK-K8S-016", pod(spec + container(), metadata)) is expected


def test_a_container_can_opt_out_of_the_pods_seccomp_profile() -> None:
    manifest = pod(
        "securityContext: {seccompProfile: {type: RuntimeDefault}}\n"
        + container("securityContext: {seccompProfile: {type: Unconfined}}")
    )
    assert failures("STK-K8S-016", manifest) == [
        (
            "spec.containers[0].securityContext.seccompProfile.type",
            "container app runs with seccomp profile Unconfined",
        )
    ]


def test_apparmor_unconfined_by_field_or_annotation() -> None:
    by_field = pod(container("securityContext: {appArmorProfile: {type: Unconfined}}"))
    assert failures("STK-K8S-017", by_field) == [
        (
            "spec.containers[0].securityContext.appArmorProfile.type",
            "container app runs unconfined by AppArmor",
        )
    ]
    annotation = (
        'name: p\n  annotations: {"container.apparmor.security.beta.kubernetes.io/app": unconfined}'
    )
    assert failures("STK-K8S-017", pod(container(), annotation)) == [
        (
            'metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]',
            "container app runs unconfined by AppArmor",
        )
    ]
    assert status("STK-K8S-017", pod(container())) is Status.PASSED


# --- resources and probes ---------------------------------------------------------------


def test_requests_and_limits_name_what_is_missing() -> None:
    manifest = pod(container("resources:\n  limits: {cpu: 500m}\n  requests: {memory: 64Mi}"))
    assert status("STK-K8S-019", manifest) is Status.PASSED
    assert status("STK-K8S-020", manifest) is Status.PASSED
    assert failures("STK-K8S-018", manifest) == [
        ("spec.containers[0].resources.requests", "container app sets no cpu request")
    ]
    assert failures("STK-K8S-021", manifest) == [
        ("spec.containers[0].resources.limits", "container app sets no memory limit")
    ]


def test_probes_are_not_asked_of_jobs_or_init_containers() -> None:
    job = (
        "kind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n"
        "      containers: [{name: a, image: x}]\n"
    )
    (skipped,) = run("STK-K8S-022", job)
    assert skipped.status is Status.SKIPPED
    manifest = pod(
        container(
            "livenessProbe: {exec: {command: [true]}}\nreadinessProbe: {tcpSocket: {port: 80}}"
        )
        + "initContainers: [{name: init, image: x}]\n"
    )
    assert status("STK-K8S-022", manifest) is Status.PASSED
    assert status("STK-K8S-023", manifest) is Status.PASSED


# --- images -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name", "tag", "digest"),
    [
        ("nginx", "nginx", None, None),
        ("nginx:1.27", "nginx", "1.27", None),
        ("registry:5000/team/app", "registry:5000/team/app", None, None),
        ("registry:5000/team/app:v1", "registry:5000/team/app", "v1", None),
        ("app@sha256:" + "a" * 64, "app", None, "sha256:" + "a" * 64),
        ("app:v1@sha256:" + "b" * 64, "app", "v1", "sha256:" + "b" * 64),
        ("app@notadigest", "app", None, None),
    ],
)
def test_parse_image(reference: str, name: str, tag: str | None, digest: str | None) -> None:
    image = parse_image(reference)
    assert (image.name, image.tag, image.digest) == (name, tag, digest)


@pytest.mark.parametrize(
    ("image", "policy", "tag_status", "pull_status", "digest_status"),
    [
        ("nginx", "", Status.FAILED, Status.PASSED, Status.FAILED),
        ("nginx:latest", "", Status.FAILED, Status.PASSED, Status.FAILED),
        ("nginx:1.27", "", Status.PASSED, Status.FAILED, Status.FAILED),
        ("nginx:1.27", "imagePullPolicy: Always", Status.PASSED, Status.PASSED, Status.FAILED),
        ("nginx:1.27", "imagePullPolicy: Never", Status.PASSED, Status.FAILED, Status.FAILED),
        ("nginx@sha256:" + "c" * 64, "", Status.PASSED, Status.PASSED, Status.PASSED),
    ],
)
def test_image_checks(
    image: str, policy: str, tag_status: Status, pull_status: Status, digest_status: Status
) -> None:
    manifest = pod(container(policy, image=image))
    assert status("STK-K8S-024", manifest) is tag_status
    assert status("STK-K8S-025", manifest) is pull_status
    assert status("STK-K8S-026", manifest) is digest_status


# --- service accounts -----------------------------------------------------------------------


def test_service_account_checks() -> None:
    own = pod("serviceAccountName: web\nautomountServiceAccountToken: false\n" + container())
    assert status("STK-K8S-027", own) is Status.PASSED
    assert status("STK-K8S-028", own) is Status.PASSED
    default = pod("serviceAccountName: default\n" + container())
    assert failures("STK-K8S-028", default) == [
        ("spec.serviceAccountName", "the pod runs as the default service account")
    ]
    assert failures("STK-K8S-027", default) == [
        ("spec", "the pod mounts a service account token by default")
    ]


def test_default_service_account_and_its_bindings() -> None:
    account = "kind: ServiceAccount\nmetadata: {name: default, namespace: app}\n"
    assert status("STK-K8S-029", account) is Status.FAILED
    assert status("STK-K8S-029", account + "automountServiceAccountToken: false\n") is Status.PASSED
    binding = (
        "kind: RoleBinding\nmetadata: {name: b, namespace: app}\n"
        "subjects:\n- {kind: User, name: jane}\n"
        "- {kind: Group, name: 'system:serviceaccounts:app'}\n"
    )
    assert failures("STK-K8S-030", binding) == [
        (
            "subjects[1]",
            "the binding grants its role to every service account in system:serviceaccounts:app",
        )
    ]


# --- secrets in env ----------------------------------------------------------------------


def test_literal_secrets_are_found_and_redacted() -> None:
    env = """\
env:
- {name: DB_PASSWORD, value: hunter2-but-longer}
- {name: DB_PASSWORD_FILE, value: /run/secrets/db}
- {name: API_TOKEN, valueFrom: {secretKeyRef: {name: api, key: token}}}
- {name: REDIS_URL, value: "redis://user:s3cr3t@redis:6379/0"}
- {name: AWS_KEY, value: AKIAIOSFODNN7EXAMPLE}
- {name: ADMIN_PASSWORD, value: "$(FROM_OTHER_VAR)"}
- {name: LOG_LEVEL, value: debug}
"""
    found = failures("STK-K8S-031", pod(container(env)))
    assert [path for path, _ in found] == [
        "spec.containers[0].env[0].value",
        "spec.containers[0].env[3].value",
        "spec.containers[0].env[4].value",
    ]
    assert "a secret (by its name)" in found[0][1]
    assert "a password in a URL" in found[1][1]
    assert "an AWS access key ID" in found[2][1]
    for _, message in found:
        assert "hunter2-but-longer" not in message
        assert "s3cr3t" not in message
        assert "AKIAIOSFODNN7EXAMPLE" not in message


def test_redact_never_shows_the_value() -> None:
    assert redact("hunter2-but-longer") == "hu…(18 chars)"
    assert redact("abc") == "…(3 chars)"


# --- namespaces, RBAC, services -----------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("kind: ConfigMap\nmetadata: {name: c, namespace: app}\n", Status.PASSED),
        ("kind: ConfigMap\nmetadata: {name: c, namespace: default}\n", Status.FAILED),
        ("kind: ConfigMap\nmetadata: {name: c}\n", Status.FAILED),
        ("kind: Service\nmetadata: {name: kubernetes, namespace: default}\n", Status.PASSED),
        ("kind: ServiceAccount\nmetadata: {name: default}\n", Status.PASSED),
    ],
)
def test_default_namespace(manifest: str, expected: Status) -> None:
    assert status("STK-K8S-032", manifest) is expected


def role(rules: str, kind: str = "Role") -> str:
    return f"kind: {kind}\nmetadata: {{name: r, namespace: app}}\nrules:\n{rules}"


@pytest.mark.parametrize(
    ("check_id", "rules", "expected"),
    [
        ("STK-K8S-033", "- {apiGroups: [''], resources: [pods], verbs: [get]}\n", Status.PASSED),
        ("STK-K8S-033", "- {apiGroups: [''], resources: [pods], verbs: ['*']}\n", Status.FAILED),
        ("STK-K8S-033", "- {nonResourceURLs: ['*'], verbs: [get]}\n", Status.FAILED),
        (
            "STK-K8S-034",
            "- apiGroups: [rbac.authorization.k8s.io]\n"
            "  resources: [clusterroles]\n"
            "  verbs: [escalate]\n",
            Status.FAILED,
        ),
        ("STK-K8S-034", "- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n", Status.FAILED),
        (
            "STK-K8S-034",
            "- {apiGroups: [''], resources: [roles], verbs: [escalate]}\n",
            Status.PASSED,  # the core group has no roles
        ),
        (
            "STK-K8S-035",
            "- {apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [bind]}\n",
            Status.FAILED,
        ),
        (
            "STK-K8S-036",
            "- {apiGroups: [''], resources: [users, groups], verbs: [impersonate]}\n",
            Status.FAILED,
        ),
        ("STK-K8S-036", "- {apiGroups: [''], resources: [pods], verbs: ['*']}\n", Status.PASSED),
        (
            "STK-K8S-037",
            "- {apiGroups: [''], resources: [secrets], verbs: [list]}\n",
            Status.FAILED,
        ),
        (
            "STK-K8S-037",
            "- {apiGroups: [''], resources: [secrets], resourceNames: [tls], verbs: [get]}\n",
            Status.PASSED,
        ),
        (
            "STK-K8S-037",
            "- {apiGroups: [''], resources: [secrets], resourceNames: [tls], verbs: [get, list]}\n",
            Status.FAILED,
        ),
        (
            "STK-K8S-037",
            "- {apiGroups: [''], resources: [configmaps], verbs: [get]}\n",
            Status.PASSED,
        ),
    ],
)
def test_rbac(check_id: str, rules: str, expected: Status) -> None:
    assert status(check_id, role(rules)) is expected


def test_rbac_wildcards_point_at_the_star() -> None:
    rules = "- {apiGroups: [apps, '*'], resources: [deployments], verbs: [get]}\n"
    assert failures("STK-K8S-033", role(rules, "ClusterRole")) == [
        ("rules[0].apiGroups[1]", "rule 0 grants all API groups")
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{type: ClusterIP}", Status.PASSED),
        ("{}", Status.PASSED),
        ("{type: NodePort}", Status.FAILED),
        ("{type: LoadBalancer}", Status.FAILED),
        ("{type: LoadBalancer, loadBalancerSourceRanges: [10.0.0.0/8]}", Status.PASSED),
    ],
)
def test_exposed_services(spec: str, expected: Status) -> None:
    assert (
        status("STK-K8S-038", f"kind: Service\nmetadata: {{name: s}}\nspec: {spec}\n") is expected
    )


# --- Pod Security Standards ------------------------------------------------------------------

RESTRICTED = pod(
    """\
securityContext:
  runAsNonRoot: true
  seccompProfile: {type: RuntimeDefault}
volumes:
- {name: cache, emptyDir: {}}
containers:
- name: app
  image: nginx:1.27
  securityContext:
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
"""
)


def test_a_restricted_pod_meets_both_policies() -> None:
    assert status("STK-K8S-039", RESTRICTED) is Status.PASSED
    assert status("STK-K8S-040", RESTRICTED) is Status.PASSED


def test_a_default_pod_meets_baseline_but_not_restricted() -> None:
    manifest = pod(container())
    assert status("STK-K8S-039", manifest) is Status.PASSED
    messages = [message for _, message in failures("STK-K8S-040", manifest)]
    assert messages == [
        "privilege escalation: container app does not set allowPrivilegeEscalation: false",
        "run as non root: container app does not set runAsNonRoot: true",
        "seccomp restricted: container app has no RuntimeDefault or Localhost seccomp profile",
        "restricted capabilities: container app does not drop ALL",
    ]


@pytest.mark.parametrize(
    ("change", "control"),
    [
        ("hostNetwork: true\n", "host namespaces"),
        ("volumes: [{name: h, hostPath: {path: /etc}}]\n", "host path"),
        ("securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}]}\n", "sysctls"),
        ("securityContext: {seLinuxOptions: {type: spc_t}}\n", "selinux"),
        ("securityContext: {windowsOptions: {hostProcess: true}}\n", "host process"),
    ],
)
def test_baseline_controls(change: str, control: str) -> None:
    messages = [message for _, message in failures("STK-K8S-039", pod(change + container()))]
    assert messages
    assert all(message.startswith(f"{control}: ") for message in messages)


def test_baseline_container_controls() -> None:
    manifest = pod(
        container(
            "securityContext:\n  procMount: Unmasked\n  capabilities: {add: [SYS_PTRACE]}\n"
            "  appArmorProfile: {type: Unconfined}\n  seccompProfile: {type: Unconfined}\n"
            "ports: [{containerPort: 80, hostPort: 80}]"
        )
    )
    controls = {message.split(":")[0] for _, message in failures("STK-K8S-039", manifest)}
    assert controls == {
        "baseline capabilities",
        "host ports",
        "apparmor",
        "proc mount",
        "seccomp not unconfined",
    }


def test_restricted_volume_types_and_root_user() -> None:
    manifest = RESTRICTED.replace("emptyDir: {}", "nfs: {server: x, path: /}").replace(
        "runAsNonRoot: true", "runAsNonRoot: true\n    runAsUser: 0"
    )
    controls = {message.split(":")[0] for _, message in failures("STK-K8S-040", manifest)}
    assert controls == {"volume types", "run as user"}
