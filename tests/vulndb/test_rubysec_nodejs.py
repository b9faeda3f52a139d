from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockade.core.advisory import EventKind, FixState, RangeType, Severity
from stockade.vulndb import InvalidAdvisory
from stockade.vulndb.importers import NodejsSecurityWgImporter, RubySecImporter

rubysec = RubySecImporter()
nodejs = NodejsSecurityWgImporter()


def _gem(data: Path, path: str):  # type: ignore[no-untyped-def]
    file = data / "rubysec/gems" / path
    (advisory,) = rubysec.parse_bytes(file.read_bytes(), name=str(file))
    return advisory


def test_rubysec_gem_with_patched_and_unaffected_requirements(data: Path) -> None:
    advisory = _gem(data, "actionpack/CVE-2008-7248.yml")
    assert advisory.id == "CVE-2008-7248"
    assert advisory.source == "rubysec"
    assert advisory.aliases == ("GHSA-8fqx-7pv4-3jwm",)
    assert advisory.summary == "Improper Input Validation in rails"
    assert advisory.published == dt.datetime(2017, 10, 24, tzinfo=dt.UTC)
    (cvss,) = advisory.cvss
    assert (cvss.version, cvss.vector, cvss.base_score) == ("2", None, 6.8)
    assert advisory.severity is Severity.MEDIUM
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name, entry.purl) == (
        "RubyGems",
        "actionpack",
        "pkg:gem/actionpack",
    )
    (constraint,) = entry.ranges
    assert constraint.type is RangeType.GEM_CONSTRAINT
    assert constraint.values(EventKind.PATCHED) == ("~> 2.1.3", ">= 2.2.2")
    assert constraint.values(EventKind.UNAFFECTED) == ("< 2.1.0",)
    assert entry.fix_state is FixState.FIXED
    assert entry.fixed_versions == ("2.1.3", "2.2.2")
    assert advisory.references[0].type == "ADVISORY"
    assert "https://nvd.nist.gov/vuln/detail/CVE-2008-7248" in [r.url for r in advisory.references]


def test_rubysec_cvss_v4_and_ids(data: Path) -> None:
    trix = _gem(data, "action_text-trix/GHSA-53p3-c7vp-4mcc.yml")
    assert trix.id == "CVE-2026-73427"
    assert trix.aliases == ("GHSA-53p3-c7vp-4mcc",)
    assert trix.cvss[0].version == "4"
    assert trix.severity is Severity.LOW
    osvdb = _gem(data, "activerecord-oracle_enhanced-adapter/OSVDB-95376.yml")
    assert osvdb.id == "OSVDB-95376"


def test_rubysec_interpreter_advisories_are_left_out(data: Path) -> None:
    (ruby,) = (data / "rubysec/rubies/jruby").iterdir()
    assert rubysec.parse_bytes(ruby.read_bytes(), name=str(ruby)) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"gem: x\nurl: u\ncve: not-a-cve\n",
        b"gem: x\nurl: u\npatched_versions: '>= 1'\n",
        b"gem: x\nurl: u\npatched_versions: [1.10]\n",
        b"gem: [x]\nurl: u\n",
    ],
)
def test_rubysec_malformed(raw: bytes) -> None:
    with pytest.raises(InvalidAdvisory):
        rubysec.parse_bytes(raw, name="gems/x/bad.yml")


def test_rubysec_without_ids_gets_a_file_based_one() -> None:
    (advisory,) = rubysec.parse_bytes(
        b"gem: foo\nurl: https://x\ntitle: t\npatched_versions: ['>= 2']\n",
        name="gems/foo/2019-01-01.yml",
    )
    assert advisory.id == "RUBYSEC-foo-2019-01-01"


def _npm(data: Path, number: int):  # type: ignore[no-untyped-def]
    file = data / f"nodejs-security-wg/vuln/npm/{number}.json"
    notes: list[str] = []
    (advisory,) = nodejs.parse_bytes(file.read_bytes(), name=str(file), warn=notes.append)
    return advisory, notes


def test_nodejs_npm_advisory(data: Path) -> None:
    advisory, notes = _npm(data, 1)
    assert notes == []
    assert advisory.id == "NSWG-ECO-1"
    assert advisory.source == "nodejs-security-wg"
    assert advisory.aliases == ("CVE-2014-7205",)
    assert advisory.summary == "Arbitrary JavaScript Execution"
    assert advisory.published == dt.datetime(2014, 9, 27, tzinfo=dt.UTC)
    assert advisory.modified == dt.datetime(2016, 4, 28, tzinfo=dt.UTC)
    (cvss,) = advisory.cvss
    assert (cvss.vector, cvss.base_score) == ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N", 6.5)
    assert advisory.severity is Severity.MEDIUM
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name) == ("npm", "bassmaster")
    (constraint,) = entry.ranges
    assert constraint.type is RangeType.NPM_CONSTRAINT
    assert constraint.values(EventKind.VULNERABLE) == ("<=1.5.1",)
    assert constraint.values(EventKind.PATCHED) == (">=1.5.2",)
    assert entry.fix_state is FixState.FIXED
    assert entry.fixed_versions == ("1.5.2",)
    assert advisory.database_specific["recommendation"].startswith("Update to bassmaster")


def test_nodejs_without_a_patch_or_a_score(data: Path) -> None:
    advisory, notes = _npm(data, 358)
    assert notes == []
    (entry,) = advisory.affected
    assert entry.fix_state is FixState.NOT_FIXED
    assert entry.ranges[0].values(EventKind.PATCHED) == ()
    assert advisory.cvss == ()
    assert advisory.severity is Severity.UNKNOWN


def test_nodejs_invalid_vector_falls_back_to_the_printed_score(data: Path) -> None:
    advisory, notes = _npm(data, 504)
    assert len(notes) == 1
    assert "invalid CVSS 3.0 vector" in notes[0]
    assert advisory.cvss[0].vector is None
    assert advisory.cvss[0].base_score == 7.5


def test_nodejs_no_patch_marker(data: Path) -> None:
    advisory, _ = _npm(data, 116)
    (entry,) = advisory.affected
    assert entry.fix_state is FixState.NOT_FIXED
    assert entry.ranges[0].values(EventKind.PATCHED) == ()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"module_name": "x", "vulnerable_versions": "*"}',
        b'{"id": -4, "module_name": "x", "vulnerable_versions": "*"}',
        b'{"id": 4, "module_name": "", "vulnerable_versions": "*"}',
        b'{"id": 4, "module_name": "x", "vulnerable_versions": 3}',
    ],
)
def test_nodejs_malformed(raw: bytes) -> None:
    with pytest.raises(InvalidAdvisory):
        nodejs.parse_bytes(raw, name="npm/x.json")
