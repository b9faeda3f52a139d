from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import platformdirs
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
    Reference,
    Severity,
)
from stockade.vulndb import AdvisoryStore, VulnDBError, default_path, import_path, merge_by_package
from stockade.vulndb.importers import OsvImporter

NOW = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _advisory(
    identifier: str,
    *packages: tuple[str, str],
    source: str = "test",
    modified: dt.datetime | None = None,
    aliases: tuple[str, ...] = (),
) -> Advisory:
    return Advisory(
        id=AdvisoryId(identifier),
        source=source,
        aliases=aliases,
        modified=modified,
        affected=tuple(
            Affected(
                ecosystem,
                name,
                ranges=(
                    Range(
                        RangeType.ECOSYSTEM,
                        (Event(EventKind.INTRODUCED, "0"), Event(EventKind.FIXED, "2.0")),
                    ),
                ),
                fix_state=FixState.FIXED,
                fixed_versions=("2.0",),
            )
            for ecosystem, name in packages
        ),
    )


def test_real_records_survive_the_round_trip(store: AdvisoryStore, data: Path) -> None:
    osv = OsvImporter()
    files = [
        "osv-go/data/osv/GO-2022-0969.json",
        "osv-pypi/vulns/pyyaml/PYSEC-2020-176.yaml",
        "osv-pypi/vulns/aiohttp/PYSEC-2022-43059.yaml",
        "osv-crates.io/crates/RUSTSEC-2016-0004.json",
        "osv-ghsa-sample/GHSA-jfh8-c2jp-5v3q.json",
        "debian-bookworm-changelog-derived/tar/CVE-2023-39804.json",
    ]
    originals = [
        advisory
        for file in files
        for advisory in osv.parse_bytes((data / file).read_bytes(), name=file)
    ]
    assert store.import_advisories(originals) == len(originals)
    for original in originals:
        (stored,) = store.advisory(original.id)
        assert stored == original
        # compare=False fields too: they carry Go's symbols and RustSec's kind.
        for kept, read in zip(original.affected, stored.affected, strict=True):
            assert kept.ecosystem_specific == read.ecosystem_specific
            assert kept.database_specific == read.database_specific
        assert stored.database_specific == original.database_specific


def test_every_field_survives_the_round_trip(store: AdvisoryStore) -> None:
    advisory = Advisory(
        id=AdvisoryId("X-1"),
        source="test",
        summary="s",
        details="d",
        aliases=("CVE-1",),
        related=("R-1",),
        upstream=("U-1",),
        severity=Severity.HIGH,
        cvss=(
            Cvss.from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Cvss.from_score(2, 5),
        ),
        published=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        modified=dt.datetime(2021, 1, 1, 12, 30, 1, 5, tzinfo=dt.UTC),
        withdrawn=dt.datetime(2022, 1, 1, tzinfo=dt.UTC),
        references=(Reference("FIX", "https://x/fix"),),
        affected=(
            Affected(
                "npm",
                "@scope/pkg",
                ranges=(
                    Range(RangeType.NPM_CONSTRAINT, (Event(EventKind.VULNERABLE, "<1 || >2"),)),
                    Range(RangeType.GIT, (Event(EventKind.INTRODUCED, "abc"),), repo="https://g"),
                ),
                versions=("0.9",),
                fix_state=FixState.WONT_FIX,
                fixed_versions=("3",),
                severity=Severity.LOW,
                purl="pkg:npm/%40scope/pkg",
                ecosystem_specific={"a": [1, {"b": None}]},
                database_specific={"c": "ü"},
            ),
        ),
        database_specific={"k": True},
    )
    store.import_advisories([advisory])
    (stored,) = store.advisories_for("npm", "@scope/pkg")
    assert stored == advisory
    assert stored.affected[0].ecosystem_specific == {"a": [1, {"b": None}]}
    assert stored.database_specific == {"k": True}


def test_lookup_by_language_package_and_by_distribution_release(store: AdvisoryStore) -> None:
    store.import_advisories(
        [
            _advisory("PY-1", ("PyPI", "Zope.Interface")),
            _advisory("DEB-11", ("Debian:11", "openssl")),
            _advisory("DEB-12", ("Debian:12", "openssl"), ("Debian:12", "openssl")),
            _advisory("DEB-BOTH", ("Debian:11", "openssl"), ("Debian:12", "openssl")),
            _advisory("ALP-1", ("Alpine:v3.18", "openssl")),
        ]
    )
    assert [a.id for a in store.advisories_for("PyPI", "zope_interface")] == ["PY-1"]
    assert [a.id for a in store.advisories_for("Debian:12", "openssl")] == ["DEB-12", "DEB-BOTH"]
    assert [a.id for a in store.advisories_for("Debian", "openssl")] == [
        "DEB-11",
        "DEB-12",
        "DEB-BOTH",
    ]
    assert [a.id for a in store.advisories_for("Alpine:v3.18", "openssl")] == ["ALP-1"]
    assert store.advisories_for("Debian:13", "openssl") == []
    assert store.advisories_for("npm", "openssl") == []
    assert len(store) == 5


