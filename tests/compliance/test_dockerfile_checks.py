"""Dockerfile checks beyond Checkov's fixtures: lines, multi-stage, the edge cases."""

from __future__ import annotations

import pytest

from stockade.compliance.dockerfile import (
    DOCKERFILE_CHECKS,
    DOCKERFILE_CHECKS_BY_ID,
    check_dockerfile,
    parse_dockerfile,
)
from stockade.compliance.interface import Result, Status, Target


def _run(check_id: str, text: str) -> list[Result]:
    check = DOCKERFILE_CHECKS_BY_ID[check_id]
    return check_dockerfile(parse_dockerfile(text, "Dockerfile"), [check])


def _failed_lines(check_id: str, text: str) -> list[int | None]:
    return [r.line for r in _run(check_id, text) if r.status is Status.FAILED]


def test_registry() -> None:
    ids = [c.id for c in DOCKERFILE_CHECKS]
    assert ids == [f"STK-DF-{n:03d}" for n in range(1, 12)]
    for n, check in enumerate(DOCKERFILE_CHECKS, start=1):
        assert check.meta.references["checkov"] == f"CKV_DOCKER_{n}"
        assert check.meta.target is Target.DOCKERFILE
        assert check.meta.rationale
        assert check.meta.remediation


def test_results_carry_file_and_line() -> None:
    results = check_dockerfile(parse_dockerfile("FROM a:1\nADD x /x\n", "app/Dockerfile"))
    add = next(r for r in results if r.check.id == "STK-DF-004")
    assert (add.status, add.file, add.resource, add.line) == (
        Status.FAILED,
        "app/Dockerfile",
        "app/Dockerfile",
        2,
    )


def test_expose_ranges_and_protocols() -> None:
    text = "FROM a:1\nEXPOSE 80\nEXPOSE 20-25/tcp 22/udp\n"
    assert _failed_lines("STK-DF-001", text) == [3, 3]


def test_user_only_in_builder_stage_fails() -> None:
    text = "FROM a:1 AS build\nUSER app\nFROM b:1\nCOPY --from=build /x /x\n"
    assert _failed_lines("STK-DF-003", text) == [3]
    # ...but a final stage built on a stage with USER inherits it.
    assert _failed_lines("STK-DF-003", "FROM a:1 AS base\nUSER app\nFROM base\n") == []


def test_last_user_root_variants() -> None:
    assert _failed_lines("STK-DF-008", "FROM a:1\nUSER app\nUSER 0:0\n") == [3]
    assert _failed_lines("STK-DF-008", "FROM a:1\nUSER root:root\nUSER app\n") == []


def test_healthcheck_none_fails() -> None:
    assert _failed_lines("STK-DF-002", "FROM a:1\nHEALTHCHECK NONE\n") == [2]


@pytest.mark.parametrize(
    ("run", "fails"),
    [
        ("apt-get update", True),
        ("apt-get update && apt-get install -y x", False),
        ("apt-get install -y x && apt-get update", True),
        ("apk --update add x", False),
        ("zypper refresh; zypper in -y x", False),
        ("echo apt-get update", False),
    ],
)
def test_update_not_alone(run: str, fails: bool) -> None:
    assert _failed_lines("STK-DF-005", f"FROM a:1\nRUN {run}\n") == ([2] if fails else [])


@pytest.mark.parametrize(
    ("run", "fails"),
    [
        ("apt install x", True),
        ("sudo apt update", True),
        ("/usr/bin/apt install x", True),
        ("rm -rf /var/lib/apt", False),
        ("apt-get install x", False),
        ("apt-cache policy", False),
    ],
)
def test_apt(run: str, fails: bool) -> None:
    assert _failed_lines("STK-DF-009", f"FROM a:1\nRUN {run}\n") == ([2] if fails else [])


@pytest.mark.parametrize(
    ("base", "fails"),
    [
        ("alpine", True),
        ("alpine:latest", True),
        ("registry:5000/alpine", True),
        ("registry:5000/alpine:3.20", False),
        ("alpine@sha256:" + "a" * 64, False),
        ("scratch", False),
    ],
)
def test_base_image_pinned(base: str, fails: bool) -> None:
    assert _failed_lines("STK-DF-007", f"FROM {base}\n") == ([1] if fails else [])


def test_base_image_from_build_args() -> None:
    assert _failed_lines("STK-DF-007", "ARG TAG=latest\nFROM alpine:${TAG}\n") == [2]
    assert _failed_lines("STK-DF-007", "ARG TAG=3.20\nFROM alpine:$TAG\n") == []
    results = _run("STK-DF-007", "ARG IMAGE\nFROM ${IMAGE}\n")
    assert [r.status for r in results] == [Status.SKIPPED]


def test_workdir_lines() -> None:
    text = "FROM a:1\nWORKDIR /app\nWORKDIR sub\nWORKDIR $HOME\nWORKDIR C:/x\n"
    assert _failed_lines("STK-DF-010", text) == [3]


def test_workdir_checkov_failure_fixture_lines() -> None:
    text = 'FROM a:1\nWORKDIR /x\nWORKDIR workdir\nWORKDIR "../workdir"\n'
    assert _failed_lines("STK-DF-010", text) == [3, 4]


def test_alias_unique_case_insensitive() -> None:
    assert _failed_lines("STK-DF-011", "FROM a:1 AS B\nFROM a:1 as b\n") == [2]


def test_add_message_names_the_download() -> None:
    results = _run("STK-DF-004", "FROM a:1\nADD https://example.com/x.tgz /opt/\n")
    assert results[0].message == "ADD downloads https://example.com/x.tgz"


def test_public_names_are_complete() -> None:
    import stockade.compliance.dockerfile as dockerfile_api
    import stockade.compliance.image as image_api

    for module in (dockerfile_api, image_api):
        public = {n for n in vars(module) if not n.startswith("_")}
        public -= {"annotations", "check", "checks", "errors", "facts", "load", "parser"}
        public -= {"registry", "shell"}
        assert public <= set(module.__all__), module.__name__
        assert all(hasattr(module, name) for name in module.__all__)
