"""Host checks on a fake root: sshd_config, account files, kubelet and API server."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.compliance import host
from stockade.compliance.host import HOST_CHECKS, HostCheckError, HostRoot, check_host
from stockade.compliance.interface import Result, Status, Target


def write(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)
    return target


def by_id(results: list[Result]) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for result in results:
        out.setdefault(result.check.id, []).append(result)
    return out


def status(results: list[Result], check_id: str) -> Status:
    [result] = {r.status for r in by_id(results)[check_id]}
    return result


def test_all_is_complete() -> None:
    public = {n for n in dir(host) if not n.startswith("_")}
    modules = {"audit", "benchmark", "check", "checks", "errors", "fs", "registry", "sshd"}
    assert public - modules == set(host.__all__)


def test_ids_are_unique_and_sorted() -> None:
    ids = [c.id for c in HOST_CHECKS]
    assert ids == sorted(set(ids))
    assert all(c.meta.target is Target.HOST and c.meta.references.get("cis") for c in HOST_CHECKS)


def test_empty_root_skips_everything(tmp_path: Path) -> None:
    results = check_host(tmp_path)
    assert len(results) == len(HOST_CHECKS)
    assert {r.status for r in results} == {Status.SKIPPED}


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(HostCheckError):
        check_host(tmp_path / "missing")


HARDENED_SSHD = """\
# hardened
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
Protocol 2
MaxAuthTries 3
"""


def test_hardened_sshd_with_include(tmp_path: Path) -> None:
    write(tmp_path, "etc/ssh/sshd_config", HARDENED_SSHD)
    write(tmp_path, "etc/ssh/sshd_config.d/10-x11.conf", "X11Forwarding no\n")
    write(tmp_path, "etc/ssh/sshd_config.d/README", "X11Forwarding yes\n")
    results = check_host(tmp_path)
    for check_id in ("STK-HOST-001", "STK-HOST-002", "STK-HOST-003", "STK-HOST-004"):
        assert status(results, check_id) is Status.PASSED, check_id
    assert status(results, "STK-HOST-005") is Status.PASSED
    assert status(results, "STK-HOST-006") is Status.PASSED


def test_insecure_sshd(tmp_path: Path) -> None:
    write(
        tmp_path,
        "etc/ssh/sshd_config",
        "permitrootlogin yes\nProtocol 2,1\nX11Forwarding=yes\nMaxAuthTries 10\n"
        "PermitEmptyPasswords yes\nMatch User backup\n  PasswordAuthentication no\n",
    )
    results = by_id(check_host(tmp_path))
    [root_login] = results["STK-HOST-001"]
    assert root_login.status is Status.FAILED
    assert (root_login.file, root_login.line) == ("/etc/ssh/sshd_config", 1)
    # The Match block's setting does not apply globally: sshd's default (yes) does.
    [password] = results["STK-HOST-002"]
    assert password.status is Status.FAILED
    assert "default is yes" in password.message
    assert results["STK-HOST-003"][0].status is Status.FAILED
    assert results["STK-HOST-004"][0].line == 3
    assert results["STK-HOST-005"][0].status is Status.FAILED
    assert results["STK-HOST-006"][0].status is Status.FAILED


def test_first_sshd_value_wins_and_include_comes_first(tmp_path: Path) -> None:
    write(tmp_path, "etc/ssh/sshd_config", "Include extra.conf\nPermitRootLogin no\n")
    write(tmp_path, "etc/ssh/extra.conf", "PermitRootLogin yes\n")
    [result] = by_id(check_host(tmp_path))["STK-HOST-001"]
    assert result.status is Status.FAILED
    assert result.file == "/etc/ssh/extra.conf"


def test_recursive_include_terminates(tmp_path: Path) -> None:
    write(tmp_path, "etc/ssh/sshd_config", "Include sshd_config\nPermitRootLogin no\n")
    assert status(check_host(tmp_path), "STK-HOST-001") is Status.PASSED


def test_account_file_permissions(tmp_path: Path) -> None:
    write(tmp_path, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
    write(tmp_path, "etc/group", "root:x:0:\nshadow:x:42:\n", 0o664)
    write(tmp_path, "etc/shadow", "root:*:19000:0:99999:7:::\n", 0o644)
    write(tmp_path, "etc/gshadow", "root:*::\n", 0o000)
    failed = [r for r in by_id(check_host(tmp_path))["STK-HOST-010"]]
    assert [r.file for r in failed] == ["/etc/group", "/etc/shadow"]
    assert all(r.status is Status.FAILED for r in failed)


@pytest.mark.skipif(os.geteuid() == 0, reason="files made by root are owned by root")
def test_account_file_ownership_fails_for_non_root_owner(tmp_path: Path) -> None:
    write(tmp_path, "etc/passwd", "root:x:0:0::/root:/bin/sh\n")
    [result] = by_id(check_host(tmp_path))["STK-HOST-011"]
    assert result.status is Status.FAILED
    assert f"{os.geteuid()}:" in result.message


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as root")
def test_account_file_ownership_passes_for_root(tmp_path: Path) -> None:
    write(tmp_path, "etc/passwd", "root:x:0:0::/root:/bin/sh\n")
    write(tmp_path, "etc/group", "root:x:0:\nshadow:x:42:\n")
    shadow = write(tmp_path, "etc/shadow", "root:*:19000::::::\n", 0o640)
    os.chown(shadow, 0, 42)
    assert status(check_host(tmp_path), "STK-HOST-011") is Status.PASSED
    os.chown(shadow, 0, 43)
    [result] = by_id(check_host(tmp_path))["STK-HOST-011"]
    assert result.status is Status.FAILED
    assert result.file == "/etc/shadow"


def test_links_resolve_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "etc/real-shadow", "x\n", 0o600)
    (root / "etc/shadow").symlink_to("/etc/real-shadow")
    (root / "etc/gshadow").symlink_to("../../../../../../etc/real-shadow")
    (root / "etc/passwd").symlink_to("../../../../../../etc/passwd")
    (root / "etc/hostname").symlink_to("/../../etc/hostname")
    view = HostRoot(root)
    assert view.resolve("etc/shadow") == root / "etc/real-shadow"
    # Escaping with .. stops at the root: the host's files are never reached.
    assert view.resolve("etc/gshadow") == root / "etc/real-shadow"
    assert view.resolve("etc/hostname") is None
    assert view.read_text("etc/hostname") is None
    # A link to itself (inside the root) is a loop, given up after 40 hops.
    assert view.resolve("etc/passwd") is None
    assert view.stat("etc/passwd") is None


KUBELET_INSECURE = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
authorization:
  mode: AlwaysAllow
readOnlyPort: 10255
rotateCertificates: false
"""

