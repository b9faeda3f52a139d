from __future__ import annotations

import gzip
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from stockade.vulndb import AdvisoryStore, Limits, VulnDBError, import_path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_every_feed_in_the_test_data(store: AdvisoryStore, data: Path) -> None:
    notes: list[str] = []
    summary = import_path(store, data, warn=notes.append)
    # The only notes are the nodejs record whose vector is invalid (the printed score
    # is used instead); nothing is skipped.
    assert summary.skipped == 0
    assert len(notes) == 1
    assert "504.json: ignored cvss_vector" in notes[0]
    assert dict(summary.sources) == {
        "alpine-secdb": 16,
        "debian-tracker": 6,
        "nodejs-security-wg": 4,
        "osv": 21,
        "rubysec": 6,
        "wolfi-secdb": 56,
    }
    assert summary.documents == 37
    assert summary.advisories == sum(summary.sources.values())
    statuses = {s.source: s for s in store.status()}
    # Two RubySec files share CVE-2009-3009; they become one advisory for two gems.
    assert statuses["rubysec"].advisories == 6
    (shared,) = store.advisory("CVE-2009-3009")
    assert sorted(e.name for e in shared.affected) == ["actionpack", "activesupport"]
    assert statuses["osv"].ecosystems["Debian:12"] == 4
    assert [a.id for a in store.advisories_for("RubyGems", "RedCloth")] == ["CVE-2023-31606"]
    assert [a.id for a in store.advisories_for("Debian:12", "sope")] == ["CVE-2025-53603"]
    assert [a.id for a in store.advisories_for("Wolfi", "coreutils")] == ["CVE-2016-2781"]


def test_layouts_narrowed_to_the_advisories(store: AdvisoryStore, data: Path) -> None:
    ruby = import_path(store, data / "rubysec", warn=pytest.fail)
    assert ruby.documents == 7  # gems/ only: the interpreter advisory is not read
    notes: list[str] = []
    npm = import_path(store, data / "nodejs-security-wg", warn=notes.append)
    assert npm.sources == {"nodejs-security-wg": 4}
    assert len(notes) == 1  # 504.json's invalid vector


def test_an_osv_all_zip(store: AdvisoryStore, data: Path, tmp_path: Path) -> None:
    members = {
        path.name: path.read_bytes()
        for path in sorted((data / "osv-go/data/osv").glob("*.json"))
        + sorted((data / "osv-crates.io/crates").glob("*.json"))
    }
    archive = _zip(tmp_path / "all.zip", members)
    summary = import_path(store, archive, warn=pytest.fail, source="osv-mixed")
    assert summary.documents == len(members) == 7
    assert [s.source for s in store.status()] == ["osv-mixed"]
    assert [a.id for a in store.advisories_for("crates.io", "openssl")] == ["RUSTSEC-2016-0001"]


