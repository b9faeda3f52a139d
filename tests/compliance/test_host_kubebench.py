"""kube-bench benchmark files read as data, and the evaluator of their tests.

The checks are the real ones from kube-bench's cfg/cis-1.24 and its check fixture
(tests/data/compliance/kube-bench, Apache-2.0); the audit outputs are written here.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.compliance.host import (
    BenchmarkCheck,
    BenchmarkError,
    Controls,
    HostCheckError,
    RecordedAudits,
    ShellAuditRunner,
    benchmark_results,
    check_host,
    evaluate_check,
    load_benchmark,
    parse_controls,
)
from stockade.compliance.host.audit import substitute
from stockade.compliance.interface import Status

DATA = Path(__file__).parent.parent / "data" / "compliance" / "kube-bench"
CIS = load_benchmark(DATA / "cis-1.24")
FIXTURE = parse_controls((DATA / "check_data.yaml").read_bytes(), name="check_data.yaml")


def cis(check_id: str) -> BenchmarkCheck:
    [check] = [c for controls in CIS for c in controls.checks if c.id == check_id]
    return check


def fixture(group: str, check_id: str) -> BenchmarkCheck:
    [check] = [c for c in FIXTURE.checks if c.group.split()[0] == group and c.id == check_id]
    return check


def test_benchmark_loads() -> None:
    assert [Path(c.file).name for c in CIS] == [
        "controlplane.yaml",
        "etcd.yaml",
        "master.yaml",
        "node.yaml",
        "policies.yaml",
    ]
    assert {c.version for c in CIS} == {"cis-1.24"}
    assert [len(c.checks) for c in CIS] == [3, 7, 61, 23, 30]
    check = cis("4.1.1")
    assert check.group == "4.1 Worker Node Configuration Files"
    assert check.scored
    assert check.type == ""
    assert "stat -c permissions=%a $kubeletsvc" in check.audit
    assert check.remediation.startswith("Run the below command")
    assert check.tests is not None
    assert check.tests.items[0].compare is not None
    assert check.tests.items[0].compare.op == "bitmask"
    assert cis("1.1.20").use_multiple_values


APISERVER = (
    "root 1 0 kube-apiserver --advertise-address=10.0.0.5 --allow-privileged=true "
    "--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction "
    "--secure-port=6443 --audit-log-maxbackup=10 --anonymous-auth=false"
)


@pytest.mark.parametrize(
    ("check_id", "output", "config", "passed"),
    [
        ("4.1.1", "permissions=600", "", True),
        ("4.1.1", "permissions=400", "", True),
        ("4.1.1", "permissions=644", "", False),
        ("4.1.1", "", "", False),
        ("4.1.2", "root:root", "", True),
        ("4.1.2", "File not found", "", True),
        ("4.1.2", "kube:root", "", False),
        ("1.2.1", APISERVER, "", True),
        ("1.2.1", APISERVER.replace("false", "true"), "", False),
        ("1.2.2", APISERVER, "", True),
        ("1.2.2", APISERVER + " --token-auth-file=/etc/tokens.csv", "", False),
        ("1.2.7", APISERVER, "", True),
        ("1.2.8", APISERVER.replace("Node,RBAC", "Node"), "", False),
        ("1.2.10", APISERVER, "", True),
        ("1.2.10", APISERVER.replace("=NodeRestriction", "=AlwaysAdmit,X"), "", False),
        ("1.2.10", "kube-apiserver --secure-port=6443", "", True),
        ("1.2.16", APISERVER, "", True),
        ("1.2.16", APISERVER.replace("6443", "0"), "", False),
        ("1.2.18", APISERVER, "", False),
        ("1.2.20", APISERVER, "", True),
        ("1.2.20", APISERVER.replace("maxbackup=10", "maxbackup=9"), "", False),
        ("1.2.20", APISERVER.replace("maxbackup=10", "maxbackup=ten"), "", False),
        ("1.2.30", "provider=aescbc", "", True),
        ("1.2.30", "provider=identity", "", False),
        ("4.2.1", "kubelet --config=/var/lib/kubelet/config.yaml", "", False),
        ("4.2.1", "kubelet --anonymous-auth=false", "", True),
        ("4.2.1", "kubelet", "authentication:\n  anonymous:\n    enabled: false\n", True),
        ("4.2.1", "kubelet", '{"authentication": {"anonymous": {"enabled": true}}}', False),
        # The command line overrides the config file.
        (
            "4.2.1",
            "kubelet --anonymous-auth=true",
            "authentication: {anonymous: {enabled: false}}",
            False,
        ),
        ("4.2.4", "kubelet", "readOnlyPort: 0\n", True),
        ("4.2.4", "kubelet", "", True),
        ("4.2.4", "kubelet --read-only-port=10255", "", False),
        ("4.2.13", "kubelet", "tlsCipherSuites:\n- TLS_RSA_WITH_AES_128_GCM_SHA256\n", True),
        ("4.2.13", "kubelet", "tlsCipherSuites: [TLS_RSA_WITH_RC4_128_SHA]\n", False),
        ("4.2.13", "kubelet --tls-cipher-suites=TLS_RSA_WITH_AES_256_GCM_SHA384", "", True),
    ],
)
def test_cis_checks(check_id: str, output: str, config: str, passed: bool) -> None:
    evaluation = evaluate_check(cis(check_id), output, config)
    assert not evaluation.error
    assert evaluation.passed is passed, evaluation.actual


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ("permissions=600\npermissions=600\n", True),
        ("permissions=600\npermissions=644\n", False),
        ("permissions=600\n\npermissions=600", False),
        ("", False),
    ],
)
def test_multiple_values(output: str, passed: bool) -> None:
    assert evaluate_check(cis("1.1.21"), output).passed is passed


@pytest.mark.parametrize(
    ("check_id", "output", "config", "passed"),
    [
        ("0", "--allow-privileged=true", "", True),
        ("0", "--allow-privileged-x=true", "", False),
        ("1", "--allow-privileged", "", True),
        ("1", "--basic-auth=/x", "", False),
        ("2", "--insecure-port=0", "", True),
        ("2", "--insecure-port=8080", "", False),
        ("3", "--audit-log-maxage=40", "", True),
        ("3", "--audit-log-maxage=29", "", False),
        ("4", "--max-backlog=20", "", True),
        ("4", "--max-backlog=30", "", False),
        ("5", "--admission-control=WebHook,RBAC", "", True),
        ("5", "--admission-control=AlwaysAdmit,RBAC", "", False),
        ("6", "--kubelet-client-certificate=/a --kubelet-clientkey=/b", "", True),
        ("6", "--kubelet-client-certificate=/a", "", False),
        ("7", "--secure-port=0", "", True),
        ("7", "--insecure-port=1", "", True),
        ("7", "--secure-port=443", "", False),
        ("8", "permissions=SomeValue", "", True),
        ("9", "permissions=644", "", True),
        ("9", "permissions=664", "", False),
        ("10", "--admission-control=WebHook,Something,RBAC", "", True),
        ("11", "--admission-control=WebHook,Something,RBAC", "", True),
        ("12", "--admission-control=WebHook,Something,RBAC", "", True),
        ("13", "--admission-control=Something", "", True),
        ("13", "--admission-control=Nothing", "", False),
        ("14", "some-arg: some-val", "", True),
        ("14", "some-arg:some-val", "", True),
        ("15", "", "readOnlyPort: 15000", True),
        ("15", "", "readOnlyPort: 14999", True),
        ("16", "", "stringValue: WebHook,Something,RBAC", True),
        ("16", "", "stringValue: webhook,Something,RBAC", False),
        ("17", "", '{"trueValue": true}', True),
        ("17", "", '{"trueValue": false}', False),
        ("18", "", "readOnlyPort: 1", True),
        ("19", "", "authentication: {anonymous: {enabled: false}}", True),
        ("20", "", "readOnlyPort: 15000", True),
        ("20", "", "readOnlyPort: 14999", False),
        ("21", "", "fieldThatIsUnset:\n", True),
        ("23", "", '{"authentication": {"anonymous": {"enabled": "false"', False),
        ("24", "", "missingClosingBrace: 1", True),
        ("25", "", "authentication: [", False),
        ("26", "", "currentMasterVersion: 1.12.7-gke.10", True),
        ("26", "", "currentMasterVersion: 1.13.0", False),
        ("27", "--peer-client-cert-auth", "", True),
        ("28", "--peer-client-cert-auth=false", "", True),
        ("28", "--peer-client-cert-auth", "", False),
    ],
)
def test_fixture_checks(check_id: str, output: str, config: str, passed: bool) -> None:
    evaluation = evaluate_check(fixture("1.1", check_id), output, config)
    assert not evaluation.error
    assert evaluation.passed is passed, evaluation.actual


@pytest.mark.parametrize("check_id", ["29", "30", "31", "32", "33"])
def test_env_tests_are_not_guessed(check_id: str) -> None:
    evaluation = evaluate_check(fixture("1.1", check_id), "unrelated output")
    assert "env" in evaluation.error


_ECHO = re.compile(r"(echo|printf) ")


def expected_from_text(text: str) -> Status:
    lowered = text.lower()
    if "-> pass" in lowered or lowered.endswith("passing"):
        return Status.PASSED
    assert "-> fail" in lowered or "failing" in lowered or "has failing value" in lowered
    return Status.FAILED


def test_fixture_audit_groups_through_the_shell() -> None:
    """Group 2.1 says its expected verdict in each check's text; its audits are echoes."""
    checks = tuple(c for c in FIXTURE.checks if c.group.startswith("2.1 "))
    assert len(checks) == 17
    for check in checks:
        for command in (check.audit, check.audit_config):
            assert not command or _ECHO.match(command), command
    controls = Controls("2", "fixture", "fixture", "master", checks, "check_data.yaml")
    results = benchmark_results(
        [controls], resource="test", run_audits=True, runner=ShellAuditRunner(timeout=10)
    )
    for check, result in zip(checks, results, strict=True):
        assert result.status is expected_from_text(check.text), (check.id, result.message)


