"""Falco's legacy regression suite, rule-loading half: what must load, warn or fail.

Each case of ``falco_tests.yaml`` and ``falco_tests_exceptions.yaml`` names rules files
and what Falco said about them. Cases with ``validate_rules_file`` are checked whole: every
expected error and warning must be reported by us with the same item type, item name and
Falco code (the wording is ours), and the load fails exactly when Falco's did. Cases that
run rules over a capture (``rules_file`` and ``trace_file``) are checked for their loading
half: the rules must load without errors. The rest depend on captures that are not here
or on Falco's own configuration and command line; docs/runtime-rules.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockade.runtime.rules import LoadedRules, load_rules

SUITE = Path(__file__).parents[1] / "data" / "runtime" / "falco-legacy-regression"
FILES = ("falco_tests.yaml", "falco_tests_exceptions.yaml")


class _SuiteLoader(yaml.SafeLoader):
    """Avocado's ``!mux`` tag marks a mapping of variants; it is a plain mapping here."""


_SuiteLoader.add_constructor(
    "!mux",
    lambda loader, node: loader.construct_mapping(node),  # type: ignore[arg-type]
)

_CLI_ONLY = ("disable_tags", "run_tags", "disabled_rules", "priority", "all_events")


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in FILES:
        document = yaml.load((SUITE / name).read_text(), Loader=_SuiteLoader)  # noqa: S506
        yield from document["trace_files"].items()


def _files(value: str | list[str] | None) -> list[Path]:
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    return [SUITE / name for name in names]


def classify(spec: dict[str, Any]) -> tuple[str, str]:
    """(``validate``, ``load`` or ``skip``, and for ``skip`` the reason)."""
    if "validate_rules_file" in spec:
        return "validate", ""
    if "rules_file" not in spec:
        return "skip", "runs Falco's default rules over a capture that is not available"
    if "conf_file" in spec:
        return "skip", "checks Falco's configuration (outputs, drop handling), not rules"
    if spec.get("exit_status") == 1:
        return "skip", "checks Falco's command-line options (-D/-t), not rules"
    return "load", ""


CASES = sorted(_cases())
VALIDATE = [(n, s) for n, s in CASES if classify(s)[0] == "validate"]
LOAD = [(n, s) for n, s in CASES if classify(s)[0] == "load"]


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (str(entry["item_type"]), str(entry["item_name"]), str(entry["code"]))


def _check_validate(spec: dict[str, Any], loaded: LoadedRules) -> list[str]:
    problems: list[str] = []
    ours_errors = {(e.item_type, e.item_name, e.code) for e in loaded.errors}
    ours_warnings = {(w.item_type, w.item_name, w.code) for w in loaded.warnings}
    for expected in spec.get("validate_errors", []):
        if _key(expected) not in ours_errors:
            problems.append(f"missing error {_key(expected)}; ours: {sorted(ours_errors)}")
    for expected in spec.get("validate_warnings", []):
        if _key(expected) not in ours_warnings:
            problems.append(f"missing warning {_key(expected)}")
    fails = spec.get("exit_status", 0) == 1
    if fails != (not loaded.ok):
        problems.append(f"Falco exit status {spec.get('exit_status', 0)}, our errors {ours_errors}")
    for ok_file in spec.get("validate_ok", []):
        blamed = [e for e in loaded.errors if Path(e.file).name == ok_file]
        if blamed:
            problems.append(f"{ok_file} validates alone in Falco; we blame it: {blamed}")
    return problems


@pytest.mark.parametrize(("case", "spec"), VALIDATE, ids=[n for n, _ in VALIDATE])
def test_validation_case_agrees_with_falco(case: str, spec: dict[str, Any]) -> None:
    loaded = load_rules(_files(spec["validate_rules_file"]))
    assert _check_validate(spec, loaded) == []


@pytest.mark.parametrize(("case", "spec"), LOAD, ids=[n for n, _ in LOAD])
def test_rules_of_a_detection_case_load(case: str, spec: dict[str, Any]) -> None:
    loaded = load_rules(_files(spec["rules_file"]))
    assert loaded.errors == ()


def test_the_suite_is_read_whole() -> None:
    # The figures in docs/runtime-rules.md: 134 cases, 41 validated whole, 76 loaded.
    skipped = [n for n, s in CASES if classify(s)[0] == "skip"]
    assert (len(CASES), len(VALIDATE), len(LOAD), len(skipped)) == (134, 41, 76, 17)
