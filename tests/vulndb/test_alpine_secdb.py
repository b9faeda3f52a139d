from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockade.core.advisory import EventKind, FixState, RangeType
from stockade.vulndb import InvalidAdvisory
from stockade.vulndb.importers import AlpineSecdbImporter

secdb = AlpineSecdbImporter()
ALPINE = "format-samples/vunnel/tests/unit/providers/alpine/test-fixtures/input/secdb/v3.15"
WOLFI = "format-samples/vunnel/tests/unit/cli/test-fixtures/data-1/wolfi/input/secdb/os"


def test_the_real_alpine_secdb_yaml(data: Path) -> None:
    path = data / ALPINE / "main.yaml"
    advisories = {str(a.id): a for a in secdb.parse_bytes(path.read_bytes(), name=str(path))}
    assert {a.source for a in advisories.values()} == {"alpine-secdb"}
    zlib = advisories["CVE-2022-37434"]
    (entry,) = zlib.affected
    assert (entry.ecosystem, entry.name) == ("Alpine:v3.15", "zlib")
    assert entry.fix_state is FixState.FIXED
    assert entry.fixed_versions == ("1.2.12-r2",)
    assert entry.ranges[0].type is RangeType.ECOSYSTEM
    assert [(e.kind, e.value) for e in entry.ranges[0].events] == [
        (EventKind.INTRODUCED, "0"),
        (EventKind.FIXED, "1.2.12-r2"),
    ]
    assert zlib.references[0].url == "https://security.alpinelinux.org/vuln/CVE-2022-37434"
    assert advisories["CVE-2019-6250"].affected[0].name == "zeromq"
    assert advisories["CVE-2022-1271"].affected[0].fixed_versions == ("5.2.5-r1",)


def test_the_real_wolfi_secdb_json(data: Path) -> None:
    path = data / WOLFI / "security.json"
    advisories = {str(a.id): a for a in secdb.parse_bytes(path.read_bytes(), name=str(path))}
    assert {a.source for a in advisories.values()} == {"wolfi-secdb"}
    # Version "0": the package was never affected.
    coreutils = advisories["CVE-2016-2781"].affected[0]
    assert (coreutils.ecosystem, coreutils.name) == ("Wolfi", "coreutils")
    assert coreutils.fix_state is FixState.NOT_AFFECTED
    assert coreutils.ranges == ()
    assert advisories["CVE-2022-42916"].affected[0].fixed_versions == ("7.86.0-r0",)


def _secdb(secfixes: object, release: str = "v3.18") -> bytes:
    return json.dumps(
        {
            "distroversion": release,
            "reponame": "main",
            "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
            "packages": [{"pkg": {"name": "xen", "secfixes": secfixes}}],
        }
    ).encode()


def test_an_entry_with_two_ids_and_a_fix_listed_twice() -> None:
    raw = _secdb({"4.7.1-r4": ["CVE-2016-9932 XSA-200"], "4.7.2-r0": ["CVE-2016-9932"]})
    (advisory,) = secdb.parse_bytes(raw, name="x.json")
    assert advisory.id == "CVE-2016-9932"
    assert advisory.aliases == ("XSA-200",)
    (entry,) = advisory.affected
    assert entry.fixed_versions == ("4.7.1-r4", "4.7.2-r0")
    assert len(entry.ranges) == 2


def test_releases_are_spelled_as_osv_does() -> None:
    for written, ecosystem in (
        ("v3.18", "Alpine:v3.18"),
        ("3.9", "Alpine:v3.9"),
        ("edge", "Alpine:edge"),
    ):
        (advisory,) = secdb.parse_bytes(_secdb({"1-r0": ["CVE-2020-1"]}, written), name="x.json")
        assert advisory.affected[0].ecosystem == ecosystem


def test_damaged_packages_are_skipped_with_a_note() -> None:
    notes: list[str] = []
    raw = json.dumps(
        {
            "distroversion": "v3.18",
            "apkurl": "x",
            "packages": [
                {"pkg": {"name": "ok", "secfixes": {"1.0-r0": ["CVE-2020-1"], "2.0-r0": None}}},
                {"pkg": {"secfixes": {}}},
                {"pkg": {"name": "bad", "secfixes": {"1.0-r0": "CVE-2020-2"}}},
                "junk",
            ],
        }
    ).encode()
    advisories = secdb.parse_bytes(raw, name="s.json", warn=notes.append)
    assert [a.id for a in advisories] == ["CVE-2020-1"]
    assert len(notes) == 3


def test_a_secdb_without_a_release_is_refused() -> None:
    raw = json.dumps({"apkurl": "x", "urlprefix": "https://example.org", "packages": []}).encode()
    with pytest.raises(InvalidAdvisory, match="distroversion"):
        secdb.parse_bytes(raw, name="s.json")
