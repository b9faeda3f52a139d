"""`stockade policy test`: Gatekeeper suites, per-case lines, and the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockade.cli.main import main

LIBRARY = Path(__file__).parents[1] / "data" / "admission" / "gatekeeper-library" / "library"


def test_a_passing_suite_exits_0_with_a_line_per_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "test", str(LIBRARY / "general" / "allowedrepos")]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS  ") == 5
    assert "allowed-repos / container-disallowed" in out
    assert "5 cases: 5 passed, 0 failed, 0 skipped" in out


def test_json_lists_each_case_with_its_violations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", "-f", "json", str(LIBRARY / "general" / "allowedrepos")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"total": 5, "passed": 5, "failed": 0, "skipped": 0}
    disallowed = next(c for c in report["cases"] if c["case"] == "container-disallowed")
    assert disallowed["status"] == "pass"
    assert any("has an invalid image repo" in v for v in disallowed["violations"])


def test_a_failing_case_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "allowedrepos"
    shutil.copytree(LIBRARY / "general" / "allowedrepos", policy)
    suite = policy / "suite.yaml"
    # Claim the allowed example violates: the engine must disagree.
    text = suite.read_text()
    suite.write_text(text.replace("violations: no", "violations: yes", 1))
    assert main(["policy", "test", str(policy)]) == 1
    captured = capsys.readouterr()
    assert "FAIL  " in captured.out
    assert "expected at least one violation, got 0" in captured.out
    assert "1 of 5 policy test cases failed" in captured.err


def test_no_suite_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(tmp_path)]) == 2
    assert "no suite.yaml" in capsys.readouterr().err


def test_a_malformed_suite_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text("kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\ntests: {a: [\n")
    assert main(["policy", "test", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert str(suite) in err
    assert "Traceback" not in err


def test_a_suite_with_a_broken_template_fails_its_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "allowedrepos"
    shutil.copytree(LIBRARY / "general" / "allowedrepos", policy)
    template = policy / "template.yaml"
    template.write_text(template.read_text().replace("violation[", "violation[[", 1))
    assert main(["policy", "test", str(policy)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL  ") == 5
    assert "does not compile" in out
