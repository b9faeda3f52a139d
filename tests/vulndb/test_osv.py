from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stockade.core.advisory import EventKind, FixState, RangeType, Severity
from stockade.vulndb import InvalidAdvisory
from stockade.vulndb.importers import OsvImporter

osv = OsvImporter()


def _read(path: Path, warnings: list[str] | None = None):  # type: ignore[no-untyped-def]
    found = osv.parse_bytes(
        path.read_bytes(), name=str(path), warn=(warnings if warnings is not None else []).append
    )
    assert len(found) == 1
    return found[0]


def test_pysec_yaml_with_versions_and_a_fix(data: Path) -> None:
    advisory = _read(data / "osv-pypi/vulns/pyyaml/PYSEC-2020-176.yaml")
    assert advisory.id == "PYSEC-2020-176"
    assert advisory.source == "osv"
    assert advisory.aliases == ("CVE-2019-20477", "GHSA-3pqx-4fqf-j49f")
    assert advisory.published == dt.datetime(2020, 2, 19, 4, 15, tzinfo=dt.UTC)
    assert advisory.modified == dt.datetime(2020, 3, 1, 0, 15, tzinfo=dt.UTC)
    assert advisory.details.startswith("PyYAML 5.1 through 5.1.2 has insufficient restrictions")
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name, entry.purl) == ("PyPI", "pyyaml", "pkg:pypi/pyyaml")
    assert entry.ranges[0].type is RangeType.ECOSYSTEM
    assert entry.ranges[0].values(EventKind.INTRODUCED) == ("5.1",)
    assert entry.fixed_versions == ("5.2b1",)
    assert entry.fix_state is FixState.FIXED
    assert "5.1.2" in entry.versions
    assert advisory.references[-1].type == "ADVISORY"


def test_pysec_cvss_is_computed(data: Path) -> None:
    advisory = _read(data / "osv-pypi/vulns/aiohttp/PYSEC-2023-246.yaml")
    (cvss,) = advisory.cvss
    assert cvss.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N"
    assert cvss.base_score == 7.5
    assert advisory.severity is Severity.HIGH


def test_a_withdrawn_pysec_record_says_so(data: Path) -> None:
    advisory = _read(data / "osv-pypi/vulns/aiohttp/PYSEC-2022-43059.yaml")
    assert advisory.withdrawn == dt.datetime(2023, 11, 8, 0, 54, 24, tzinfo=dt.UTC)
    (entry,) = advisory.affected
    # Affected from version 0 with no fix: every listed version, and no fix to offer.
    assert entry.fix_state is FixState.NOT_FIXED
    assert entry.fixed_versions == ()
    assert "0.10.0" in entry.versions


def test_pysec_git_ranges_keep_their_repository_and_never_count_as_fix_versions(
    data: Path,
) -> None:
    advisory = _read(data / "osv-pypi/vulns/django/PYSEC-2012-7.yaml")
    git = [r for r in advisory.affected[0].ranges if r.type is RangeType.GIT]
    assert git
    assert git[0].repo
    commits = {value for r in git for value in r.values(EventKind.FIXED)}
    assert not commits & set(advisory.affected[0].fixed_versions)


def test_go_json_with_symbols_and_two_modules(data: Path) -> None:
    advisory = _read(data / "osv-go/data/osv/GO-2022-0969.json")
    assert advisory.id == "GO-2022-0969"
    assert advisory.aliases == ("CVE-2022-27664", "GHSA-69cg-p879-7622")
    assert advisory.summary == "Denial of service in net/http and golang.org/x/net/http2"
    # Go's repository writes 0001-01-01 for "not set"; it must not read as a date.
    assert advisory.modified is None
    assert advisory.published == dt.datetime(2022, 9, 12, 20, 23, 6, tzinfo=dt.UTC)
    stdlib, xnet = advisory.affected
    assert (stdlib.ecosystem, stdlib.name) == ("Go", "stdlib")
    assert stdlib.ranges[0].type is RangeType.SEMVER
    assert [(e.kind.value, e.value) for e in stdlib.ranges[0].events] == [
        ("introduced", "0"),
        ("fixed", "1.18.6"),
        ("introduced", "1.19.0-0"),
        ("fixed", "1.19.1"),
    ]
    assert stdlib.fixed_versions == ("1.18.6", "1.19.1")
    assert stdlib.ecosystem_specific["imports"][0]["path"] == "net/http"
    assert xnet.name == "golang.org/x/net"
    assert xnet.fixed_versions == ("0.0.0-20220906165146-f3363e06e74c",)


def test_go_withdrawn_and_unfixed(data: Path) -> None:
    withdrawn = _read(data / "osv-go/data/osv/GO-2022-0617.json")
    assert withdrawn.withdrawn == dt.datetime(2024, 8, 21, 16, 25, 56, tzinfo=dt.UTC)
    assert withdrawn.published is None
    unfixed = _read(data / "osv-go/data/osv/GO-2026-6249.json")
    assert [e.fix_state for e in unfixed.affected] == [FixState.NOT_FIXED, FixState.NOT_FIXED]
    assert unfixed.affected[0].ecosystem_specific["custom_ranges"][0]["type"] == "ECOSYSTEM"


