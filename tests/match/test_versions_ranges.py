"""OSV range evaluation, per https://ossf.github.io/osv-schema/#evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from stockade.match.versions import (
    AffectedRange,
    Event,
    EventKind,
    InvalidRange,
    InvalidVersion,
    RangeType,
    affected,
    scheme_for,
)


def ecosystem_range(*events: dict[str, str]) -> AffectedRange:
    return AffectedRange.from_osv({"type": "ECOSYSTEM", "events": list(events)})


def semver_range(*events: dict[str, str]) -> AffectedRange:
    return AffectedRange.from_osv({"type": "SEMVER", "events": list(events)})


def test_from_osv_builds_typed_events() -> None:
    built = AffectedRange.from_osv(
        {"type": "GIT", "repo": "https://example.org/r", "events": [{"introduced": "abc"}]}
    )
    assert built == AffectedRange(
        RangeType.GIT, (Event(EventKind.INTRODUCED, "abc"),), "https://example.org/r"
    )
    with pytest.raises(AttributeError):
        built.type = RangeType.SEMVER  # type: ignore[misc]


@pytest.mark.parametrize(
    "data",
    [
        {"type": "RANGE", "events": [{"introduced": "0"}]},
        {"type": "SEMVER"},
        {"type": "SEMVER", "events": []},
        {"type": "SEMVER", "events": [{"introduced": "1.0.0", "fixed": "1.0.2"}]},
        {"type": "SEMVER", "events": [{"patched": "1.0.0"}]},
        {"type": "SEMVER", "events": [{"introduced": 1}]},
        {"type": "SEMVER", "events": [{"fixed": "1.0.0"}]},
    ],
)
def test_from_osv_rejects_what_the_schema_forbids(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidRange):
        AffectedRange.from_osv(data)


# lodash, GHSA-p6mc-m468-83gw: introduced 0, fixed 4.17.20 (npm, ECOSYSTEM)
@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", True),
        ("4.17.19", True),
        ("4.17.20", False),
        ("4.17.21", False),
        ("4.17.20-rc.1", True),
    ],
)
def test_introduced_zero_and_fixed(version: str, expected: bool) -> None:
    lodash = ecosystem_range({"introduced": "0"}, {"fixed": "4.17.20"})
    assert affected(version, [lodash], scheme_for("npm")) is expected


# log4j-core, GHSA-jfh8-c2jp-5v3q (Maven): three ranges in one affected entry
LOG4SHELL = [
    ecosystem_range({"introduced": "2.13.0"}, {"fixed": "2.15.0"}),
    ecosystem_range({"introduced": "0"}, {"fixed": "2.3.1"}),
    ecosystem_range({"introduced": "2.4"}, {"fixed": "2.12.2"}),
]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0-beta9", True),
        ("2.3", True),
        ("2.3.1", False),
        ("2.4", True),
        ("2.12.1", True),
        ("2.12.2", False),
        ("2.12.4", False),
        ("2.13.0", True),
        ("2.14.1", True),
        ("2.15.0", False),
        ("2.17.1", False),
    ],
)
def test_log4shell_ranges(version: str, expected: bool) -> None:
    assert affected(version, LOG4SHELL, scheme_for("Maven")) is expected


# github.com/coder/coder/v2, GO-2024-3228: several introduced/fixed pairs in one SEMVER range
CODER = semver_range(
    {"introduced": "2.3.1"},
    {"fixed": "2.14.4"},
    {"introduced": "2.15.0"},
    {"fixed": "2.15.3"},
    {"introduced": "2.16.0"},
    {"fixed": "2.16.1"},
)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v2.3.0", False),
        ("v2.3.1", True),
        ("v2.14.3", True),
        ("v2.14.4", False),
        ("v2.14.9", False),
        ("v2.15.0", True),
        ("v2.15.3", False),
        ("v2.16.0", True),
        ("v2.16.1", False),
        ("v2.17.0", False),
    ],
)
def test_multiple_introduced_fixed_pairs(version: str, expected: bool) -> None:
    assert affected(version, [CODER], scheme_for("Go")) is expected


def test_unsorted_events_are_sorted_first() -> None:
    shuffled = semver_range(
        {"fixed": "2.16.1"},
        {"introduced": "2.15.0"},
        {"fixed": "2.14.4"},
        {"introduced": "2.16.0"},
        {"introduced": "2.3.1"},
        {"fixed": "2.15.3"},
    )
    for version in ("2.3.0", "2.3.1", "2.14.4", "2.15.1", "2.15.3", "2.16.0", "2.16.1"):
        assert affected(version, [shuffled], scheme_for("Go")) == affected(
            version, [CODER], scheme_for("Go")
        ), version


# py, PYSEC-2022-42969 (PyPI): introduced 0, last_affected 1.11.0
@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.8.0-alpha2", True), ("1.11.0", True), ("1.11.0.post1", False), ("1.11.1", False)],
)
def test_last_affected_is_inclusive(version: str, expected: bool) -> None:
    py = ecosystem_range({"introduced": "0"}, {"last_affected": "1.11.0"})
    assert affected(version, [py], scheme_for("PyPI")) is expected


def test_introduced_alone_affects_everything_from_there() -> None:
    unfixed = semver_range({"introduced": "0"})
    assert affected("0.0.0", [unfixed], scheme_for("Go"))
    assert affected("v99.0.0", [unfixed], scheme_for("Go"))
    later = semver_range({"introduced": "1.5.0"})
    assert not affected("1.4.9", [later], scheme_for("npm"))
    assert affected("1.5.0", [later], scheme_for("npm"))


def test_limit_bounds_the_range() -> None:
    limited = ecosystem_range({"introduced": "1.0.0"}, {"limit": "1.5.0"})
    npm = scheme_for("npm")
    assert not affected("0.9.0", [limited], npm)
    assert affected("1.0.0", [limited], npm)
    assert affected("1.4.9", [limited], npm)
    assert not affected("1.5.0", [limited], npm)
    assert not affected("2.0.0", [limited], npm)


def test_several_limits_and_infinity() -> None:
    npm = scheme_for("npm")
    two = ecosystem_range({"introduced": "1.0.0"}, {"limit": "1.5.0"}, {"limit": "3.0.0"})
    assert affected("2.0.0", [two], npm)
    assert not affected("3.0.0", [two], npm)
    star = ecosystem_range({"introduced": "1.0.0"}, {"limit": "*"})
    assert affected("99.0.0", [star], npm)


def test_a_fix_at_the_introduction_makes_an_empty_range() -> None:
    npm = scheme_for("npm")
    empty = ecosystem_range({"introduced": "1.0.0"}, {"fixed": "1.0.0"})
    assert not affected("1.0.0", [empty], npm)
    # ...while a fix followed by a new introduction at the same version stays contiguous
    joined = ecosystem_range(
        {"introduced": "1.0.0"}, {"fixed": "2.0.0"}, {"introduced": "2.0.0"}, {"fixed": "3.0.0"}
    )
    assert affected("2.0.0", [joined], npm)


def test_versions_list_alone() -> None:
    pypi = scheme_for("PyPI")
    assert affected("1.0.2", [], pypi, versions=["0.9.0", "1.0.2"])
    assert affected("1.0.2.0", [], pypi, versions=["1.0.2"])  # equal under PEP 440
    assert not affected("1.0.3", [], pypi, versions=["1.0.2", "not a version!"])


def test_git_ranges_are_ignored() -> None:
    git = AffectedRange.from_osv(
        {"type": "GIT", "repo": "https://example.org/r", "events": [{"introduced": "0"}]}
    )
    assert not affected("1.0.0", [git], scheme_for("npm"))


def test_ecosystem_ranges_use_the_scheme_given() -> None:
    # Debian:12 record for curl: introduced 0, fixed 7.66.0-1
    curl = ecosystem_range({"introduced": "0"}, {"fixed": "7.66.0-1"})
    debian = scheme_for("Debian:12")
    assert affected("7.64.0-4+deb10u2", [curl], debian)
    assert affected("7.66.0-1~bpo10+1", [curl], debian)
    assert not affected("7.66.0-1", [curl], debian)
    assert not affected("7.88.1-10+deb12u5", [curl], debian)


def test_semver_ranges_always_use_semver() -> None:
    # a SEMVER range under a scheme that orders differently still orders by SemVer
    prerelease = semver_range({"introduced": "0"}, {"fixed": "1.0.0"})
    assert affected("1.0.0-rc.1", [prerelease], scheme_for("RubyGems"))


def test_invalid_versions_raise() -> None:
    bad_event = ecosystem_range({"introduced": "0"}, {"fixed": "not a version"})
    with pytest.raises(InvalidVersion):
        affected("1.0.0", [bad_event], scheme_for("npm"))
    with pytest.raises(InvalidVersion):
        affected("latest", [ecosystem_range({"introduced": "0"})], scheme_for("npm"))
