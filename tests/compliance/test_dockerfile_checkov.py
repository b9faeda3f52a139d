"""Agreement with Checkov's own Dockerfile fixtures (tests/data/compliance/dockerfile/checkov).

Each ``example_<CheckClass>/success*/`` file must pass the matching check and each
``failure*/`` file must fail it. docs/compliance-dockerfile-image.md reports the table
that :func:`agreement` computes; every claimed check must agree on at least 95%.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stockade.compliance.dockerfile import DOCKERFILE_CHECKS, check_dockerfile, read_dockerfile
from stockade.compliance.interface import Status

FIXTURES = Path(__file__).parent.parent / "data" / "compliance" / "dockerfile" / "checkov"


def _classes() -> dict[str, str]:
    with (FIXTURES / "check_class_to_id.tsv").open(newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {row["check_class"]: row["check_id"] for row in rows}


CLAIMED = {check.meta.references["checkov"]: check for check in DOCKERFILE_CHECKS}


def _cases() -> list[tuple[str, Path, Status]]:
    cases = []
    for check_class, checkov_id in sorted(_classes().items()):
        for case_dir in sorted((FIXTURES / f"example_{check_class}").iterdir()):
            expected = Status.PASSED if case_dir.name.startswith("success") else Status.FAILED
            cases.extend((checkov_id, f, expected) for f in sorted(case_dir.iterdir()))
    return cases


CASES = _cases()


def _verdict(checkov_id: str, path: Path) -> Status:
    results = check_dockerfile(read_dockerfile(path), [CLAIMED[checkov_id]])
    if any(r.status is Status.FAILED for r in results):
        return Status.FAILED
    return results[0].status


def agreement() -> dict[str, tuple[int, int]]:
    """checkov id → (fixtures agreeing, fixtures)."""
    table: dict[str, tuple[int, int]] = {}
    for checkov_id, path, expected in CASES:
        agreed, total = table.get(checkov_id, (0, 0))
        table[checkov_id] = (agreed + (_verdict(checkov_id, path) is expected), total + 1)
    return table


def test_every_checkov_dockerfile_check_is_claimed() -> None:
    assert set(_classes().values()) == set(CLAIMED)


def test_fixture_counts() -> None:
    assert len(CASES) == 34
    assert {c[0] for c in CASES} == set(CLAIMED)


@pytest.mark.parametrize(
    ("checkov_id", "path", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1].parent.name}/{c[1].name}" for c in CASES],
)
def test_fixture_verdict(checkov_id: str, path: Path, expected: Status) -> None:
    assert _verdict(checkov_id, path) is expected


def test_agreement_at_least_95_percent_per_check() -> None:
    for checkov_id, (agreed, total) in agreement().items():
        assert agreed / total >= 0.95, checkov_id
