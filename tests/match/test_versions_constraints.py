"""npm ranges (nodejs security-wg), RubyGems requirements (rubysec) and plain lists."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.match.versions import (
    AllOf,
    AnyOf,
    Comparator,
    InvalidConstraint,
    InvalidVersion,
    Operator,
    parse_constraint,
    parse_gem_requirements,
    parse_npm_range,
    satisfies,
    scheme_for,
)

NPM = scheme_for("npm")
GEMS = scheme_for("RubyGems")


# (module, vulnerable_versions or patched_versions as the advisory writes it, version, in range)
NODE_SECURITY_WG = [
    ("bassmaster", "<=1.5.1", "1.5.1", True),
    ("bassmaster", "<=1.5.1", "1.5.2", False),
    ("bassmaster", ">=1.5.2", "1.5.2", True),
    ("lodash", "<=4.17.15", "4.17.15", True),
    ("lodash", "<=4.17.15", "4.17.16", False),
    ("", ">=1.0.0 <1.2.3 || >=2.0.0 <2.0.1", "1.2.2", True),
    ("", ">=1.0.0 <1.2.3 || >=2.0.0 <2.0.1", "1.2.3", False),
    ("", ">=1.0.0 <1.2.3 || >=2.0.0 <2.0.1", "2.0.0", True),
    ("", ">=1.0.0 <1.2.3 || >=2.0.0 <2.0.1", "2.0.1", False),
    ("", "< 3.1.3  || >= 4.0.0 <4.1.1", "3.1.2", True),
    ("", "< 3.1.3  || >= 4.0.0 <4.1.1", "4.1.0", True),
    ("", "< 3.1.3  || >= 4.0.0 <4.1.1", "4.1.1", False),
    ("", "^1.1.7 || >= 2.0.1", "1.9.9", True),
    ("", "^1.1.7 || >= 2.0.1", "2.0.0", False),
    ("", "^1.1.7 || >= 2.0.1", "1.1.6", False),
    ("", "^2.0.18 || ^3.0.16 || ^3.1.6 || ^4.0.8 || ^5.0.0-beta.5", "3.0.17", True),
    ("", "^2.0.18 || ^3.0.16 || ^3.1.6 || ^4.0.8 || ^5.0.0-beta.5", "4.0.7", False),
    ("", "^2.0.18 || ^3.0.16 || ^3.1.6 || ^4.0.8 || ^5.0.0-beta.5", "5.0.0-beta.6", True),
    ("", "~0.2.2 || >=0.3.2", "0.2.9", True),
    ("", "~0.2.2 || >=0.3.2", "0.3.1", False),
    ("", "~1.6.5 || >=1.7.2", "1.7.1", False),
    ("", "2.0.x || 2.1.x", "2.1.7", True),
    ("", "2.0.x || 2.1.x", "2.2.0", False),
    ("", ">= 1.x", "1.0.0", True),
    ("", ">= 2.2.x", "2.1.9", False),
    ("", "<3.11 || >= 4 <4.5", "3.10.9", True),
    ("", "<3.11 || >= 4 <4.5", "3.11.0", False),
    ("", "<3.11 || >= 4 <4.5", "4.4.0", True),
    ("", ">=3.4.6 < 4.0.0|| >=4.0.5", "4.0.5", True),
    ("", "<=0.9.4 || 1.0.0", "1.0.0", True),
    ("", "<=0.9.4 || 1.0.0", "1.0.1", False),
    ("", "=3.10.1 || >=3.10.3", "3.10.2", False),
    ("", ">=v2.0.0-alpha8", "2.0.0-alpha9", True),
    ("", "<=v2.0.0-alpha7", "2.0.0-alpha8", False),
    ("", "2.1.0-M1 || 2.1.0-M2", "2.1.0-M2", True),
    ("", ">= 0.2.0 <= 0.9.6 || ~0.8.0-pre", "0.8.0-pre", True),
    ("", "*", "0.0.1", True),
    ("", "<=2.0.0-rc7", "2.0.0-rc.1", True),  # "rc" < "rc7", so rc.1 < rc7
    ("", "<=2.0.0-rc7", "2.0.0-rc8", False),
]


@pytest.mark.parametrize(("module", "text", "version", "expected"), NODE_SECURITY_WG)
def test_node_security_wg_ranges(module: str, text: str, version: str, expected: bool) -> None:
    assert satisfies(version, parse_npm_range(text), NPM) is expected, (module, text, version)


@pytest.mark.parametrize(
    ("text", "desugared"),
    [
        ("^1.2.3", ">=1.2.3 <2.0.0-0"),
        ("^0.2.3", ">=0.2.3 <0.3.0-0"),
        ("^0.0.3", ">=0.0.3 <0.0.4-0"),
        ("^1.2.x", ">=1.2.0 <2.0.0-0"),
        ("^0.0.x", ">=0.0.0 <0.1.0-0"),
        ("^0.x", ">=0.0.0 <1.0.0-0"),
        ("~1.2.3", ">=1.2.3 <1.3.0-0"),
        ("~1.2", ">=1.2.0 <1.3.0-0"),
        ("~1", ">=1.0.0 <2.0.0-0"),
        ("1.2.x", ">=1.2.0 <1.3.0-0"),
        ("1.x", ">=1.0.0 <2.0.0-0"),
        ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
        ("1.2 - 2.3", ">=1.2.0 <2.4.0-0"),
        (">1.2", ">=1.3.0"),
        ("<=1.2", "<1.3.0-0"),
        ("<1.2", "<1.2.0-0"),
        ("", ">=0.0.0-0"),
        ("<*", "<0.0.0-0"),
    ],
)
def test_npm_sugar(text: str, desugared: str) -> None:
    assert str(parse_npm_range(text)) == desugared


def test_npm_prereleases_are_in_range_when_they_sort_inside_it() -> None:
    assert satisfies("4.17.15-beta.1", parse_npm_range("<=4.17.15"), NPM)
    assert not satisfies("2.0.0-rc.1", parse_npm_range("^1.1.7"), NPM)


@pytest.mark.parametrize("text", ["latest", ">=", "1.2.3 -", "^x.y.z.w", ">=1.0.0 <2.0.0 ||| 3"])
def test_bad_npm_ranges_raise(text: str) -> None:
    with pytest.raises(InvalidConstraint):
        parse_npm_range(text)


# rubysec: (gem, advisory, patched_versions, version, patched?)
RUBYSEC = [
    ("actionpack", "CVE-2008-7248", ["~> 2.1.3", ">= 2.2.2"], "2.1.3", True),
    ("actionpack", "CVE-2008-7248", ["~> 2.1.3", ">= 2.2.2"], "2.1.9", True),
    ("actionpack", "CVE-2008-7248", ["~> 2.1.3", ">= 2.2.2"], "2.2.1", False),
    ("actionpack", "CVE-2008-7248", ["~> 2.1.3", ">= 2.2.2"], "2.2.2", True),
    ("actionpack", "CVE-2008-7248", ["~> 2.1.3", ">= 2.2.2"], "2.1.2", False),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "5.2.4.2", False),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "5.2.4.3", True),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "5.2.8", True),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "5.3.0", False),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "6.0.3", False),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "6.0.3.1", True),
    ("activerecord", "", ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"], "6.0.3.rc1", False),
    ("rails", "", ["~> 3.1.0.rc5"], "3.1.0.rc6", True),
    ("rails", "", ["~> 3.1.0.rc5"], "3.1.0", True),
    ("rails", "", ["~> 3.1.0.rc5"], "3.2.0", False),
    ("rack", "", ["< 2.1.0pre1"], "2.0.9", True),
    ("nokogiri", "", [">= 7.0.0-rc3"], "7.0.0", True),
]


@pytest.mark.parametrize(("gem", "advisory", "patched", "version", "expected"), RUBYSEC)
def test_rubysec_requirements(
    gem: str, advisory: str, patched: list[str], version: str, expected: bool
) -> None:
    constraint = parse_gem_requirements(patched)
    assert satisfies(version, constraint, GEMS) is expected, (gem, advisory, version)


def test_pessimistic_operator_ignores_prerelease_parts_of_the_upper_bound() -> None:
    # Gem::Requirement "~> 5.2.4" is ">= 5.2.4" and "release < 5.3": 5.3.0.beta1 is out
    assert not satisfies("5.3.0.beta1", parse_gem_requirements("~> 5.2.4"), GEMS)
    assert satisfies("5.2.99", parse_gem_requirements("~> 5.2.4"), GEMS)
    assert satisfies("5.9", parse_gem_requirements("~> 5.2"), GEMS)
    assert not satisfies("6.0", parse_gem_requirements("~> 5.2"), GEMS)
    assert satisfies("5.0.0", parse_gem_requirements("5.0"), GEMS)  # no operator means "="


@pytest.mark.parametrize("requirements", [[], ["~>"], ["> = 1.0"], ["1.0 || 2.0"]])
def test_bad_gem_requirements_raise(requirements: list[str]) -> None:
    with pytest.raises(InvalidConstraint):
        parse_gem_requirements(requirements)


@pytest.mark.parametrize(
    ("ecosystem", "text", "version", "expected"),
    [
        ("PyPI", ">=2.0, <2.31.0", "2.30.0", True),
        ("PyPI", ">=2.0, <2.31.0", "2.31.0", False),
        ("PyPI", "<1.0 || >=2.0,<2.1", "2.0.5", True),
        ("PyPI", "==1.2.3", "1.2.3.0", True),
        ("PyPI", "!=1.2.3", "1.2.3", False),
        ("Debian", "< 1.2.3-4", "1.2.3-3+deb12u1", True),
        ("Red Hat", ">= 1.0-1.el9 < 1.0-5.el9", "1.0-4.el9_2", True),
        ("Maven", "<2.15.0", "2.15.0-rc1", True),
        ("NuGet", "1.0.0", "1.0", True),
        ("Packagist", ">=5.0 <5.4.2", "5.4.2-beta1", True),
    ],
)
def test_plain_constraints(ecosystem: str, text: str, version: str, expected: bool) -> None:
    assert satisfies(version, parse_constraint(text), scheme_for(ecosystem)) is expected


@pytest.mark.parametrize("text", ["", "||", ">= 1.0 ||", "<>1.0", "=> 1.0"])
def test_bad_plain_constraints_raise(text: str) -> None:
    with pytest.raises(InvalidConstraint):
        parse_constraint(text)


def test_empty_conjunctions_and_disjunctions_are_errors_not_silent_passes() -> None:
    with pytest.raises(InvalidConstraint):
        AllOf(())
    with pytest.raises(InvalidConstraint):
        AnyOf(())


def test_constraints_are_frozen_values() -> None:
    parsed = parse_constraint(">=1.0 <2.0")
    assert parsed == AnyOf(
        (AllOf((Comparator(Operator.GE, "1.0"), Comparator(Operator.LT, "2.0"))),)
    )
    assert hash(parsed) == hash(parse_constraint(">=1.0 <2.0"))


def test_a_bad_version_in_a_constraint_raises_when_evaluated() -> None:
    with pytest.raises(InvalidVersion):
        satisfies("1.0.0", parse_constraint("<banana"), NPM)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.xX*^~<>=| -v,abc", max_size=30))
def test_only_invalid_constraint_escapes_the_parsers(text: str) -> None:
    for parse in (parse_npm_range, parse_constraint, parse_gem_requirements):
        with contextlib.suppress(InvalidConstraint):
            parse(text)