def test_bulk_lookup_answers_thousands_of_names_in_one_call(store: AdvisoryStore) -> None:
    store.import_advisories(
        _advisory(f"NPM-{i}", ("npm", f"pkg-{i}"), ("npm", f"pkg-{i + 1}")) for i in range(3000)
    )
    names = [f"pkg-{i}" for i in range(0, 5000, 2)]
    found = store.advisories_for_many("npm", names)
    assert list(found) == names
    assert [a.id for a in found["pkg-10"]] == ["NPM-10", "NPM-9"]
    assert found["pkg-4000"] == []
    mixed = store.lookup([("npm", "pkg-0"), ("PyPI", "pkg-0"), ("npm", "pkg-0")])
    assert [a.id for a in mixed[("npm", "pkg-0")]] == ["NPM-0"]
    assert mixed[("PyPI", "pkg-0")] == []


def test_lookup_by_id_or_alias_across_sources(store: AdvisoryStore) -> None:
    store.import_advisories(
        [
            _advisory("GHSA-1", ("npm", "a"), source="osv", aliases=("CVE-2024-1",)),
            _advisory("CVE-2024-1", ("Debian:12", "a"), source="debian-tracker"),
        ]
    )
    assert [(a.source, a.id) for a in store.advisory("CVE-2024-1")] == [
        ("debian-tracker", "CVE-2024-1"),
        ("osv", "GHSA-1"),
    ]
    assert store.advisory("CVE-0") == []


def test_reimporting_replaces_a_record(store: AdvisoryStore) -> None:
    store.import_advisories([_advisory("X-1", ("npm", "old"), aliases=("A",))])
    store.import_advisories([_advisory("X-1", ("npm", "new"), aliases=("B",))])
    assert store.advisories_for("npm", "old") == []
    assert [a.id for a in store.advisories_for("npm", "new")] == ["X-1"]
    assert store.advisory("A") == []
    assert len(store) == 1


def test_merging_keeps_other_packages_and_replaces_the_same_one(store: AdvisoryStore) -> None:
    store.import_advisories([_advisory("CVE-1", ("Alpine:v3.17", "xen"), ("Alpine:v3.17", "qemu"))])
    newer = _advisory("CVE-1", ("Alpine:v3.18", "xen"), aliases=("XSA-1",))
    fixed_again = dataclasses.replace(
        _advisory("CVE-1", ("Alpine:v3.17", "qemu")),
        affected=(Affected("Alpine:v3.17", "qemu", fix_state=FixState.NOT_AFFECTED),),
    )
    store.import_advisories([newer, fixed_again], merge=True)
    (merged,) = store.advisory("CVE-1")
    assert [(e.ecosystem, e.name, e.fix_state) for e in merged.affected] == [
        ("Alpine:v3.17", "xen", FixState.FIXED),
        ("Alpine:v3.18", "xen", FixState.FIXED),
        ("Alpine:v3.17", "qemu", FixState.NOT_AFFECTED),
    ]
    assert merged.aliases == ("XSA-1",)
    assert [a.id for a in store.advisories_for("Alpine:v3.18", "xen")] == ["CVE-1"]


def test_merge_by_package_joins_ids_and_references() -> None:
    stored = dataclasses.replace(
        _advisory("CVE-1", ("RubyGems", "a"), aliases=("GHSA-1",)),
        references=(Reference("WEB", "https://a"),),
        summary="kept",
    )
    incoming = dataclasses.replace(
        _advisory("CVE-1", ("RubyGems", "b"), aliases=("OSVDB-1", "CVE-1")),
        references=(Reference("WEB", "https://b"), Reference("WEB", "https://a")),
    )
    merged = merge_by_package(stored, incoming)
    assert merged.aliases == ("GHSA-1", "OSVDB-1")
    assert [r.url for r in merged.references] == ["https://b", "https://a"]
    assert merged.summary == "kept"
    assert [e.name for e in merged.affected] == ["a", "b"]