def test_env_fallbacks_are_skipped_not_guessed() -> None:
    checks = tuple(c for c in FIXTURE.checks if c.group.startswith("3.1 "))
    # Every audit here is `echo TEXT` or `echo 'TEXT'`: record TEXT instead of running it.
    recorded = {
        command: command.removeprefix("echo ").strip("'")
        for c in checks
        for command in (c.audit, c.audit_config)
        if command
    }
    controls = Controls("3", "env", "fixture", "node", checks, "check_data.yaml")
    results = benchmark_results(
        [controls], resource="t", run_audits=True, runner=RecordedAudits(recorded)
    )
    got = {check.id: r.status for check, r in zip(checks, results, strict=True)}
    assert got == {
        "0": Status.SKIPPED,
        "1": Status.SKIPPED,
        "2": Status.PASSED,
        "3": Status.PASSED,
        "4": Status.SKIPPED,
        "5": Status.SKIPPED,
        "6": Status.FAILED,
    }


def test_audits_are_not_run_by_default(tmp_path: Path) -> None:
    def refuse(command: str) -> str:
        raise AssertionError(command)

    results = check_host(tmp_path, benchmark=CIS, runner=refuse)
    benchmark = [r for r in results if r.check.id.startswith("cis-1.24:")]
    assert len(benchmark) == 124
    assert {r.status for r in benchmark} == {Status.SKIPPED}
    assert all("audit not run" in r.message for r in benchmark)


