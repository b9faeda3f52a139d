"""Hosts: CIS items read from files under a root directory, and kube-bench benchmarks.

::

    from stockade.compliance.host import check_host, load_benchmark

    results = check_host(Path("/mnt/node-image"))          # reads files only
    benchmark = load_benchmark(Path("kube-bench/cfg/cis-1.24"))
    results = check_host(Path("/"), benchmark=benchmark, run_audits=True)  # runs shell!

The file checks never read outside the root (links resolve as in a chroot). Benchmark
audits are shell commands from the file you pass; they run only with ``run_audits``.
See docs/compliance-host-serverless.md.
"""

from stockade.compliance.host.audit import (
    DEFAULT_AUDIT_VARIABLES,
    AuditFailed,
    AuditRunner,
    RecordedAudits,
    ShellAuditRunner,
    benchmark_results,
)
from stockade.compliance.host.benchmark import (
    BenchmarkCheck,
    Compare,
    Controls,
    Evaluation,
    TestItem,
    Tests,
    evaluate_check,
    evaluate_tests,
    load_benchmark,
    parse_controls,
)
from stockade.compliance.host.check import Finding, HostCheck, NotApplicable
from stockade.compliance.host.errors import BenchmarkError, HostCheckError
from stockade.compliance.host.fs import HostRoot
from stockade.compliance.host.registry import HOST_CHECKS, HOST_CHECKS_BY_ID, check_host

__all__ = [
    "DEFAULT_AUDIT_VARIABLES",
    "HOST_CHECKS",
    "HOST_CHECKS_BY_ID",
    "AuditFailed",
    "AuditRunner",
    "BenchmarkCheck",
    "BenchmarkError",
    "Compare",
    "Controls",
    "Evaluation",
    "Finding",
    "HostCheck",
    "HostCheckError",
    "HostRoot",
    "NotApplicable",
    "RecordedAudits",
    "ShellAuditRunner",
    "TestItem",
    "Tests",
    "benchmark_results",
    "check_host",
    "evaluate_check",
    "evaluate_tests",
    "load_benchmark",
    "parse_controls",
]
