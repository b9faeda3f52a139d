"""Running kube-bench audit commands, and turning benchmark checks into results.

.. warning::

   An audit is a shell command written in the benchmark file (``ps -ef | grep
   $apiserverbin``, ``stat -c %a /etc/kubernetes/...``). With ``run_audits=True``
   Stockade runs each one with ``/bin/sh -c`` on the machine it runs on, as the user it
   runs as: only pass benchmark files you trust as much as a shell script. Without it,
   nothing is executed and every check is reported SKIPPED ("audit not run").

The runner is a callable from a command to its output, so tests (and callers who
collect output elsewhere, over SSH say) use :class:`RecordedAudits` instead of a shell.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from stockade.compliance.host.benchmark import BenchmarkCheck, Controls, evaluate_check
from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.core.advisory import Severity

__all__ = [
    "DEFAULT_AUDIT_VARIABLES",
    "AuditFailed",
    "AuditRunner",
    "RecordedAudits",
    "ShellAuditRunner",
    "benchmark_results",
    "substitute",
]

DEFAULT_AUDIT_VARIABLES: Final[Mapping[str, str]] = {
    # Where kubeadm puts things: kube-bench's cfg/config.yaml defaults. A cluster laid
    # out differently passes its own values.
    "apiserverbin": "kube-apiserver",
    "apiserverconf": "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "controllermanagerbin": "kube-controller-manager",
    "controllermanagerconf": "/etc/kubernetes/manifests/kube-controller-manager.yaml",
    "controllermanagerkubeconfig": "/etc/kubernetes/controller-manager.conf",
    "schedulerbin": "kube-scheduler",
    "schedulerconf": "/etc/kubernetes/manifests/kube-scheduler.yaml",
    "schedulerkubeconfig": "/etc/kubernetes/scheduler.conf",
    "etcdbin": "etcd",
    "etcdconf": "/etc/kubernetes/manifests/etcd.yaml",
    "etcddatadir": "/var/lib/etcd",
    "kubeletbin": "kubelet",
    "kubeletconf": "/var/lib/kubelet/config.yaml",
    "kubeletsvc": "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "kubeletkubeconfig": "/etc/kubernetes/kubelet.conf",
    "kubeletcafile": "/etc/kubernetes/pki/ca.crt",
    "proxykubeconfig": "/etc/kubernetes/proxy.conf",
}

_VARIABLE: Final = re.compile(r"\$([a-z]+)")


class AuditFailed(Exception):
    """An audit command could not produce output (timed out, could not start)."""


class AuditRunner(Protocol):
    def __call__(self, command: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ShellAuditRunner:
    """Runs an audit with ``/bin/sh -c`` (audits are pipelines), stdout and stderr joined."""

    timeout: float = 30.0

    def __call__(self, command: str) -> str:
        try:
            # Running the benchmark's own command is the point; callers opt in with run_audits.
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AuditFailed(f"timed out after {self.timeout:g}s") from exc
        except OSError as exc:
            raise AuditFailed(f"could not start /bin/sh: {exc.strerror}") from exc
        return done.stdout + done.stderr


@dataclass(frozen=True, slots=True)
class RecordedAudits:
    """Outputs captured earlier, by command after substitution; unknown commands fail."""

    outputs: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, command: str) -> str:
        try:
            return self.outputs[command]
        except KeyError:
            raise AuditFailed("no recorded output for this command") from None


def substitute(command: str, variables: Mapping[str, str]) -> str:
    """``$apiserverbin`` and friends replaced; other ``$names`` are left to the shell."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), command)


def _meta(controls: Controls, check: BenchmarkCheck) -> CheckMeta:
    version = controls.version or "kube-bench"
    return CheckMeta(
        id=f"{version}:{check.id}",
        title=check.text,
        severity=Severity.MEDIUM if check.scored else Severity.LOW,
        target=Target.HOST,
        rationale=check.group,
        remediation=check.remediation,
        references={"cis": check.id, "kube-bench": version},
    )


def _judge(
    check: BenchmarkCheck, runner: AuditRunner, variables: Mapping[str, str]
) -> tuple[Status, str]:
    if check.type in ("manual", "skip"):
        return Status.SKIPPED, f"{check.type} check: review by hand"
    if check.tests is None or not (check.audit or check.audit_config):
        return Status.SKIPPED, "the check has no audit or no tests"
    try:
        output = runner(substitute(check.audit, variables)) if check.audit else ""
        config = runner(substitute(check.audit_config, variables)) if check.audit_config else ""
    except AuditFailed as exc:
        return Status.SKIPPED, f"audit failed: {exc}"
    evaluation = evaluate_check(check, output, config)
    if evaluation.error:
        return Status.SKIPPED, evaluation.error
    found = evaluation.actual or "no output"
    return (Status.PASSED if evaluation.passed else Status.FAILED), f"found: {found}"


def benchmark_results(
    benchmark: Sequence[Controls],
    *,
    resource: str,
    run_audits: bool = False,
    runner: AuditRunner | None = None,
    variables: Mapping[str, str] | None = None,
) -> list[Result]:
    """One result per benchmark check. Nothing runs unless ``run_audits`` is true."""
    if runner is None:
        runner = ShellAuditRunner()
    values = {**DEFAULT_AUDIT_VARIABLES, **(variables or {})}
    results: list[Result] = []
    for controls in benchmark:
        for check in controls.checks:
            if run_audits:
                status, message = _judge(check, runner, values)
            else:
                status, message = Status.SKIPPED, "audit not run (pass run_audits to run it)"
            results.append(
                Result(
                    _meta(controls, check), status, resource, file=controls.file, message=message
                )
            )
    return results
