"""``stockade defender rules check``: what loads, what is disabled, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockade.cli.main import main

DATA = Path(__file__).parents[1] / "data" / "runtime"
STABLE = DATA / "falco-rules" / "falco_rules.yaml"
LEGACY = DATA / "falco-legacy-regression" / "rules"


def test_the_stable_rules_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["defender", "rules", "check", str(STABLE)]) == 0
    out = capsys.readouterr().out
    assert "25 rules, 20 loaded, 5 disabled (5 unobserved_event_types), 0 errors" in out
    assert (
        "disabled: rule 'PTRACE anti-debug attempt': matches only event types our sensors "
        "do not report: ptrace"
    ) in out


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = DATA / "falco-rules" / "falco-sandbox_rules.yaml"
    assert main(["defender", "rules", "check", "-f", "json", str(sandbox)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["files"][0]["loaded"] == len(report["loaded"]) == 23
    [mounts] = [d for d in report["disabled"] if d["kind"] == "unsupported_fields"]
    assert "container.mount.dest[/proc*]" in mounts["missing_fields"]
    assert isinstance(mounts["line"], int)


def test_errors_exit_1_with_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    files = [LEGACY / "invalid_base_macro.yaml", LEGACY / "invalid_append_macro.yaml"]
    assert main(["defender", "rules", "check", *map(str, files)]) == 1
    captured = capsys.readouterr()
    assert (
        f"{files[1]}:1: error: macro 'some macro': condition: expected 'and', 'or'" in captured.out
    )
    assert "[LOAD_ERR_COMPILE_CONDITION]" in captured.out
    assert "[LOAD_UNUSED_MACRO]" in captured.out
    assert "1 error(s) in the rules files" in captured.err


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["defender", "rules", "check", str(tmp_path / "nope.yaml")]) == 2
    assert main(["defender", "rules", "check"]) == 2
