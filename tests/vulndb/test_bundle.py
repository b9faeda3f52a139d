"""The offline bundle shipped in ``stockade/vulndb/data``: what it holds, and installing it."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import tomllib
from pathlib import Path

import pytest
import zstandard

from stockade.core.models import OSInfo, Package, PackageType
from stockade.match.matcher import match
from stockade.vulndb import SCHEMA_VERSION, AdvisoryStore
from stockade.vulndb.bundle import (
    BUNDLE_FILE,
    MANIFEST_FILE,
    BundleError,
    data_directory,
    ensure_store,
    install_if_missing,
    read_manifest,
)
from stockade.vulndb.update import (
    UpdateSettings,
    debian_tracker_feed,
    describe_store,
    read_state,
    update_store,
)

REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "src" / "stockade" / "vulndb" / "data"

EXPECTED_SOURCES = {
    "osv-pypi",
    "osv-go",
    "osv-crates.io",
    "rubysec",
    "nodejs-security-wg",
    "debian-changelog",
    "alpine-secdb",
    "osv-ghsa",
}


def test_the_shipped_bundle_matches_its_manifest() -> None:
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.schema_version == SCHEMA_VERSION, "rebuild: scripts/build_bundle.py"
    packed = (DATA / BUNDLE_FILE).read_bytes()
    assert len(packed) == manifest.compressed_size
    assert len(packed) < 30 * 1024 * 1024
    raw = zstandard.ZstdDecompressor().decompress(packed)
    assert len(raw) == manifest.size
    assert hashlib.sha256(raw).hexdigest() == manifest.sha256
    assert {s.name for s in manifest.sources} == EXPECTED_SOURCES
    assert all(s.advisories > 0 and s.repository and s.date and s.licence for s in manifest.sources)
    assert manifest.excluded


def test_every_source_ships_its_licence_and_attribution() -> None:
    manifest = read_manifest()
    assert manifest is not None
    notices = (DATA / "NOTICES.md").read_text()
    for source in manifest.sources:
        assert source.licence_files, source.name
        for name in source.licence_files:
            assert (DATA / name).is_file(), name
        assert f"## {source.name}" in notices
    for licence in ("CC-BY-4.0", "CC0-1.0", "MIT"):
        assert licence in notices
    assert "Creative Commons" in (DATA / "licenses/osv-ghsa/CC-BY-4.0.txt").read_text()


def test_the_package_data_is_declared_for_setuptools() -> None:
    """Every file under data/ matches a pattern of [tool.setuptools.package-data]."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["stockade"]
    package = REPO / "src" / "stockade"
    declared = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    shipped = {path for path in DATA.rglob("*") if path.is_file()}
    assert shipped
    assert shipped <= declared, sorted(str(p) for p in shipped - declared)


def test_first_use_installs_the_bundle_and_a_scan_works_offline(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stockade" / "vulndb.sqlite"
    said: list[str] = []
    started = time.monotonic()
    with ensure_store(path, info=said.append) as store:
        seconds = time.monotonic() - started
        manifest = read_manifest()
        assert manifest is not None
        assert {s.source: s.advisories for s in store.status()} == {
            s.name: s.advisories for s in manifest.sources
        }
        # What a scan does: match an inventory against the store, no network involved.
        findings = match(
            [
                Package(name="Django", version="1.4", type=PackageType.PYPI),
                Package(name="gzip", version="1.10-4", type=PackageType.DEB, source_name="gzip"),
                Package(name="smallvec", version="0.6.0", type=PackageType.CARGO),
            ],
            OSInfo(family="debian", version="12", codename="bookworm"),
            store,
        )
    found = {(f.package.name, name) for f in findings for name in (f.advisory_id, *f.aliases)}
    assert ("Django", "PYSEC-2012-7") in found
    assert ("gzip", "CVE-2022-1271") in found
    assert any(name == "smallvec" for name, _ in found)
    assert seconds < 10
    assert len(said) == 1
    assert "run `stockade db update`" in said[0]
    # The state says where the data came from; status turns it into an age.
    state = read_state(path)
    assert {name: entry.origin for name, entry in state.items()} == dict.fromkeys(
        EXPECTED_SOURCES, "bundle"
    )
    assert state["osv-pypi"].snapshot["commit"] == "3ccb6125"
    reports = {r.name: r for r in describe_store(path)}
    assert reports["osv-pypi"].as_of is not None
    assert reports["osv-pypi"].as_of.date().isoformat() == "2024-10-10"


def test_an_existing_store_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    with AdvisoryStore.open(path):
        pass
    assert install_if_missing(path) is None
    with AdvisoryStore.open(path, read_only=True) as store:
        assert len(store) == 0
    assert not read_state(path)


def test_concurrent_first_uses_install_once(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(install_if_missing(path))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    with AdvisoryStore.open(path, read_only=True) as store:
        assert len(store) > 10_000


def _copy_of_data(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy)
    return copy


def test_a_damaged_bundle_is_refused_and_installs_nothing(tmp_path: Path) -> None:
    copy = _copy_of_data(tmp_path)
    packed = bytearray((copy / BUNDLE_FILE).read_bytes())
    packed[len(packed) // 2] ^= 0xFF
    (copy / BUNDLE_FILE).write_bytes(bytes(packed))
    path = tmp_path / "store" / "vulndb.sqlite"
    with pytest.raises(BundleError, match=r"damaged|does not match"):
        install_if_missing(path, directory=copy)  # type: ignore[arg-type]
    assert not path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["vulndb.sqlite.lock"]


def test_a_bundle_for_another_schema_is_refused(tmp_path: Path) -> None:
    copy = _copy_of_data(tmp_path)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="schema") as caught:
        install_if_missing(tmp_path / "vulndb.sqlite", directory=copy)  # type: ignore[arg-type]
    assert "stockade db update" in (caught.value.hint or "")


def test_without_a_bundle_nothing_is_installed(tmp_path: Path) -> None:
    assert install_if_missing(tmp_path / "vulndb.sqlite", directory=tmp_path) is None  # type: ignore[arg-type]
    assert read_manifest(tmp_path) is None  # type: ignore[arg-type]
    assert data_directory().joinpath(MANIFEST_FILE).is_file()


def test_an_update_replaces_bundled_sources_it_supersedes(tmp_path: Path) -> None:
    from tests.vulndb.test_update import DEBIAN, FAST, FeedServer, serve_feeds

    path = tmp_path / "vulndb.sqlite"
    install_if_missing(path)
    server = serve_feeds(FeedServer())
    try:
        settings = UpdateSettings(
            cache_dir=tmp_path / "cache",
            mirrors={"debian-tracker": f"{server.url}{DEBIAN}"},
            retry=FAST,
        )
        result = update_store(path, settings=settings, feeds=(debian_tracker_feed(),))
    finally:
        server.close()
    assert result.removed == ("debian-changelog",)
    with AdvisoryStore.open(path, read_only=True) as store:
        sources = {s.source for s in store.status()}
    assert "debian-changelog" not in sources
    assert {"debian-tracker", "osv-pypi", "rubysec"} <= sources
    state = read_state(path)
    assert state["debian-tracker"].origin == "update"
    assert state["osv-pypi"].origin == "bundle"
    assert "debian-changelog" not in state
