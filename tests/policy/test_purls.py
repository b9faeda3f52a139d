"""Purl patterns: what a person writes in an ignore file or a VEX statement, matched
against the purls the catalogers write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.policy.samples import BABEL, LIBSSL, REQUESTS, ZLIB

from stockade.policy.purls import is_purl, parse_purl, purl_matches


@pytest.mark.parametrize(
    ("pattern", "purl"),
    [
        # no version: every version
        ("pkg:deb/debian/libssl3", LIBSSL.purl),
        # version without qualifiers: any arch and distro
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2", LIBSSL.purl),
        # a qualifier the package has
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64", LIBSSL.purl),
        ("pkg:deb/debian/libssl3?distro=debian-12&arch=amd64", LIBSSL.purl),
        # an epoch, written raw or percent-encoded
        ("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1", ZLIB.purl),
        ("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1", ZLIB.purl),
        # case-insensitive types, namespaces and names where the purl spec says so
        ("pkg:DEB/Debian/LibSSL3", LIBSSL.purl),
        ("PKG:deb/debian/libssl3", LIBSSL.purl),
        # PyPI names compare as PEP 503 says
        ("pkg:pypi/Requests@2.31.0", REQUESTS.purl),
        ("pkg:pypi/zope.interface", "pkg:pypi/zope-interface@6.0"),
        ("pkg:pypi/Zope_Interface", "pkg:pypi/zope-interface@6.0"),
        # npm scopes, encoded or not
        ("pkg:npm/@babel/traverse@7.22.0", BABEL.purl),
        ("pkg:npm/%40babel/traverse", BABEL.purl),
        # a subpath only counts when the pattern gives one
        ("pkg:golang/github.com/acme/mono@v1.2.0", "pkg:golang/github.com/acme/mono@v1.2.0#cmd/x"),
        ("pkg:golang/github.com/acme/mono#cmd/x", "pkg:golang/github.com/acme/mono@v1.2.0#cmd/x"),
        # an image by digest, with or without its repository
        ("pkg:oci/app@sha256%3Aabc", "pkg:oci/app@sha256%3Aabc?repository_url=r.example/app&tag=1"),
    ],
)
def test_patterns_that_match(pattern: str, purl: str) -> None:
    assert purl_matches(pattern, purl)


@pytest.mark.parametrize(
    ("pattern", "purl"),
    [
        ("pkg:deb/debian/libssl3@3.0.11-1", LIBSSL.purl),  # another version
        ("pkg:deb/debian/libssl3?arch=arm64", LIBSSL.purl),  # another arch
        ("pkg:deb/debian/libssl3?epoch=1", LIBSSL.purl),  # a qualifier the package lacks
        ("pkg:deb/ubuntu/libssl3", LIBSSL.purl),  # another distribution
        ("pkg:rpm/debian/libssl3", LIBSSL.purl),  # another type
        ("pkg:deb/debian/openssl", LIBSSL.purl),  # the source package is another name
        ("pkg:deb/debian/zlib1g@1.2.13.dfsg-1", ZLIB.purl),  # the epoch is part of it
        ("pkg:npm/traverse@7.22.0", BABEL.purl),  # the scope is part of the name
        ("pkg:npm/@types/traverse", BABEL.purl),
        ("pkg:maven/org.Apache/commons@1", "pkg:maven/org.apache/commons@1"),  # Maven: exact
        ("pkg:golang/github.com/acme/mono#cmd/y", "pkg:golang/github.com/acme/mono@v1#cmd/x"),
        ("pkg:pypi/requests", ""),  # a package without a purl matches nothing
        ("", REQUESTS.purl),
        ("requests", REQUESTS.purl),  # a name is not a purl pattern
        ("pkg:", REQUESTS.purl),
        ("pkg:pypi", REQUESTS.purl),
    ],
)
def test_patterns_that_do_not_match(pattern: str, purl: str) -> None:
    assert not purl_matches(pattern, purl)


def test_is_purl_ignores_the_scheme_case() -> None:
    assert is_purl("PKG:npm/x")
    assert is_purl("pkg:npm/x")
    assert not is_purl("npm/x")
    assert not is_purl("pk")


def test_parse_purl_refuses_garbage_with_value_error() -> None:
    for text in ("pkg:", "pkg:/", "pkg:pypi", "not a purl", "pkg:deb/debian/x?%zz=1"):
        with pytest.raises(ValueError):  # noqa: PT011  # packageurl's own messages vary
            parse_purl(text)


@given(st.text(max_size=60), st.text(max_size=60))
def test_matching_never_raises(pattern: str, purl: str) -> None:
    purl_matches(pattern, purl)
    purl_matches("pkg:" + pattern, "pkg:" + purl)
