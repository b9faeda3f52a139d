"""CRS's go-ftw regression suite against the real proxy over HTTP (see docs/waf.md).

The proxy runs as a process of its own with two SO_REUSEPORT workers
(:mod:`tests.waf.proxy.ftw_proxy`: ``serve()`` with CRS's test setup) in front of the h11
backend (albedo's ``/reflect``); :class:`~stockade.waf.ftw.HttpTarget` sends each stage's
raw bytes on a connection of its own and reads the matched rule ids back from the audit
log, as go-ftw reads the error log. Slow: ~5,000 exchanges, each through every CRS rule.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.waf.proxy.backend import running_backend
from tests.waf.proxy.support import free_port, wait_for_port

from stockade.waf.ftw import (
    Exchange,
    HttpTarget,
    Report,
    judge,
    load_stages,
    load_test_overrides,
    run,
)

pytestmark = pytest.mark.slow

CASES = Path(__file__).parents[2] / "data" / "waf" / "crs" / "regression"
OVERRIDES = Path(__file__).parent / "data" / "stockade-overrides.yaml"
WORKERS = 2
PARALLEL = 4


@dataclass(frozen=True)
class Outcome:
    report: Report
    """Judged with Stockade's overrides applied."""
    raw_log_passed: int
    """Log-checking stages that pass against the tests' own expectations."""


def _outcome(audit_dir: Path) -> Outcome:
    stages = list(load_stages(CASES))
    overrides = load_test_overrides(OVERRIDES)
    audit = audit_dir / "audit.jsonl"
    port = free_port()
    with running_backend() as backend:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.waf.proxy.ftw_proxy",
                str(port),
                f"http://127.0.0.1:{backend.port}",
                str(audit),
                str(WORKERS),
            ],
            cwd=Path(__file__).parents[3],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, process)
            report = run(HttpTarget("127.0.0.1", port, audit), stages, overrides, parallel=PARALLEL)
        finally:
            process.terminate()
            process.wait(30)
    originals = {(s.test_id, s.index): s for s in stages}
    raw = 0
    for result in report.results:
        original = originals[result.stage.test_id, result.stage.index]
        if not original.checks_log:
            continue
        exchange = Exchange(result.status, result.matched, result.error)
        raw += judge(original, exchange).passed
    return Outcome(report, raw)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return _outcome(tmp_path_factory.mktemp("ftw"))


def test_at_least_95_percent_of_the_stages_pass_through_the_proxy(outcome: Outcome) -> None:
    report = outcome.report
    assert len(report.results) > 4900
    assert report.rate >= 0.95, f"{report.passed}/{len(report.results)}"
    # without Stockade's overrides, against the tests' own (Apache) expectations
    log_stages = sum(1 for r in report.results if r.stage.checks_log)
    assert outcome.raw_log_passed / log_stages >= 0.95
    status_passed = sum(r.passed for r in report.status_results)
    print(  # the figures docs/waf.md records
        f"\nwith overrides: {report.passed}/{len(report.results)} ({report.rate:.1%}), "
        f"{report.replaced} stages judged by an override; as the tests say: "
        f"{outcome.raw_log_passed}/{log_stages} ({outcome.raw_log_passed / log_stages:.1%}); "
        f"status-only: {status_passed}/{len(report.status_results)}; "
        f"not judged: {report.status_only}"
    )


def test_status_only_stages_are_judged_by_the_proxy(outcome: Outcome) -> None:
    status = outcome.report.status_results
    assert len(status) >= 20
    passed = sum(r.passed for r in status)
    assert passed / len(status) >= 0.9, [
        (r.stage.test_id, r.status, r.stage.status) for r in status if not r.passed
    ]


def test_attacks_are_seen_and_protocol_errors_answered(outcome: Outcome) -> None:
    report = outcome.report
    results = {r.stage.test_id: r for r in (*report.results, *report.status_results)}
    for test_id in ("942100-1", "941100-1", "932230-1", "920181-1", "920100-5"):
        assert results[test_id].passed, results[test_id]
    # the HTTP/0.9 request line and the HTTP/3.0 version are refused after the rules saw them
    assert results["920430-8"].status == 505
    assert 920430 in results["920430-8"].matched
    assert results["920430-3"].status == 400
