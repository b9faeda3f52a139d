#!/usr/bin/env python3
"""Build the offline advisory bundle shipped in ``src/stockade/vulndb/data/``.

    .venv/bin/python scripts/build_bundle.py [--corpus DIR] [--output DIR]

Imports each source directory of the corpus (default ``/work/shared/corpus/advisories``,
described by its README.md) into a new store with the same importer ``stockade db import``
uses, compacts it, compresses it with zstandard and writes, beside it, ``MANIFEST.json``
(repository, commit, date, licence and counts per source; the directories left out and
why), the licence files of the data and ``NOTICES.md`` (attribution for people).

Where each directory comes from is transcribed below from the corpus README: the corpus
is a set of snapshots, not git checkouts, so the commits cannot be read from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import zstandard

from stockade.vulndb import AdvisoryStore, import_path
from stockade.vulndb.bundle import BUNDLE_FILE, MANIFEST_FILE, BundledSource, BundleManifest
from stockade.vulndb.store import SCHEMA_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path("/work/shared/corpus/advisories")
DEFAULT_OUTPUT = REPO_ROOT / "src" / "stockade" / "vulndb" / "data"
LEVEL = 19
SIZE_LIMIT = 30 * 1024 * 1024


@dataclass(frozen=True)
class CorpusSource:
    name: str
    directory: str
    repository: str
    commit: str
    date: str
    licence: str
    licences: tuple[tuple[str, str], ...]
    """(file in the corpus directory, name under data/licenses/<name>/)."""
    attribution: str
    note: str = ""


CC_BY = "osv-crates.io/LICENSES/CC-BY-4.0.txt"
"""The full CC-BY-4.0 text, for the sample of GitHub's database that ships none."""

