"""The kubelet's config file and the API server's static pod (CIS Kubernetes, 1.2 and 4.2).

These read the files kubeadm writes; a cluster configured by flags elsewhere is judged
by its files only, and the kube-bench benchmarks (run with audits) cover the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from stockade.compliance.host.check import Finding, NotApplicable, host_check
from stockade.compliance.host.errors import HostCheckError
from stockade.compliance.host.fs import HostRoot
from stockade.compliance.yamlload import YamlDocument, YamlLoadError, load_documents
from stockade.core.advisory import Severity

KUBELET_CONFIG: Final = "var/lib/kubelet/config.yaml"
APISERVER_MANIFEST: Final = "etc/kubernetes/manifests/kube-apiserver.yaml"


def _yaml(host: HostRoot, path: str) -> YamlDocument:
    text = host.read_text(path)
    if text is None:
        raise NotApplicable(f"no /{path}")
    try:
        documents = load_documents(text, name=f"/{path}")
    except YamlLoadError as exc:
        raise HostCheckError(exc.message, exc.hint) from exc
    if not documents or not isinstance(documents[0].data, Mapping):
        raise HostCheckError(f"/{path}: not a YAML mapping")
    return documents[0]


def _get(data: Mapping[str, Any], dotted: str) -> object:
    value: object = data
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def apiserver_flags(host: HostRoot) -> dict[str, str]:
    """``--flag=value`` arguments of the kube-apiserver container (a bare flag is "true")."""
    pod = _yaml(host, APISERVER_MANIFEST).data
    containers = _get(pod, "spec.containers")
    if not isinstance(containers, list) or not containers:
        raise HostCheckError(f"/{APISERVER_MANIFEST}: no spec.containers")
    named = [c for c in containers if isinstance(c, Mapping) and c.get("name") == "kube-apiserver"]
    container = named[0] if named else containers[0]
    if not isinstance(container, Mapping):
        raise HostCheckError(f"/{APISERVER_MANIFEST}: spec.containers[0] is not a mapping")
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    flags: dict[str, str] = {}
    for word in words:
        if isinstance(word, str) and word.startswith("--"):
            name, sep, value = word.partition("=")
            flags[name] = value if sep else "true"
    return flags


_K = "/" + KUBELET_CONFIG
_A = "/" + APISERVER_MANIFEST


def _kubelet(host: HostRoot, key: str, bad: Any, message: str, default: Any) -> Iterator[Finding]:
    document = _yaml(host, KUBELET_CONFIG)
    value = _get(document.data, key)
    value = default if value is None else value
    if bad(value):
        shown = str(value).lower() if isinstance(value, bool) else value
        yield Finding(_K, message.format(value=shown), document.field_lines.get(key), key)


@host_check(
    "STK-HOST-020",
    "The kubelet must refuse anonymous requests",
    Severity.HIGH,
    file=_K,
    rationale="Anonymous requests to the kubelet API can read pods' data and run commands in them.",
    remediation="Set authentication.anonymous.enabled: false in the kubelet config.",
    references={"cis": "4.2.1"},
)
def kubelet_anonymous_auth(host: HostRoot) -> Iterator[Finding]:
    return _kubelet(
        host,
        "authentication.anonymous.enabled",
        lambda v: v is not False,
        "anonymous authentication is {value}; it should be false",
        True,
    )


@host_check(
    "STK-HOST-021",
    "The kubelet must not allow every request",
    Severity.HIGH,
    file=_K,
    rationale="With AlwaysAllow any authenticated caller can use every kubelet endpoint.",
    remediation="Set authorization.mode: Webhook in the kubelet config.",
    references={"cis": "4.2.2"},
)
def kubelet_authorization_mode(host: HostRoot) -> Iterator[Finding]:
    return _kubelet(
        host,
        "authorization.mode",
        lambda v: v == "AlwaysAllow",
        "authorization mode is {value}; it should be Webhook",
        "Webhook",
    )


@host_check(
    "STK-HOST-022",
    "The kubelet's read-only port must be disabled",
    Severity.MEDIUM,
    file=_K,
    rationale="The read-only port serves pod and node details with no authentication at all.",
    remediation="Set readOnlyPort: 0 in the kubelet config.",
    references={"cis": "4.2.4"},
)
def kubelet_read_only_port(host: HostRoot) -> Iterator[Finding]:
    return _kubelet(
        host, "readOnlyPort", lambda v: v != 0, "readOnlyPort is {value}; it should be 0", 0
    )


@host_check(
    "STK-HOST-023",
    "The kubelet should protect kernel defaults",
    Severity.MEDIUM,
    file=_K,
    rationale="Without it the kubelet changes kernel settings to suit itself instead of failing.",
    remediation="Set protectKernelDefaults: true in the kubelet config.",
    references={"cis": "4.2.6"},
)
def kubelet_protect_kernel_defaults(host: HostRoot) -> Iterator[Finding]:
    return _kubelet(
        host,
        "protectKernelDefaults",
        lambda v: v is not True,
        "protectKernelDefaults is {value}; it should be true",
        False,
    )


@host_check(
    "STK-HOST-024",
    "The kubelet should rotate its client certificates",
    Severity.LOW,
    file=_K,
    rationale="A certificate that never rotates stays valid for as long as it leaks.",
    remediation="Remove rotateCertificates: false, or set it to true.",
    references={"cis": "4.2.11"},
)
def kubelet_rotate_certificates(host: HostRoot) -> Iterator[Finding]:
    return _kubelet(
        host,
        "rotateCertificates",
        lambda v: v is False,
        "rotateCertificates is {value}; it should be true",
        True,
    )


def _flag(
    host: HostRoot, flag: str, bad: Any, message: str, default: str | None
) -> Iterator[Finding]:
    value = apiserver_flags(host).get(flag, default)
    if bad(value):
        yield Finding(
            _A, message.format(value=value if value is not None else "not set"), None, flag
        )


@host_check(
    "STK-HOST-030",
    "The API server must refuse anonymous requests",
    Severity.MEDIUM,
    file=_A,
    rationale="Anonymous requests reach every endpoint RBAC grants to system:unauthenticated.",
    remediation="Add --anonymous-auth=false to the kube-apiserver command.",
    references={"cis": "1.2.1"},
)
def apiserver_anonymous_auth(host: HostRoot) -> Iterator[Finding]:
    return _flag(
        host, "--anonymous-auth", lambda v: v != "false", "--anonymous-auth is {value}", "true"
    )


@host_check(
    "STK-HOST-031",
    "The API server must authorize with Node and RBAC, never AlwaysAllow",
    Severity.HIGH,
    file=_A,
    rationale="AlwaysAllow lets every authenticated user do everything in the cluster.",
    remediation="Set --authorization-mode=Node,RBAC on the kube-apiserver command.",
    references={"cis": "1.2.6-1.2.8"},
)
def apiserver_authorization_mode(host: HostRoot) -> Iterator[Finding]:
    def bad(value: str) -> bool:
        modes = set(value.split(","))
        return "AlwaysAllow" in modes or not {"Node", "RBAC"} <= modes

    return _flag(
        host, "--authorization-mode", bad, "--authorization-mode is {value}", "AlwaysAllow"
    )


@host_check(
    "STK-HOST-032",
    "The API server's insecure port must be disabled",
    Severity.CRITICAL,
    file=_A,
    rationale="The insecure port serves the whole API with no authentication or authorization.",
    remediation="Remove --insecure-port, or set it to 0.",
    references={"cis": "1.2.19"},
)
def apiserver_insecure_port(host: HostRoot) -> Iterator[Finding]:
    return _flag(
        host,
        "--insecure-port",
        lambda v: v is not None and v != "0",
        "--insecure-port is {value}",
        None,
    )


@host_check(
    "STK-HOST-033",
    "The API server's profiling endpoint should be disabled",
    Severity.LOW,
    file=_A,
    rationale="Profiling data reveals the system's internals and costs resources to produce.",
    remediation="Add --profiling=false to the kube-apiserver command.",
    references={"cis": "1.2.18"},
)
def apiserver_profiling(host: HostRoot) -> Iterator[Finding]:
    return _flag(host, "--profiling", lambda v: v != "false", "--profiling is {value}", "true")


@host_check(
    "STK-HOST-034",
    "The API server must write an audit log",
    Severity.MEDIUM,
    file=_A,
    rationale="Without an audit log nobody can tell afterwards who did what to the cluster.",
    remediation="Add --audit-log-path=/var/log/kubernetes/audit.log (and --audit-policy-file).",
    references={"cis": "1.2.22"},
)
def apiserver_audit_log(host: HostRoot) -> Iterator[Finding]:
    return _flag(host, "--audit-log-path", lambda v: not v, "--audit-log-path is {value}", None)
