"""scheme_for, the public API, scheme-specific cases the vectors do not cover, errors, speed."""

from __future__ import annotations

import pytest

from stockade.core.errors import StockadeError
from stockade.match import versions
from stockade.match.versions import (
    InvalidVersion,
    UnsupportedEcosystem,
    VersionError,
    VersionScheme,
    scheme_for,
)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(versions).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith(versions.__name__)
    }
    assert public <= set(versions.__all__)
    assert all(hasattr(versions, name) for name in versions.__all__)


@pytest.mark.parametrize(
    ("ecosystem", "scheme"),
    [
        ("Debian", "dpkg"),
        ("Debian:12", "dpkg"),
        ("Ubuntu:22.04", "dpkg"),
        ("Ubuntu:Pro:18.04:LTS", "dpkg"),
        ("Alpine:v3.18", "apk"),
        ("Red Hat", "rpm"),
        ("Red Hat:enterprise_linux:9::baseos", "rpm"),
        ("AlmaLinux", "rpm"),
        ("AlmaLinux:8", "rpm"),
        ("Rocky Linux", "rpm"),
        ("PyPI", "pep440"),
        ("npm", "npm"),
        ("Go", "go"),
        ("crates.io", "cargo"),
        ("Maven", "maven"),
        ("Maven:https://maven.google.com", "maven"),
        ("RubyGems", "rubygems"),
        ("Packagist", "composer"),
        ("NuGet", "nuget"),
        ("pypi", "pep440"),
    ],
)
def test_scheme_for_osv_ecosystems(ecosystem: str, scheme: str) -> None:
    assert scheme_for(ecosystem).name == scheme


def test_scheme_for_shares_one_scheme_per_ecosystem() -> None:
    assert scheme_for("Debian:11") is scheme_for("Debian:12")
    assert scheme_for("Debian") is scheme_for("Ubuntu:22.04")


@pytest.mark.parametrize("ecosystem", ["CRAN", "Hackage", "Pub", "GIT", "", "Debianish"])
def test_unknown_ecosystems_raise(ecosystem: str) -> None:
    with pytest.raises(UnsupportedEcosystem) as caught:
        scheme_for(ecosystem)
    assert isinstance(caught.value, StockadeError)
    assert "hint:" in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        ("Debian", ""),
        ("Debian", "   "),
        ("Debian", "1.2.3-not-a-debian:version!@#$"),
        ("Debian", "x:1.0"),
        ("Debian", "1.0-"),
        ("Debian", "1 0"),
        ("Debian", "abc"),
        ("Red Hat", ""),
        ("Alpine", ""),
        ("PyPI", "1.0 beta"),
        ("PyPI", "é"),
        ("npm", "latest"),
        ("npm", "1.2.3-"),
        ("npm", "1.2.3-a..b"),
        ("npm", "1.2.3+"),
        ("Go", "master"),
        ("Maven", "1.0 beta"),
        ("RubyGems", "beta"),
        ("RubyGems", "1.0/2"),
        ("Packagist", "1.0 beta"),
        ("Packagist", "1.0@dev"),
        ("NuGet", "1.2.3.4.5"),
        ("NuGet", "one"),
    ],
)
def test_invalid_versions_raise_invalid_version(ecosystem: str, version: str) -> None:
    scheme = scheme_for(ecosystem)
    with pytest.raises(InvalidVersion) as caught:
        scheme.key(version)
    error = caught.value
    assert isinstance(error, VersionError)
    assert isinstance(error, StockadeError)
    assert error.version == version
    assert repr(version) in error.message
    assert not scheme.is_valid(version)


