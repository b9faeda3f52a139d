"""The ignore file: parsing, matching, expiry, and only IgnoreFileError for bad files."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy.samples import (
    BABEL_GHSA,
    FINDINGS,
    NOT_AFFECTED_FINDING,
    OPENSSL_CVE,
    REQUESTS_GHSA,
    ZLIB_CVE,
)

from stockade.core.errors import EXIT_INPUT, StockadeError
from stockade.core.finding import Suppression
from stockade.policy.errors import IgnoreFileError, PolicyError
from stockade.policy.ignore import (
    IGNORE_FILE_NAME,
    MAX_IGNORE_FILE_BYTES,
    IgnoreEntry,
    apply_ignores,
    load_ignore_file,
    parse_ignore_file,
)

TODAY = date(2024, 6, 15)

SAMPLE = """\
# Accepted risks, reviewed every quarter.
- id: CVE-2023-45853
  package: zlib1g
  expires: 2024-09-30
  reason: MiniZip is not built; SEC-101

- id: cve-2024-35195            # the alias of the GHSA, in lower case
  package: pkg:pypi/Requests
  justification: sessions are never reused after verify=False

- id: GHSA-67hx-6x53-jw92
  expires: "2024-06-15"         # expires today: no longer suppresses
  reason: waiting for the 7.23 upgrade

- id: CVE-2024-0727
  package: openssl              # the source package's name works too
  expires: 2024-01-01T12:00:00Z
  reason: PKCS12 is not parsed
