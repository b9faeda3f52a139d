"""Every host check, in id order, and running them over a root directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from stockade.compliance.host.audit import AuditRunner, benchmark_results
from stockade.compliance.host.benchmark import Controls
from stockade.compliance.host.check import HostCheck
from stockade.compliance.host.checks import files, kubernetes, ssh
from stockade.compliance.host.errors import HostCheckError
from stockade.compliance.host.fs import HostRoot
from stockade.compliance.interface import Result

__all__ = ["HOST_CHECKS", "HOST_CHECKS_BY_ID", "check_host"]

HOST_CHECKS: Final[tuple[HostCheck, ...]] = tuple(
    sorted(
        (
            ssh.permit_root_login,
            ssh.password_authentication,
            ssh.protocol,
            ssh.x11_forwarding,
            ssh.max_auth_tries,
            ssh.permit_empty_passwords,
            files.account_file_permissions,
            files.account_file_ownership,
            kubernetes.kubelet_anonymous_auth,
            kubernetes.kubelet_authorization_mode,
            kubernetes.kubelet_read_only_port,
            kubernetes.kubelet_protect_kernel_defaults,
            kubernetes.kubelet_rotate_certificates,
            kubernetes.apiserver_anonymous_auth,
            kubernetes.apiserver_authorization_mode,
            kubernetes.apiserver_insecure_port,
            kubernetes.apiserver_profiling,
            kubernetes.apiserver_audit_log,
        ),
        key=lambda check: check.id,
    )
)

HOST_CHECKS_BY_ID: Final[Mapping[str, HostCheck]] = {check.id: check for check in HOST_CHECKS}


def check_host(
    root: Path = Path("/"),
    *,
    run_audits: bool = False,
    benchmark: Sequence[Controls] = (),
    runner: AuditRunner | None = None,
    variables: Mapping[str, str] | None = None,
) -> list[Result]:
    """Run :data:`HOST_CHECKS` on the files under ``root``, then ``benchmark``'s checks.

    The file checks read only under ``root``. Benchmark checks are listed SKIPPED
    unless ``run_audits`` is true; then their audit commands run through ``runner`` (a
    shell on *this* machine by default), so ``root`` must be ``/``: audits cannot be
    confined to a directory.
    """
    if not root.is_dir():
        raise HostCheckError(f"{root}: not a directory", "pass the root of the host to check")
    if run_audits and benchmark and runner is None and root.resolve() != Path("/"):
        raise HostCheckError(
            f"audits run on this machine, not under {root}",
            "run with root / on the host itself, or leave audits off",
        )
    host = HostRoot(root)
    resource = f"host:{root}"
    results: list[Result] = []
    for check in HOST_CHECKS:
        results.extend(check.run(host, resource))
    if benchmark:
        results.extend(
            benchmark_results(
                benchmark,
                resource=resource,
                run_audits=run_audits,
                runner=runner,
                variables=variables,
            )
        )
    return results
