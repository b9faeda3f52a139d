from __future__ import annotations

import dataclasses

import pytest

from stockade.core.advisory import (
    Advisory,
    AdvisoryId,
    Affected,
    Cvss,
    Event,
    EventKind,
    FixState,
    Range,
    RangeType,
    Severity,
    ecosystem_base,
    normalize_package_name,
    worst_severity,
)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("important", Severity.HIGH),
        ("moderate", Severity.MEDIUM),
        ("medium**", Severity.MEDIUM),
        ("low**", Severity.LOW),
        ("unimportant", Severity.NEGLIGIBLE),
        ("negligible", Severity.NEGLIGIBLE),
        ("not yet assigned", Severity.UNKNOWN),
        ("end-of-life", Severity.UNKNOWN),
        ("untriaged", Severity.UNKNOWN),
        ("", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
        ("something else", Severity.UNKNOWN),
    ],
)
def test_severity_parses_the_words_feeds_use(word: str | None, expected: Severity) -> None:
    assert Severity.parse(word) is expected


def test_severities_are_ordered_and_print_lowercase() -> None:
    assert (
        Severity.UNKNOWN
        < Severity.NEGLIGIBLE
        < Severity.LOW
        < Severity.MEDIUM
        < Severity.HIGH
        < Severity.CRITICAL
    )
    assert str(Severity.HIGH) == "high"
    assert worst_severity([None, Severity.LOW, Severity.HIGH]) is Severity.HIGH
    assert worst_severity([]) is Severity.UNKNOWN


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Severity.NEGLIGIBLE),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
        (float("nan"), Severity.UNKNOWN),
    ],
)
def test_cvss_ratings(score: float, expected: Severity) -> None:
    assert Severity.from_cvss_score(score) is expected


def test_fix_states_are_the_documented_words() -> None:
    assert [state.value for state in FixState] == [
        "fixed",
        "not-fixed",
        "wont-fix",
        "not-affected",
        "unknown",
    ]


@pytest.mark.parametrize(
    ("vector", "version", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "3.1", 10.0),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 8.1),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5),
        ("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", "2.0", 7.5),
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5),
    ],
)
def test_cvss_scores_are_computed_from_the_vector(vector: str, version: str, score: float) -> None:
    cvss = Cvss.from_vector(vector)
    assert cvss.version == version
    assert cvss.base_score == score
    assert cvss.vector is not None
    assert cvss.severity is Severity.from_cvss_score(score)


@pytest.mark.parametrize(
    "vector",
    [
        "",
        "garbage",
        "CVSS:3.1/AV:N",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:9.9/AV:N/AC:L",
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:U/A:U",
        "A" * 10_000,
    ],
)
def test_invalid_cvss_vectors_raise_value_error(vector: str) -> None:
    with pytest.raises(ValueError, match="CVSS"):
        Cvss.from_vector(vector)


def test_cvss_from_a_bare_score() -> None:
    assert Cvss.from_score(3, 7.45) == Cvss(version="3", vector=None, base_score=7.5)
    for major, score in ((3, -1.0), (3, 10.5), (5, 5.0), (3, float("inf"))):
        with pytest.raises(ValueError, match="CVSS"):
            Cvss.from_score(major, score)


def test_package_names_normalise_per_ecosystem() -> None:
    assert normalize_package_name("PyPI", "Zope.Interface") == "zope-interface"
    assert normalize_package_name("NuGet", "Newtonsoft.Json") == "newtonsoft.json"
    assert normalize_package_name("npm", "JSONStream") == "JSONStream"
    assert normalize_package_name("Debian:12", "OpenSSL") == "OpenSSL"
    assert ecosystem_base("Ubuntu:22.04:LTS") == "Ubuntu"
    assert ecosystem_base("Go") == "Go"


def _affected(ecosystem: str, name: str) -> Affected:
    events = (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, "1.2"))
    return Affected(ecosystem, name, ranges=(Range(RangeType.ECOSYSTEM, events),))


def test_an_advisory_finds_its_entries_for_a_package() -> None:
    advisory = Advisory(
        id=AdvisoryId("CVE-2024-1"),
        source="test",
        aliases=("GHSA-xxxx-xxxx-xxxx",),
        affected=(
            _affected("Debian:11", "openssl"),
            _affected("Debian:12", "openssl"),
            _affected("PyPI", "Foo_Bar"),
        ),
    )
    assert advisory.ids == ("CVE-2024-1", "GHSA-xxxx-xxxx-xxxx")
    assert [a.ecosystem for a in advisory.affected_for("Debian", "openssl")] == [
        "Debian:11",
        "Debian:12",
    ]
    assert [a.release for a in advisory.affected_for("Debian:12", "openssl")] == ["12"]
    assert len(advisory.affected_for("PyPI", "foo.bar")) == 1
    assert advisory.affected_for("npm", "openssl") == ()
    assert advisory.affected[2].release is None
    assert advisory.affected[0].ecosystem_base == "Debian"
    assert advisory.affected[0].ranges[0].values(EventKind.FIXED) == ("1.2",)


def test_records_are_frozen_and_hashable() -> None:
    entry = _affected("Go", "golang.org/x/net")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"  # type: ignore[misc]
    advisory = Advisory(id=AdvisoryId("GO-1"), source="osv", affected=(entry,))
    assert hash(advisory) == hash(dataclasses.replace(advisory))
    assert RangeType.NPM_CONSTRAINT.is_constraint
    assert RangeType.GEM_CONSTRAINT.is_constraint
    assert not RangeType.SEMVER.is_constraint