def test_hostile_and_damaged_inputs_are_skipped_and_named(
    store: AdvisoryStore, data: Path, tmp_path: Path
) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(data / "osv-go/data/osv", feed)
    good = len(list(feed.iterdir()))
    (feed / "broken.json").write_bytes(b'{"id": "GO-9999-0001", "affected": [')
    (feed / "wrong-shape.json").write_bytes(b'{"id": "GO-9999-0002", "affected": "all"}')
    (feed / "unknown.json").write_bytes(b'{"hello": "world"}')
    (feed / "binary.yaml").write_bytes(bytes(range(256)))
    (feed / "huge.json").write_bytes(b'{"id": "GO-9999-0003", "details": "' + b"x" * 5000 + b'"}')
    (feed / "notes.txt").write_text("not a document, not read")
    (feed / ".hidden.json").write_text("{")
    (feed / "dangling.json").symlink_to(tmp_path / "nowhere")
    os.mkfifo(feed / "fifo.json")  # opening it the plain way would block the import
    bomb = zipfile.ZipInfo("bomb.json")
    with zipfile.ZipFile(feed / "bombs.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(bomb, b"{" + b" " * 3_000_000 + b"}")
        archive.writestr("../../escape.json", b'{"id": "X-1", "modified": "2024-01-01T00:00:00Z"}')
        archive.writestr("/abs.json", b'{"id": "X-2", "modified": "2024-01-01T00:00:00Z"}')
        link = zipfile.ZipInfo("link.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("inner/ok.json", b'{"id": "Z-1", "modified": "2024-01-01T00:00:00Z"}')
    (feed / "truncated.zip").write_bytes((feed / "bombs.zip").read_bytes()[:200])
    gz = gzip.compress((data / "osv-ghsa-sample/GHSA-jfh8-c2jp-5v3q.json").read_bytes())
    (feed / "ghsa.json.gz").write_bytes(gz)

    notes: list[str] = []
    limits = Limits(max_document_bytes=4096, max_member_bytes=1_000_000)
    summary = import_path(store, feed, warn=notes.append, limits=limits)

    skipped = {note.split(": skipped: ")[0].removeprefix(f"{feed}/"): note for note in notes}
    assert set(skipped) == {
        "broken.json",
        "wrong-shape.json",
        "unknown.json",
        "binary.yaml",
        "huge.json",
        "fifo.json",
        "dangling.json",
        "bombs.zip!bomb.json",
        "bombs.zip!../../escape.json",
        "bombs.zip!/abs.json",
        "bombs.zip!link.json",
        "truncated.zip",
    }
    assert "not valid JSON" in skipped["broken.json"]
    assert "not a recognised advisory format" in skipped["unknown.json"]
    assert "over the limit" in skipped["huge.json"]
    assert "not a regular file" in skipped["fifo.json"]
    assert "unsafe member name" in skipped["bombs.zip!../../escape.json"]
    assert "symbolic link" in skipped["bombs.zip!link.json"]
    assert "over the limit" in skipped["bombs.zip!bomb.json"]
    assert summary.skipped == len(skipped)
    assert summary.documents == good + 2  # the gzipped GHSA record and inner/ok.json
    assert [a.id for a in store.advisory("Z-1")] == ["Z-1"]
    assert store.advisory("X-1") == store.advisory("X-2") == []
    assert [a.id for a in store.advisory("CVE-2021-44228")] == ["GHSA-jfh8-c2jp-5v3q"]


def test_a_zip_bomb_by_ratio(store: AdvisoryStore, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"a.json": b"[" + b"0," * 2_000_000 + b"0]"})
    notes: list[str] = []
    summary = import_path(store, archive, warn=notes.append)
    assert summary.documents == 0
    assert len(notes) == 1
    assert "compression ratio" in notes[0]
    assert "bomb.zip!a.json" in notes[0]


def test_too_many_entries_or_bytes_in_an_archive(store: AdvisoryStore, tmp_path: Path) -> None:
    members = {f"{i}.json": b'{"id": "A-%d", "modified": "2024-01-01"}' % i for i in range(20)}
    archive = _zip(tmp_path / "many.zip", members)
    notes: list[str] = []
    import_path(store, archive, warn=notes.append, limits=Limits(max_archive_entries=10))
    assert notes == [f"{archive}: skipped: declares 20 entries, over the limit of 10"]
    notes.clear()
    summary = import_path(store, archive, warn=notes.append, limits=Limits(max_archive_bytes=200))
    assert 0 < summary.documents < 20
    assert "inflates past the limit" in notes[-1]


def test_a_missing_path_is_an_error(store: AdvisoryStore, tmp_path: Path) -> None:
    with pytest.raises(VulnDBError, match="no such file"):
        import_path(store, tmp_path / "nothing")


def test_replace_source_on_reimport(store: AdvisoryStore, data: Path, tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(data / "osv-go/data/osv", feed)
    import_path(store, feed, warn=pytest.fail)
    (feed / "GO-2022-0969.json").unlink()
    import_path(store, feed, warn=pytest.fail, replace_source=True)
    assert store.advisory("GO-2022-0969") == []
    assert [s.advisories for s in store.status()] == [3]