def test_rustsec_json(data: Path) -> None:
    advisory = _read(data / "osv-crates.io/crates/RUSTSEC-2016-0001.json")
    assert advisory.aliases == ("CVE-2016-10931", "GHSA-34p9-f4q3-c4r7")
    (cvss,) = advisory.cvss
    assert (cvss.version, cvss.base_score) == ("3.0", 8.1)
    assert advisory.severity is Severity.HIGH
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name, entry.purl) == (
        "crates.io",
        "openssl",
        "pkg:cargo/openssl",
    )
    assert entry.ranges[0].values(EventKind.INTRODUCED) == ("0.0.0-0",)
    assert entry.fixed_versions == ("0.9.0",)
    assert advisory.database_specific == {"license": "CC0-1.0"}


def test_rustsec_informational_kind_is_kept(data: Path) -> None:
    advisory = _read(data / "osv-crates.io/crates/RUSTSEC-2016-0004.json")
    (entry,) = advisory.affected
    assert entry.database_specific["informational"] == "unmaintained"
    recent = _read(data / "osv-crates.io/crates/RUSTSEC-2026-0236.json")
    assert recent.cvss[0].base_score == 7.5


def test_ghsa_severity_word_wins(data: Path) -> None:
    advisory = _read(data / "osv-ghsa-sample/GHSA-jfh8-c2jp-5v3q.json")
    assert advisory.aliases == ("CVE-2021-44228",)
    assert advisory.severity is Severity.CRITICAL
    assert advisory.cvss[0].base_score == 10.0
    assert [e.name for e in advisory.affected] == ["org.apache.logging.log4j:log4j-core"] * 3
    assert [e.fixed_versions for e in advisory.affected] == [("2.15.0",), ("2.3.1",), ("2.12.2",)]
    assert advisory.database_specific["cwe_ids"][0] == "CWE-20"


def test_debian_changelog_derived_record(data: Path) -> None:
    advisory = _read(data / "debian-bookworm-changelog-derived/tar/CVE-2023-39804.json")
    assert advisory.id == "DEBCL-tar-CVE-2023-39804"
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name) == ("Debian:12", "tar")
    assert entry.release == "12"
    assert entry.fixed_versions == ("1.34+dfsg-1.2+deb12u1",)
    assert entry.severity is Severity.MEDIUM
    assert advisory.severity is Severity.MEDIUM


def test_osv_dev_distribution_records(data: Path) -> None:
    base = data / "format-samples/osv.dev/gcp/website/testdata/osv"
    dla = _read(base / "DLA-3623-1.json")
    assert dla.affected == ()
    assert "CVE-2023-4004" in dla.upstream
    usn = _read(base / "USN-6332-1.json")
    assert "UBUNTU-CVE-2023-4004" in usn.upstream
    alma = _read(
        data
        / "format-samples/vunnel/tests/unit/providers/alma/test-fixtures/osv-database"
        / "advisories/almalinux9/ALSA-2024:2433.json"
    )
    assert alma.affected[0].ecosystem == "AlmaLinux:9"
    assert alma.affected[0].fixed_versions == ("0.8-20.el9",)


def _record(**fields: object) -> bytes:
    return json.dumps({"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", **fields}).encode()


def test_bad_parts_of_a_record_are_left_out_with_a_note() -> None:
    notes: list[str] = []
    raw = _record(
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}],
        affected=[
            {
                "package": {"ecosystem": "npm", "name": "left-pad"},
                "ranges": [
                    {"type": "FANCY", "events": [{"introduced": "0"}]},
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.1.0"}]},
                ],
            },
            {"ranges": [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "a"}]}]},
        ],
    )
    (advisory,) = osv.parse_bytes(raw, name="t.json", warn=notes.append)
    assert advisory.cvss == ()
    assert [len(e.ranges) for e in advisory.affected] == [1]
    assert any("CVSS" in note for note in notes)
    assert any("FANCY" in note for note in notes)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'"a string"',
        _record(id=""),
        _record(id="has space"),
        _record(id=7),
        _record(affected="nope"),
        _record(affected=[{"package": {"ecosystem": "", "name": "x"}}]),
        _record(affected=[{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": [1.5]}]),
        _record(affected=[{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{}]}]),
        _record(references=[{"url": 5}]),
        _record(summary=["x"]),
        b'{"id": "X-1", "modified": 1' + b"0" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_malformed_record_is_refused_with_our_error(raw: bytes) -> None:
    with pytest.raises(InvalidAdvisory):
        osv.parse_bytes(raw, name="bad.json")


def test_a_json_list_of_records_skips_only_the_bad_ones() -> None:
    notes: list[str] = []
    raw = json.dumps(
        [{"id": "A-1", "modified": "2024-01-01T00:00:00Z"}, {"id": "", "modified": "x"}]
    ).encode()
    found = osv.parse_bytes(raw, name="list.json", warn=notes.append)
    assert [a.id for a in found] == ["A-1"]
    assert len(notes) == 1
    assert notes[0].startswith("list.json[1]: skipped: id")


def test_yaml_aliases_cannot_blow_up() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    lines += ["id: BOMB-1", "modified: 2024-01-01T00:00:00Z", "details: *a29"]
    with pytest.raises(InvalidAdvisory, match="expands"):
        osv.parse_bytes("\n".join(lines).encode(), name="bomb.yaml")


def test_yaml_python_tags_are_refused() -> None:
    raw = b"id: X-1\nmodified: !!python/object/apply:os.system ['true']\n"
    with pytest.raises(InvalidAdvisory, match="YAML"):
        osv.parse_bytes(raw, name="evil.yaml")