def test_non_strings_are_invalid_versions() -> None:
    with pytest.raises(InvalidVersion):
        scheme_for("npm").key(1.2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ecosystem", "lower", "higher"),
    [
        # Debian: security and backport suffixes
        ("Debian:12", "2.36-9+deb12u3", "2.36-9+deb12u4"),
        ("Debian:12", "1.2.3-1~bpo12+1", "1.2.3-1"),
        ("Ubuntu:22.04", "1:2.0-1ubuntu1", "1:2.0-1ubuntu1.1"),
        ("Debian", "9:1.0", "10:0.1"),
        # rpm: epoch, tilde, caret, release
        ("Red Hat", "1.0~rc1-1.el9", "1.0-1.el9"),
        ("AlmaLinux", "1.0-1.el9", "1.0^20230101git-1.el9"),
        ("Rocky Linux", "3.10.0-1160.el7", "3.10.0-1160.2.1.el7"),
        ("Red Hat", "2.4-1.el9", "1:1.0-1.el9"),
        # apk
        ("Alpine:v3.18", "1.2.3_rc1-r0", "1.2.3-r0"),
        ("Alpine:v3.18", "1.2.3-r9", "1.2.3-r10"),
        ("Alpine:v3.18", "1.2.3-r0", "1.2.3_p1-r0"),
        # PEP 440 and legacy
        ("PyPI", "1.0.dev0", "1.0a1"),
        ("PyPI", "1.0", "1.0.post1"),
        ("PyPI", "2004d", "0.1"),
        ("PyPI", "1!0.1", "1!0.2"),
        # Go: v prefix, pseudo-versions, +incompatible
        ("Go", "v0.0.0-20191109021931-daa7c04131f5", "v0.0.0-20200101000000-aaaaaaaaaaaa"),
        ("Go", "v1.2.3", "v1.2.4-0.20200101000000-abcdefabcdef"),
        ("Go", "v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.4"),
        ("Go", "v2.0.0+incompatible", "v2.0.1+incompatible"),
        ("crates.io", "0.9.0", "0.10.0-alpha.1"),
        ("npm", "1.0.0-rc.9", "1.0.0-rc.10"),
        # Maven
        ("Maven", "1.0-SNAPSHOT", "1.0"),
        ("Maven", "1.0", "1.0-sp1"),
        ("Maven", "2.14.1", "2.15.0-rc1"),
        ("Maven", "2.15.0-rc1", "2.15.0"),
        # RubyGems
        ("RubyGems", "6.0.3.rc1", "6.0.3"),
        ("RubyGems", "5.2.4.3", "5.2.5"),
        # Composer
        ("Packagist", "5.4.0-beta1", "5.4.0-RC1"),
        ("Packagist", "v2.1.0", "2.1.1"),
        # NuGet
        ("NuGet", "4.0.0-preview1", "4.0.0"),
        ("NuGet", "4.0.0", "4.0.0.1"),
    ],
)
def test_known_orderings(ecosystem: str, lower: str, higher: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme.compare(lower, higher) == -1
    assert scheme.compare(higher, lower) == 1
    assert scheme.key(lower) < scheme.key(higher)


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"),
    [
        ("Go", "v1.2.3", "1.2.3"),
        ("Go", "v2.0.0+incompatible", "v2.0.0"),
        ("npm", "1.2.3+build.5", "1.2.3"),
        ("Debian", "1.0", "0:1.0-0"),
        ("Red Hat", "0:1.0-1", "1.0-1"),
        ("PyPI", "1.0", "1.0.0"),
        ("Maven", "1.0", "1.0.0.ga"),
        ("RubyGems", "1.0", "1"),
        ("NuGet", "1.0.0", "1.0"),
        ("NuGet", "1.0.0-RC1", "1.0.0-rc1"),
    ],
)
def test_known_equalities(ecosystem: str, a: str, b: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme.compare(a, b) == 0
    assert scheme.key(a) == scheme.key(b)
    assert hash(scheme.key(a)) == hash(scheme.key(b))


def test_keys_are_cached() -> None:
    scheme = scheme_for("Debian")
    assert scheme.key("1.2.3-4") is scheme.key("1.2.3-4")


def test_sort_orders_real_versions() -> None:
    scheme = scheme_for("Debian")
    assert scheme.sort(["1.0-1", "1.0~rc1-1", "1:0.9", "1.0-1+deb12u1"]) == [
        "1.0~rc1-1",
        "1.0-1",
        "1.0-1+deb12u1",
        "1:0.9",
    ]


@pytest.mark.parametrize(
    ("ecosystem", "template"),
    [("Debian", "{a}.{b}.{c}-{d}+deb12u{e}"), ("npm", "{a}.{b}.{c}-rc.{e}")],
)
def test_ten_thousand_distinct_versions_get_distinct_keys(ecosystem: str, template: str) -> None:
    # Speed is measured by benchmarks/bench_versions.py, not here.
    scheme: VersionScheme = type(scheme_for(ecosystem))()  # a fresh, empty cache
    batch = [template.format(a=i % 7, b=i % 13, c=i, d=i % 5, e=i % 3) for i in range(10_000)]
    keys = [scheme.key(v) for v in batch]
    assert len(set(keys)) == len(batch)
    assert sorted(batch, key=scheme.key) == scheme.sort(list(batch))