def test_status_per_source(store: AdvisoryStore) -> None:
    store.import_advisories(
        [
            _advisory(
                "A-1", ("PyPI", "x"), source="osv", modified=dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
            ),
            _advisory("A-2", ("Go", "y"), ("PyPI", "z"), source="osv"),
            _advisory("A-3", ("Alpine:v3.18", "z"), source="alpine-secdb"),
        ],
        origin="/feeds",
    )
    alpine, osv = store.status(now=NOW)
    assert (osv.source, osv.advisories) == ("osv", 2)
    assert osv.newest == dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    assert osv.data_age == dt.timedelta(days=31)
    assert dict(osv.ecosystems) == {"Go": 1, "PyPI": 2}
    assert osv.origin == "/feeds"
    assert NOW - osv.last_import < dt.timedelta(days=365)
    assert (alpine.source, alpine.advisories, alpine.newest, alpine.data_age) == (
        "alpine-secdb",
        1,
        None,
        None,
    )


def test_replacing_a_source_drops_what_the_feed_no_longer_has(store: AdvisoryStore) -> None:
    store.import_advisories([_advisory("A-1", ("npm", "a")), _advisory("A-2", ("npm", "b"))])
    store.import_advisories([_advisory("A-2", ("npm", "b"))], replace_sources=["test"])
    assert [a.id for a in store.advisories_for("npm", "a")] == []
    assert [s.advisories for s in store.status()] == [1]
    store.import_advisories([], replace_sources=["test"])
    assert store.status() == []


def test_a_failed_import_leaves_the_store_as_it_was(store: AdvisoryStore) -> None:
    store.import_advisories([_advisory("A-1", ("npm", "a"))])

    def feed() -> Iterator[Advisory]:
        yield _advisory("A-2", ("npm", "b"))
        raise RuntimeError("network went away")

    with pytest.raises(RuntimeError, match="network"):
        store.import_advisories(feed(), replace_sources=["test"])
    assert [a.id for a in store.advisories_for("npm", "a")] == ["A-1"]
    assert store.advisories_for("npm", "b") == []
    assert [s.advisories for s in store.status()] == [1]


def test_readers_see_the_old_data_while_an_import_runs(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with AdvisoryStore.open(path) as writer:
        writer.import_advisories([_advisory("A-1", ("npm", "a"))])
        with AdvisoryStore.open(path, read_only=True) as reader, writer.importing() as batch:
            batch.add(_advisory("A-2", ("npm", "a")))
            assert [a.id for a in reader.advisories_for("npm", "a")] == ["A-1"]
        with AdvisoryStore.open(path, read_only=True) as reader:
            assert [a.id for a in reader.advisories_for("npm", "a")] == ["A-1", "A-2"]
            with pytest.raises(VulnDBError, match="read-only"), reader.importing():
                pass
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_store_files_that_cannot_be_used(tmp_path: Path) -> None:
    with pytest.raises(VulnDBError, match="no advisory store"):
        AdvisoryStore.open(tmp_path / "missing.sqlite", read_only=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(VulnDBError, match="not a readable advisory store") as caught:
        AdvisoryStore.open(junk)
    assert caught.value.hint
    newer = tmp_path / "newer.sqlite"
    AdvisoryStore.open(newer).close()
    connection = sqlite3.connect(newer)
    connection.execute("UPDATE schema_version SET version = 99")
    connection.commit()
    connection.close()
    with pytest.raises(VulnDBError, match="schema version 99"):
        AdvisoryStore.open(newer)


def test_a_damaged_record_is_reported_as_ours(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with AdvisoryStore.open(path) as store:
        store.import_advisories([_advisory("A-1", ("npm", "a"))])
    connection = sqlite3.connect(path)
    connection.execute("UPDATE advisories SET record = x'00ff'")
    connection.commit()
    connection.close()
    with AdvisoryStore.open(path) as store, pytest.raises(VulnDBError, match="damaged"):
        store.advisories_for("npm", "a")


def test_the_default_path_is_in_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_path() == platformdirs.user_data_path("stockade") / "vulndb.sqlite"
    monkeypatch.setattr(platformdirs, "user_data_path", lambda name: tmp_path / name)
    with AdvisoryStore.open() as store:
        assert store.path == tmp_path / "stockade" / "vulndb.sqlite"
    assert store.path.is_file()


def test_import_path_then_lookup_on_real_feeds(store: AdvisoryStore, data: Path) -> None:
    import_path(store, data / "osv-go", warn=pytest.fail)
    (found,) = store.advisories_for("Go", "golang.org/x/net")
    assert found.id == "GO-2022-0969"
    assert [a.id for a in store.advisories_for("Go", "stdlib")] == ["GO-2022-0969"]