KUBELET_HARDENED = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
authorization:
  mode: Webhook
protectKernelDefaults: true
rotateCertificates: true
"""


def test_kubelet_config(tmp_path: Path) -> None:
    write(tmp_path, "var/lib/kubelet/config.yaml", KUBELET_INSECURE)
    results = check_host(tmp_path)
    for check_id in (
        "STK-HOST-020",
        "STK-HOST-021",
        "STK-HOST-022",
        "STK-HOST-023",
        "STK-HOST-024",
    ):
        assert status(results, check_id) is Status.FAILED, check_id
    [anonymous] = by_id(results)["STK-HOST-020"]
    assert anonymous.path == "authentication.anonymous.enabled"
    assert anonymous.file == "/var/lib/kubelet/config.yaml"
    assert anonymous.line == 5
    [port] = by_id(results)["STK-HOST-022"]
    assert port.line == 8
    write(tmp_path, "var/lib/kubelet/config.yaml", KUBELET_HARDENED)
    results = check_host(tmp_path)
    for check_id in (
        "STK-HOST-020",
        "STK-HOST-021",
        "STK-HOST-022",
        "STK-HOST-023",
        "STK-HOST-024",
    ):
        assert status(results, check_id) is Status.PASSED, check_id


def apiserver(*flags: str) -> str:
    lines = "".join(f"    - {flag}\n" for flag in flags)
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\n"
        "spec:\n  containers:\n  - name: kube-apiserver\n"
        "    image: registry.k8s.io/kube-apiserver:v1.24.17\n    command:\n    - kube-apiserver\n"
        + lines
    )


def test_apiserver_flags(tmp_path: Path) -> None:
    path = "etc/kubernetes/manifests/kube-apiserver.yaml"
    write(tmp_path, path, apiserver("--insecure-port=8080", "--authorization-mode=AlwaysAllow"))
    results = check_host(tmp_path)
    for check_id in (
        "STK-HOST-030",
        "STK-HOST-031",
        "STK-HOST-032",
        "STK-HOST-033",
        "STK-HOST-034",
    ):
        assert status(results, check_id) is Status.FAILED, check_id
    assert by_id(results)["STK-HOST-032"][0].path == "--insecure-port"
    write(
        tmp_path,
        path,
        apiserver(
            "--anonymous-auth=false",
            "--authorization-mode=Node,RBAC",
            "--profiling=false",
            "--audit-log-path=/var/log/kubernetes/audit.log",
        ),
    )
    results = check_host(tmp_path)
    for check_id in (
        "STK-HOST-030",
        "STK-HOST-031",
        "STK-HOST-032",
        "STK-HOST-033",
        "STK-HOST-034",
    ):
        assert status(results, check_id) is Status.PASSED, check_id


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("var/lib/kubelet/config.yaml", "a: [unclosed\n"),
        ("var/lib/kubelet/config.yaml", "- a list\n"),
        ("etc/kubernetes/manifests/kube-apiserver.yaml", "kind: Pod\nspec: {}\n"),
        ("etc/kubernetes/manifests/kube-apiserver.yaml", "spec:\n  containers: [3]\n"),
    ],
)
def test_malformed_kubernetes_files_raise_host_check_error(
    tmp_path: Path, path: str, text: str
) -> None:
    write(tmp_path, path, text)
    with pytest.raises(HostCheckError):
        check_host(tmp_path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sshd=st.text(
        alphabet=st.sampled_from(list("Include *?/.=#\n\tMatchPermitRootLogin 01yesno")),
        max_size=200,
    ),
    kubelet=st.text(max_size=200),
)
def test_hostile_files_raise_only_host_check_error(tmp_path: Path, sshd: str, kubelet: str) -> None:
    write(tmp_path, "etc/ssh/sshd_config", sshd)
    write(tmp_path, "var/lib/kubelet/config.yaml", kubelet)
    with contextlib.suppress(HostCheckError):
        check_host(tmp_path)