SOURCES = (
    CorpusSource(
        name="osv-pypi",
        directory="osv-pypi",
        repository="https://github.com/pypa/advisory-database",
        commit="3ccb6125",
        date="2024-10-10",
        licence="CC-BY-4.0",
        licences=(("osv-pypi/LICENSE", "LICENSE"),),
        attribution="The Python Packaging Advisory Database, by the Python Packaging "
        "Authority (PyPA) and its contributors.",
        note="an old snapshot: newer PyPI advisories come with `stockade db update`",
    ),
    CorpusSource(
        name="osv-go",
        directory="osv-go",
        repository="https://github.com/golang/vulndb",
        commit="a752ea54",
        date="2026-08-21",
        licence="CC-BY-4.0",
        licences=(("osv-go/data/LICENSE", "LICENSE"), ("osv-go/data/NOTICES", "NOTICES")),
        attribution="The Go Vulnerability Database, by the Go Authors "
        "(https://pkg.go.dev/vuln/); see its NOTICES for the data it includes.",
    ),
    CorpusSource(
        name="osv-crates.io",
        directory="osv-crates.io",
        repository="https://github.com/rustsec/advisory-db (branch osv)",
        commit="7fa931cb",
        date="2026-08-21",
        licence="CC0-1.0; entries adapted from GHSA CC-BY-4.0",
        licences=(
            ("osv-crates.io/LICENSE.txt", "LICENSE.txt"),
            ("osv-crates.io/LICENSES/CC0-1.0.txt", "LICENSES/CC0-1.0.txt"),
            ("osv-crates.io/LICENSES/CC-BY-4.0.txt", "LICENSES/CC-BY-4.0.txt"),
        ),
        attribution="The RustSec Advisory Database, by the Rust Secure Code Working Group "
        "and its contributors; entries adapted from the GitHub Advisory Database are "
        "CC-BY-4.0 as their `license` field says.",
    ),
    CorpusSource(
        name="rubysec",
        directory="rubysec",
        repository="https://github.com/rubysec/ruby-advisory-db",
        commit="8cfcc07c",
        date="2026-08-22",
        licence="public domain; GHSA-derived entries CC-BY-4.0; some OSVDB content",
        licences=(("rubysec/LICENSE.txt", "LICENSE.txt"),),
        attribution="The Ruby Advisory Database, by the RubySec project and its "
        "contributors; it may contain content of the Open Source Vulnerability Database "
        "(see its LICENSE.txt).",
        note="gems/ only: advisories about Ruby interpreters (rubies/) name no gem",
    ),
    CorpusSource(
        name="nodejs-security-wg",
        directory="nodejs-security-wg",
        repository="https://github.com/nodejs/security-wg",
        commit="f1288d0",
        date="2026-04-08",
        licence="MIT",
        licences=(("nodejs-security-wg/LICENSE.md", "LICENSE.md"),),
        attribution="The Node.js Security Working Group's vulnerability database, "
        "Copyright Node.js Foundation and its contributors.",
        note="vuln/npm only (frozen since about 2019); core/ and deps/ describe Node.js itself",
    ),
    CorpusSource(
        name="debian-changelog",
        directory="debian-bookworm-changelog-derived",
        repository="Debian bookworm package changelogs (changelog.Debian.gz of 24 packages)",
        commit="",
        date="2026-08",
        licence="facts (CVE id and fixing version) read from Debian changelogs",
        licences=(("debian-bookworm-changelog-derived/INDEX.tsv", "INDEX.tsv"),),
        attribution="Derived from the changelogs of Debian packages (https://www.debian.org/); "
        "INDEX.tsv lists the packages and versions inspected.",
        note="fixed versions only: no unfixed, no-dsa or not-affected states; replaced by "
        "the Debian security tracker on `stockade db update`",
    ),
    CorpusSource(
        name="alpine-secdb",
        directory="alpine-secdb-legacy",
        repository="https://github.com/alpinelinux/alpine-secdb",
        commit="06f6e96",
        date="2020-06",
        licence="no licence file in the repository",
        licences=(("alpine-secdb-legacy/README.md", "README.md"),),
        attribution="Alpine Linux's security database of backported fixes "
        "(deprecated repository; current data at https://secdb.alpinelinux.org/).",
        note="releases v3.3 to v3.11 only; current releases come with `stockade db update`",
    ),
    CorpusSource(
        name="osv-ghsa",
        directory="osv-ghsa-sample",
        repository="https://github.com/github/advisory-database",
        commit="",
        date="2023-02-27",
        licence="CC-BY-4.0",
        licences=((CC_BY, "CC-BY-4.0.txt"),),
        attribution="The GitHub Advisory Database, by GitHub, Inc. (abridged records: "
        "details and reference lists trimmed).",
        note="5 abridged records (log4shell, spring4shell, text4shell, lodash, minimist); "
        "replaced by OSV's Maven and npm feeds on `stockade db update`",
    ),
)

EXCLUDED = {
    "debian-security-tracker": "the tracker's DSA/DLA text lists (buster/bullseye, 2023): "
    "no importer reads them; `stockade db update` downloads the tracker's JSON instead",
    "trivy-fixture-db": "the fixtures of Trivy's integration tests: subsets picked for its "
    "test images, not a feed",
    "format-samples": "one sample per format for tests, not a feed",
    "rubysec/rubies": "advisories about Ruby interpreters name no gem",
    "nodejs-security-wg/vuln/core, vuln/deps": "advisories about Node.js itself, not npm packages",
}


