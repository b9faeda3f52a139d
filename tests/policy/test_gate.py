"""The CI gate: severity filter, unfixed filter, and the verdict on what remains."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.policy.samples import (
    BABEL_GHSA,
    EVIL_FINDING,
    FINDINGS,
    IGNORED_FINDING,
    NOT_AFFECTED_FINDING,
    OPENSSL_CVE,
    UNKNOWN_FINDING,
    ZLIB_CVE,
    findings,
)

from stockade.core.advisory import FixState, Severity
from stockade.core.finding import Finding
from stockade.policy.gate import failing_findings, filter_findings, has_fix, verdict


def test_no_filters_keep_everything_in_order() -> None:
    assert filter_findings(FINDINGS, None, ignore_unfixed=False) == FINDINGS


def test_severities_keep_only_those_severities() -> None:
    kept = filter_findings(FINDINGS, {Severity.CRITICAL, Severity.HIGH}, ignore_unfixed=False)
    assert kept == (ZLIB_CVE, BABEL_GHSA, EVIL_FINDING)
    assert filter_findings(FINDINGS, set(), ignore_unfixed=False) == ()
    # suppressed findings are filtered like the others, not dropped for being suppressed
    assert filter_findings(FINDINGS, {Severity.LOW}, ignore_unfixed=False) == (
        NOT_AFFECTED_FINDING,
    )


def test_ignore_unfixed_keeps_only_findings_with_a_fix() -> None:
    kept = filter_findings(FINDINGS, None, ignore_unfixed=True)
    assert ZLIB_CVE not in kept  # won't fix
    assert EVIL_FINDING not in kept  # not fixed
    assert UNKNOWN_FINDING not in kept  # unknown
    assert OPENSSL_CVE in kept
    assert IGNORED_FINDING in kept


def test_has_fix_takes_a_fixed_state_without_versions_as_a_fix() -> None:
    assert has_fix(OPENSSL_CVE)
    assert has_fix(replace(OPENSSL_CVE, fixed_versions=()))  # state FIXED
    assert not has_fix(replace(OPENSSL_CVE, fixed_versions=(), fix_state=FixState.NOT_FIXED))
    assert has_fix(replace(ZLIB_CVE, fixed_versions=("1.3",)))


@pytest.mark.parametrize(
    ("fail_on", "passes"),
    [
        (None, True),
        (Severity.CRITICAL, False),  # zlib, babel
        (Severity.HIGH, False),
        (Severity.UNKNOWN, False),
    ],
)
def test_verdict_on_the_samples(fail_on: Severity | None, passes: bool) -> None:
    assert verdict(FINDINGS, fail_on) is passes


def test_suppressed_findings_never_fail_the_gate() -> None:
    # the only low finding is suppressed, the only medium ones too once ignored
    assert verdict([NOT_AFFECTED_FINDING, IGNORED_FINDING], Severity.UNKNOWN)
    assert failing_findings([NOT_AFFECTED_FINDING, IGNORED_FINDING], Severity.LOW) == ()


def test_the_threshold_is_inclusive_and_unknown_is_lowest() -> None:
    assert failing_findings(FINDINGS, Severity.HIGH) == (ZLIB_CVE, BABEL_GHSA, EVIL_FINDING)
    assert not verdict([OPENSSL_CVE], Severity.MEDIUM)
    assert verdict([OPENSSL_CVE], Severity.HIGH)
    assert verdict([UNKNOWN_FINDING], Severity.LOW)
    assert not verdict([UNKNOWN_FINDING], Severity.UNKNOWN)
    assert verdict([], Severity.UNKNOWN)


@given(st.lists(findings(), max_size=8), st.one_of(st.none(), st.sampled_from(Severity)))
def test_verdict_agrees_with_failing_findings(
    found: list[Finding], fail_on: Severity | None
) -> None:
    failing = failing_findings(found, fail_on)
    assert verdict(found, fail_on) is (not failing)
    assert all(f.suppressed is None for f in failing)
    if fail_on is not None:
        assert all(f.severity >= fail_on for f in failing)
        assert len(failing) == sum(
            1 for f in found if f.suppressed is None and f.severity >= fail_on
        )
