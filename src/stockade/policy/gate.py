"""The CI gate: which findings to show, and whether what remains fails the build.

Both are pure functions of the findings, so the CLI, the admission webhook and a library
user reach the same verdict from the same data.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from stockade.core.advisory import FixState, Severity
from stockade.core.finding import Finding


def has_fix(finding: Finding) -> bool:
    """Whether a fixed version exists (the feed names one, or says the fix shipped)."""
    return bool(finding.fixed_versions) or finding.fix_state is FixState.FIXED


def filter_findings(
    findings: Iterable[Finding],
    severities: Collection[Severity] | None,
    ignore_unfixed: bool,
) -> tuple[Finding, ...]:
    """The findings to report: only the given severities (None: all), and with
    ``ignore_unfixed`` only those a fixed version exists for. Order is kept; suppressed
    findings are filtered like any other, so the report still shows why they are quiet.
    """
    return tuple(
        f
        for f in findings
        if (severities is None or f.severity in severities) and (not ignore_unfixed or has_fix(f))
    )


def failing_findings(findings: Iterable[Finding], fail_on: Severity | None) -> tuple[Finding, ...]:
    """The active (not suppressed) findings at or above ``fail_on``; none when it is None."""
    if fail_on is None:
        return ()
    return tuple(f for f in findings if f.suppressed is None and f.severity >= fail_on)


def verdict(findings: Iterable[Finding], fail_on: Severity | None) -> bool:
    """True when the gate passes: no active finding at or above ``fail_on`` remains.

    ``fail_on`` None never fails. Severities are ordered (``UNKNOWN`` lowest), so
    ``fail_on=Severity.LOW`` fails on low, medium, high and critical findings but not on
    ones whose severity is unknown; pass ``Severity.UNKNOWN`` to fail on any finding.
    Suppressed findings (ignored, or not affected per VEX) never fail the gate.
    """
    return not failing_findings(findings, fail_on)
