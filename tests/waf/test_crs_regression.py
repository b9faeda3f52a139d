"""CRS's go-ftw regression cases run against the engine in-process (see docs/waf.md).

The YAML cases and the overrides files are copied in tests/data/waf/crs/ (Apache-2.0, with
CRS's LICENSE). The bar is Coraza's: at least 95% of the stages that check the log agree.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from stockade.waf.ftw import EngineTarget, Report, Stage, build_request, load_stages, run

CASES = Path(__file__).parent.parent / "data" / "waf" / "crs" / "regression"


@functools.cache
def _report() -> Report:
    return run(EngineTarget.with_crs(), list(load_stages(CASES)))


def test_every_case_loads() -> None:
    stages = list(load_stages(CASES))
    assert len(stages) > 5000
    assert sum(1 for s in stages if s.checks_log) > 4900


def test_agreement_is_at_least_95_percent() -> None:
    report = _report()
    assert len(report.results) > 4900
    assert report.rate >= 0.95, f"{report.passed}/{len(report.results)}"


def test_every_rule_file_is_exercised() -> None:
    per_file = _report().by_file()
    assert "REQUEST-942-APPLICATION-ATTACK-SQLI" in per_file
    assert all(total > 0 for _, total in per_file.values())


def test_encoded_request_is_parsed_from_raw_http() -> None:
    stage = next(
        s
        for s in load_stages(CASES / "REQUEST-920-PROTOCOL-ENFORCEMENT")
        if s.test_id == "920171-2"
    )
    request = build_request(stage.input)
    assert request.method == "GET"
    assert request.body == b"Hi CRS"


@pytest.mark.parametrize("test_id", ["942100-1", "941100-1", "932230-1"])
def test_known_attacks_match(test_id: str) -> None:
    stage: Stage = next(s for s in load_stages(CASES) if s.test_id == test_id)
    result = next(r for r in _report().results if r.stage == stage)
    assert result.passed
    assert stage.expect_ids <= result.matched
