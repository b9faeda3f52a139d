"""Properties of every scheme on generated versions: a total order, keys that agree with
straightforward reference comparators, and no error but InvalidVersion on any input."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stockade.match.versions import (
    ApkScheme,
    ComposerScheme,
    DpkgScheme,
    InvalidVersion,
    MavenScheme,
    NuGetScheme,
    Pep440Scheme,
    RpmScheme,
    RubyGemsScheme,
    SemverScheme,
    VersionScheme,
)
from stockade.match.versions.rubygems import canonical_segments


def _versions(alphabet: str, *, first: str = "0123456789") -> st.SearchStrategy[str]:
    return st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(first),
        st.text(alphabet=alphabet, max_size=12),
    )


STRATEGIES: dict[str, tuple[VersionScheme, st.SearchStrategy[str]]] = {
    "dpkg": (
        DpkgScheme(),
        st.builds(
            lambda epoch, upstream, revision: epoch + upstream + revision,
            st.sampled_from(["", "0:", "1:", "10:"]),
            _versions("0123456789.+~az"),
            st.sampled_from(["", "-"]).flatmap(
                lambda dash: (
                    st.just("") if not dash else _versions("0123456789.+~az").map("-".__add__)
                )
            ),
        ),
    ),
    "rpm": (RpmScheme(), _versions("0123456789.~^-_azAZ:+", first="0123456789az~^.")),
    "apk": (ApkScheme(), _versions("0123456789._-rabcpz~", first="0123456789")),
    "pep440": (Pep440Scheme(), _versions("0123456789.abcrpostdev+!-_", first="0123456789v")),
    "semver": (SemverScheme(), _versions("0123456789.-+abAB", first="0123456789v")),
    "maven": (MavenScheme(), _versions("0123456789.-abmrcspAB", first="0123456789ab.-")),
    "rubygems": (RubyGemsScheme(), _versions("0123456789.-abzAZ", first="0123456789ab")),
    "composer": (ComposerScheme(), _versions("0123456789.-_+abdeprcvRCpl", first="0123456789v")),
    "nuget": (NuGetScheme(), _versions("0123456789.-+abAB", first="0123456789")),
}


def _triples(name: str) -> st.SearchStrategy[tuple[str, str, str]]:
    versions = STRATEGIES[name][1]
    return st.tuples(versions, versions, versions)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ordering_is_total_and_consistent(name: str) -> None:
    scheme = STRATEGIES[name][0]

    # Generated strings are filtered to valid versions; how many survive varies by run,
    # which must not fail the test (Hypothesis would call it a health-check failure).
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(_triples(name))
    def check(triple: tuple[str, str, str]) -> None:
        assume(all(scheme.is_valid(v) for v in triple))
        for a, b in itertools.permutations(triple, 2):
            ab = scheme.compare(a, b)
            assert ab == -scheme.compare(b, a)
            assert (ab == 0) == (scheme.key(a) == scheme.key(b))
            assert (ab < 0) == (scheme.key(a) < scheme.key(b))
            if ab == 0:
                assert hash(scheme.key(a)) == hash(scheme.key(b))
        for a, b, c in itertools.permutations(triple):
            if scheme.compare(a, b) <= 0 and scheme.compare(b, c) <= 0:
                assert scheme.compare(a, c) <= 0
        ordered = scheme.sort(list(triple))
        assert all(scheme.compare(x, y) <= 0 for x, y in itertools.pairwise(ordered))

    check()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_only_invalid_version_escapes(name: str) -> None:
    scheme = STRATEGIES[name][0]

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=20), STRATEGIES[name][1]))
    def check(text: str) -> None:
        try:
            scheme.key(text)
        except InvalidVersion as exc:
            error = exc
        else:
            return
        assert error.scheme == scheme.name
        assert error.diagnostics()

    check()


# --- reference comparators, written directly from each tool's algorithm -----------------


def _dpkg_order(char: str) -> int:
    if not char or char.isdigit():
        return 0
    if char.isascii() and char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i] if i < len(a) else "")
            bc = _dpkg_order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            first_diff = first_diff or ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _dpkg_split(version: str) -> tuple[int, str, str]:
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, dash, revision = rest.rpartition("-")
    return (int(epoch.partition(":")[0]), upstream, revision) if dash else (int(epoch), rest, "")


def _dpkg_reference(a: str, b: str) -> int:
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    i = j = 0

    def separator(char: str) -> bool:
        return not (char.isascii() and char.isalnum()) and char not in "~^"

    while i < len(a) or j < len(b):
        while i < len(a) and separator(a[i]):
            i += 1
        while j < len(b) and separator(b[j]):
            j += 1
        ca, cb = a[i : i + 1], b[j : j + 1]
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        numeric = ca.isdigit()
        kind = str.isdigit if numeric else (lambda c: c.isascii() and c.isalpha())
        si, sj = i, j
        while i < len(a) and kind(a[i]):
            i += 1
        while j < len(b) and kind(b[j]):
            j += 1
        one, two = a[si:i], b[sj:j]
        if not two:
            return 1 if numeric else -1
        if numeric:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_split(version: str) -> tuple[int, str, str | None]:
    digits = len(version) - len(version.lstrip("0123456789"))
    epoch = 0
    if version[digits : digits + 1] == ":":
        epoch, version = int(version[:digits] or "0"), version[digits + 1 :]
    upstream, dash, release = version.rpartition("-")
    return (epoch, upstream, release) if dash else (epoch, version, None)


def _rpm_reference(a: str, b: str) -> int:
    ea, va, ra = _rpm_split(a)
    eb, vb, rb = _rpm_split(b)
    if ea != eb:
        return 1 if ea > eb else -1
    result = _rpmvercmp(va, vb)
    if result or (ra is None and rb is None):
        return result
    if ra is None or rb is None:
        return -1 if ra is None else 1
    return _rpmvercmp(ra, rb)


def _gem_reference(a: str, b: str) -> int:
    left, right = canonical_segments(a), canonical_segments(b)
    for index in range(max(len(left), len(right))):
        x = left[index] if index < len(left) else 0
        y = right[index] if index < len(right) else 0
        if x == y:
            continue
        if isinstance(x, str) and isinstance(y, int):
            return -1
        if isinstance(x, int) and isinstance(y, str):
            return 1
        return 1 if x > y else -1  # type: ignore[operator]
    return 0


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@pytest.mark.parametrize(
    ("name", "reference"),
    [("dpkg", _dpkg_reference), ("rpm", _rpm_reference), ("rubygems", _gem_reference)],
)
def test_keys_agree_with_the_reference_algorithm(name: str, reference: object) -> None:
    scheme = STRATEGIES[name][0]
    compare = reference

    @settings(max_examples=1000, deadline=None)
    @given(STRATEGIES[name][1], STRATEGIES[name][1])
    def check(a: str, b: str) -> None:
        assume(scheme.is_valid(a) and scheme.is_valid(b))
        assert scheme.compare(a, b) == _sign(compare(a, b)), (a, b)  # type: ignore[operator]

    check()