"""


def entries() -> tuple[IgnoreEntry, ...]:
    return parse_ignore_file(SAMPLE, ".stockadeignore.yaml")


def test_the_sample_file_parses() -> None:
    zlib, requests, babel, openssl = entries()
    assert zlib == IgnoreEntry(
        id="CVE-2023-45853",
        reason="MiniZip is not built; SEC-101",
        package="zlib1g",
        expires=date(2024, 9, 30),
        index=0,
        source=".stockadeignore.yaml",
    )
    assert requests.reason == "sessions are never reused after verify=False"
    assert requests.expires is None
    assert babel.expires == date(2024, 6, 15)
    assert openssl.expires == date(2024, 1, 1)  # a timestamp counts by its date
    assert [e.index for e in entries()] == [0, 1, 2, 3]


def test_apply_suppresses_what_active_entries_name_and_reports_expired_ones() -> None:
    findings, notices = apply_ignores(FINDINGS, entries(), TODAY)
    by_id = {f.advisory_id: f for f in findings}
    assert by_id[ZLIB_CVE.advisory_id].suppressed is Suppression.IGNORED
    assert by_id[ZLIB_CVE.advisory_id].suppression_reason == "MiniZip is not built; SEC-101"
    # matched through its CVE alias, case-insensitively, and a versionless purl
    assert by_id[REQUESTS_GHSA.advisory_id].suppressed is Suppression.IGNORED
    # expired entries suppress nothing
    assert by_id[BABEL_GHSA.advisory_id].suppressed is None
    assert by_id[OPENSSL_CVE.advisory_id].suppressed is None
    # order and count are kept
    assert [f.advisory_id for f in findings] == [f.advisory_id for f in FINDINGS]
    assert [str(n) for n in notices] == [
        ".stockadeignore.yaml: entry 3 for GHSA-67hx-6x53-jw92 expired on 2024-06-15; "
        "1 finding it suppressed is reported again",
        ".stockadeignore.yaml: entry 4 for CVE-2024-0727 in openssl expired on 2024-01-01; "
        "1 finding it suppressed is reported again",
    ]
    assert [n.entry.index for n in notices] == [2, 3]


def test_an_entry_applies_until_the_day_before_it_expires() -> None:
    entry = IgnoreEntry(id=BABEL_GHSA.advisory_id, reason="r", expires=date(2024, 6, 15))
    assert not entry.is_expired(date(2024, 6, 14))
    assert entry.is_expired(date(2024, 6, 15))
    assert entry.is_expired(date(2025, 1, 1))
    before, notices = apply_ignores([BABEL_GHSA], [entry], date(2024, 6, 14))
    assert before[0].suppressed is Suppression.IGNORED
    assert notices == ()
    after, notices = apply_ignores([BABEL_GHSA], [entry], date(2024, 6, 15))
    assert after[0].suppressed is None
    assert len(notices) == 1


def test_an_expired_entry_that_names_nothing_still_says_it_expired() -> None:
    entry = IgnoreEntry(id="CVE-1999-0001", reason="r", expires=date(2020, 1, 1), index=6)
    _, notices = apply_ignores(FINDINGS, [entry], TODAY)
    assert [str(n) for n in notices] == [
        f"{IGNORE_FILE_NAME}: entry 7 for CVE-1999-0001 expired on 2020-01-01; "
        "it no longer suppresses anything"
    ]


def test_an_active_entry_wins_over_an_expired_one_for_the_same_finding() -> None:
    old = IgnoreEntry(id=ZLIB_CVE.advisory_id, reason="old", expires=date(2024, 1, 1))
    new = IgnoreEntry(id=ZLIB_CVE.advisory_id, reason="new", index=1)
    findings, notices = apply_ignores([ZLIB_CVE], [old, new], TODAY)
    assert findings[0].suppression_reason == "new"
    assert "it no longer suppresses anything" in str(notices[0])


def test_the_first_matching_entry_gives_the_reason() -> None:
    first = IgnoreEntry(id=ZLIB_CVE.advisory_id, reason="first")
    second = IgnoreEntry(id=ZLIB_CVE.advisory_id, reason="second", index=1)
    findings, _ = apply_ignores([ZLIB_CVE], [first, second], TODAY)
    assert findings[0].suppression_reason == "first"


def test_findings_already_suppressed_keep_their_reason() -> None:
    entry = IgnoreEntry(id=NOT_AFFECTED_FINDING.advisory_id, reason="ignored too")
    findings, _ = apply_ignores([NOT_AFFECTED_FINDING], [entry], TODAY)
    assert findings[0] == NOT_AFFECTED_FINDING


@pytest.mark.parametrize(
    ("package", "matches"),
    [
        (None, True),
        ("libssl3", True),  # the binary package
        ("openssl", True),  # the source package the advisory named
        ("libssl", False),
        ("pkg:deb/debian/libssl3", True),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64", True),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=arm64", False),
        ("pkg:deb/debian/openssl", False),  # purls name binary packages
    ],
)
def test_package_narrows_an_entry(package: str | None, matches: bool) -> None:
    entry = IgnoreEntry(id="CVE-2024-0727", reason="r", package=package)
    assert entry.matches(OPENSSL_CVE) is matches


def test_names_match_as_their_ecosystem_spells_them() -> None:
    assert IgnoreEntry(id="CVE-2024-35195", reason="r", package="Requests").matches(REQUESTS_GHSA)
    assert IgnoreEntry(id="CVE-2024-35195", reason="r", package="requests").matches(REQUESTS_GHSA)
    assert IgnoreEntry(id="CVE-2023-45133", reason="r", package="@babel/traverse").matches(
        BABEL_GHSA
    )
    assert not IgnoreEntry(id="CVE-2023-45133", reason="r", package="@Babel/traverse").matches(
        BABEL_GHSA
    )


def test_ids_match_any_alias() -> None:
    for name in ("GHSA-9wx4-h78v-vm56", "ghsa-9wx4-h78v-vm56", "CVE-2024-35195"):
        assert IgnoreEntry(id=name, reason="r").matches(REQUESTS_GHSA)
    assert not IgnoreEntry(id="CVE-2024-3519", reason="r").matches(REQUESTS_GHSA)
    assert not IgnoreEntry(id="GHSA-9wx4", reason="r").matches(REQUESTS_GHSA)


# -- malformed files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: CVE-1\nreason: r\n", "expected a list of entries, found a mapping"),
        ("just words", "expected a list of entries, found text"),
        ("- CVE-2024-1\n", "entry 1: expected a mapping with id and reason, found text"),
        ("- reason: r\n", "entry 1: missing 'id'"),
        ("- id: 12345\n  reason: r\n", "entry 1: 'id' must be text, found int"),
        ("- id: CVE-1\n", "entry 1: entry for CVE-1 has no reason"),
        ("- id: CVE-1\n  reason: '  '\n", "entry 1: 'reason' is empty"),
        ("- id: CVE-1\n  reason: r\n  justification: j\n", "give either reason or justification"),
        ("- id: CVE-1\n  reason: r\n  expire: 2024-01-01\n", "unknown key 'expire'"),
        ("- id: CVE-1\n  reason: r\n  expires: next week\n", "must be a date written YYYY-MM-DD"),
        ("- id: CVE-1\n  reason: r\n  expires: 20240101\n", "must be a date written YYYY-MM-DD"),
        ("- id: CVE-1\n  reason: r\n  package: [a, b]\n", "'package' must be text, found a list"),
        ("- id: CVE-1\n  reason: r\n  package: pkg:pypi\n", "is not a valid purl"),
        ("- id: CVE-1\n  reason: r\n- id: CVE-2\n", "entry 2: entry for CVE-2 has no reason"),
        ("- id: [unclosed\n", "not valid YAML at line 2"),
        ("- id: CVE-1\n  reason: r\n  expires: 0000-01-01\n", "not valid YAML"),
        ("- {id: CVE-1, reason: r, ? [a]: b}\n", "not valid YAML"),
    ],
)
def test_malformed_files_raise_ignore_file_error(text: str, message: str) -> None:
    with pytest.raises(IgnoreFileError) as caught:
        parse_ignore_file(text, "ci/.stockadeignore.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("ci/.stockadeignore.yaml: ")
    assert caught.value.source == "ci/.stockadeignore.yaml"
    assert caught.value.exit_code == EXIT_INPUT


def test_the_error_names_the_entry_and_shows_an_example() -> None:
    with pytest.raises(IgnoreFileError) as caught:
        parse_ignore_file("- id: CVE-1\n  reason: r\n- id: CVE-2\n  expires: soon\n  reason: r\n")
    assert caught.value.index == 1
    assert "entry 2" in caught.value.message
    assert caught.value.hint is not None
    assert "id: CVE-2023-44487" in caught.value.diagnostics()


def test_empty_files_have_no_entries() -> None:
    assert parse_ignore_file("") == ()
    assert parse_ignore_file("# nothing accepted yet\n") == ()
    assert parse_ignore_file("[]") == ()


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / IGNORE_FILE_NAME
    path.write_text("\ufeff" + SAMPLE, encoding="utf-8")  # a BOM from a Windows editor
    loaded = load_ignore_file(path)
    assert [e.id for e in loaded] == [e.id for e in entries()]
    assert loaded[0].source == str(path)


def test_load_refuses_unreadable_huge_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(IgnoreFileError, match="cannot read the ignore file"):
        load_ignore_file(tmp_path / "missing.yaml")
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (MAX_IGNORE_FILE_BYTES + 1))
    with pytest.raises(IgnoreFileError, match="larger than"):
        load_ignore_file(huge)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"- id: \xff\xfe\n")
    with pytest.raises(IgnoreFileError, match="not UTF-8"):
        load_ignore_file(binary)


def test_errors_are_policy_errors() -> None:
    assert issubclass(IgnoreFileError, PolicyError)
    assert issubclass(PolicyError, StockadeError)


# -- fuzzing: only IgnoreFileError escapes ------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.dates().map(str),
    st.sampled_from(["CVE-2024-1", "pkg:pypi/x", "pkg:", "2024-13-45", "~", "!!binary AA=="]),
)
_entries = st.dictionaries(
    st.sampled_from(["id", "package", "expires", "reason", "justification", "other"]),
    st.one_of(_scalars, st.lists(_scalars, max_size=2)),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_ignore_file_error(text: str) -> None:
    with contextlib.suppress(IgnoreFileError):
        parse_ignore_file(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_entries, _scalars), max_size=4))
def test_any_yaml_shape_parses_or_raises_ignore_file_error(document: list[object]) -> None:
    import yaml

    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        parsed = parse_ignore_file(text)
    except IgnoreFileError:
        return
    for entry in parsed:
        assert entry.id.strip()
        assert entry.reason.strip()
        findings, _ = apply_ignores(FINDINGS, parsed, TODAY)
        assert len(findings) == len(FINDINGS)


@given(st.text(alphabet="-:[]{}#&*!|>'\"%@` \n\tabc123", max_size=120))
def test_yaml_syntax_soup_raises_only_ignore_file_error(text: str) -> None:
    with contextlib.suppress(IgnoreFileError):
        parse_ignore_file(text)


def test_deeply_nested_yaml_is_refused_not_crashed_on() -> None:
    with pytest.raises(IgnoreFileError):
        parse_ignore_file("[" * 50_000 + "]" * 50_000)


def test_apply_keeps_findings_equal_apart_from_the_suppression() -> None:
    entry = IgnoreEntry(id=ZLIB_CVE.advisory_id, reason="why")
    (after,), _ = apply_ignores([ZLIB_CVE], [entry], TODAY)
    assert replace(after, suppressed=None, suppression_reason="") == ZLIB_CVE


def test_alias_bombs_are_refused_quickly() -> None:
    """YAML aliases can describe 9**12 items in a few hundred bytes; nothing may walk them."""
    level = "&a0 [x, x, x, x, x, x, x, x, x]"
    for n in range(1, 12):
        level = f"&a{n} [{level}, {', '.join([f'*a{n - 1}'] * 8)}]"
    with pytest.raises(IgnoreFileError, match="entry 1: expected a mapping"):
        parse_ignore_file(f"- {level}\n")
    with pytest.raises(IgnoreFileError, match="must be a date"):
        parse_ignore_file(f"- id: CVE-1\n  reason: r\n  expires: {level}\n")
    with pytest.raises(IgnoreFileError, match="'package' must be text"):
        parse_ignore_file(f"- id: CVE-1\n  reason: r\n  package: {level}\n")