def build(corpus: Path, output: Path) -> BundleManifest:
    with tempfile.TemporaryDirectory(prefix="stockade-bundle-") as work:
        store_path = Path(work) / "vulndb.sqlite"
        sources: list[BundledSource] = []
        # Relative paths, so the store records "osv-pypi" as an origin, not this machine's.
        previous = Path.cwd()
        os.chdir(corpus)
        try:
            with AdvisoryStore.open(store_path) as store:
                for spec in SOURCES:
                    notes: list[str] = []
                    summary = import_path(
                        store, spec.directory, source=spec.name, warn=notes.append
                    )
                    for line in notes:
                        print(f"  note: {line}", file=sys.stderr)
                    status = {s.source: s for s in store.status()}[spec.name]
                    sources.append(
                        BundledSource(
                            name=spec.name,
                            repository=spec.repository,
                            commit=spec.commit,
                            date=spec.date,
                            licence=spec.licence,
                            advisories=status.advisories,
                            documents=summary.documents,
                            skipped=summary.skipped,
                            newest=status.newest,
                            directory=spec.directory,
                            licence_files=tuple(
                                f"licenses/{spec.name}/{name}" for _, name in spec.licences
                            ),
                            note=spec.note,
                        )
                    )
                    print(
                        f"{spec.name}: {status.advisories} advisories from "
                        f"{summary.documents} documents ({summary.skipped} skipped) "
                        f"in {summary.seconds:.1f}s",
                        file=sys.stderr,
                    )
        finally:
            os.chdir(previous)
        _compact(store_path)
        raw = store_path.read_bytes()

    packed = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True).compress(raw)
    if len(packed) > SIZE_LIMIT:
        raise SystemExit(f"the bundle is {len(packed)} bytes, over the {SIZE_LIMIT} limit")
    manifest = BundleManifest(
        built=dt.datetime.now(dt.UTC).replace(microsecond=0),
        schema_version=SCHEMA_VERSION,
        file=BUNDLE_FILE,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        compressed_size=len(packed),
        sources=tuple(sources),
        excluded=EXCLUDED,
    )
    _write(output, corpus, packed, manifest)
    return manifest


def _compact(store_path: Path) -> None:
    # A rollback-journal file, vacuumed: one self-contained file, smallest to ship.
    connection = sqlite3.connect(store_path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("VACUUM")
    finally:
        connection.close()


def _write(output: Path, corpus: Path, packed: bytes, manifest: BundleManifest) -> None:
    output.mkdir(parents=True, exist_ok=True)
    licences = output / "licenses"
    if licences.exists():
        shutil.rmtree(licences)
    for spec in SOURCES:
        for source_file, name in spec.licences:
            destination = licences / spec.name / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(corpus / source_file, destination)
    (output / BUNDLE_FILE).write_bytes(packed)
    (output / MANIFEST_FILE).write_text(
        json.dumps(manifest.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    (output / "NOTICES.md").write_text(_notices(manifest), encoding="utf-8")


def _notices(manifest: BundleManifest) -> str:
    lines = [
        "# Advisory data shipped with Stockade",
        "",
        f"`{BUNDLE_FILE}` is a Stockade advisory store (schema {manifest.schema_version}) "
        f"built on {manifest.built.date().isoformat()} by `scripts/build_bundle.py` from "
        "the snapshots below. Changes made to all of them: the records were converted to "
        "Stockade's store format (package names normalised, version ranges and fix states "
        "rewritten in OSV terms, records merged by advisory id) and compressed. "
        "`MANIFEST.json` lists the counts per source.",
        "",
    ]
    for spec in SOURCES:
        commit = f" @ {spec.commit}" if spec.commit else ""
        lines += [
            f"## {spec.name}",
            "",
            f"- From: {spec.repository}{commit} ({spec.date})",
            f"- Licence: {spec.licence}",
            f"- Attribution: {spec.attribution}",
            "- Licence files: "
            + ", ".join(f"`licenses/{spec.name}/{name}`" for _, name in spec.licences),
        ]
        if spec.note:
            lines.append(f"- Note: {spec.note}")
        lines.append("")
    lines += ["## Not included", ""]
    lines += [f"- `{name}`: {reason}" for name, reason in EXCLUDED.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    options = parser.parse_args()
    started = time.monotonic()
    manifest = build(options.corpus.resolve(), options.output.resolve())
    total = sum(source.advisories for source in manifest.sources)
    print(
        f"wrote {options.output / BUNDLE_FILE}: {manifest.compressed_size} bytes "
        f"({manifest.size} uncompressed), {total} advisories, "
        f"in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