def test_recorded_audits_with_substituted_variables(tmp_path: Path) -> None:
    node = [c for c in CIS if c.type == "node"]
    svc = "/usr/lib/systemd/system/kubelet.service"
    command = substitute(cis("4.1.1").audit, {"kubeletsvc": svc})
    assert svc in command
    assert "$" not in command
    runner = RecordedAudits({command: "permissions=644\n"})
    results = check_host(
        tmp_path, benchmark=node, run_audits=True, runner=runner, variables={"kubeletsvc": svc}
    )
    by_id = {r.check.id: r for r in results}
    failed = by_id["cis-1.24:4.1.1"]
    assert failed.status is Status.FAILED
    assert "permissions=644" in failed.message
    assert failed.check.references == {"cis": "4.1.1", "kube-bench": "cis-1.24"}
    assert by_id["cis-1.24:4.1.5"].status is Status.SKIPPED
    assert "no recorded output" in by_id["cis-1.24:4.1.5"].message


def test_audits_refused_for_another_root(tmp_path: Path) -> None:
    with pytest.raises(HostCheckError, match="audits run on this machine"):
        check_host(tmp_path, benchmark=CIS, run_audits=True)


def test_shell_runner_timeout() -> None:
    slow = BenchmarkCheck("1", "slow", audit="sleep 5", tests=cis("4.1.1").tests)
    controls = Controls("9", "t", "t", "node", (slow,), "x")
    [result] = benchmark_results(
        [controls], resource="t", run_audits=True, runner=ShellAuditRunner(timeout=0.2)
    )
    assert result.status is Status.SKIPPED
    assert "timed out" in result.message


@pytest.mark.parametrize(
    "text",
    [
        "groups: [",
        "- a list\n",
        "groups: {a: b}\n",
        "groups:\n- checks:\n  - text: no id\n",
        "groups:\n- checks:\n  - id: 1\n    tests: {bin_op: xor, test_items: []}\n",
        "groups:\n- checks:\n  - id: 1\n    tests: {test_items: [{flag: a, compare: {op: x}}]}\n",
        "groups:\n- checks:\n  - id: 1\n    tests: {test_items: [{set: true}]}\n",
        "groups:\n- checks:\n  - id: 1\n    tests: {test_items: [{flag: a, set: maybe}]}\n",
        "groups:\n- checks:\n  - id: [1]\n",
        "a: 1\n---\nb: 2\n",
    ],
)
def test_malformed_benchmarks_raise_benchmark_error(text: str) -> None:
    with pytest.raises(BenchmarkError):
        parse_controls(text, name="bad.yaml")


def test_empty_benchmark_directory(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError) as info:
        load_benchmark(tmp_path)
    assert "cis-1.24" in info.value.diagnostics()


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_hostile_benchmark_text_raises_only_benchmark_error(text: str) -> None:
    with contextlib.suppress(BenchmarkError):
        parse_controls(text, name="fuzz.yaml")


@settings(max_examples=200, deadline=None)
@given(output=st.text(max_size=200), config=st.text(max_size=200))
def test_evaluator_never_crashes_on_any_output(output: str, config: str) -> None:
    for check in (cis("4.2.1"), cis("4.2.13"), cis("1.1.21"), fixture("1.1", "26")):
        evaluate_check(check, output, config)
