"""The offline advisory bundle: a built store shipped in the package, installed on first use.

``stockade/vulndb/data/`` holds ``advisories.sqlite.zst`` (a store built by
``scripts/build_bundle.py`` from snapshots of public advisory databases, compressed with
zstandard), ``MANIFEST.json`` (where each source's data comes from: repository, commit,
date, licence, counts) and the licences and notices of that data. When a store is about
to be used and does not exist yet, :func:`ensure_store` (or :func:`install_if_missing`)
decompresses the bundle into
place, so the first scan works without a network. ``stockade db update`` replaces the
bundled sources with current data as it downloads the feeds.

Installing is one decompression (no import), checked against the manifest's length and
sha256 before the file is renamed into place under the store's writer lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, Self

import zstandard

from stockade.vulndb.errors import VulnDBError
from stockade.vulndb.store import SCHEMA_VERSION, AdvisoryStore, default_path
from stockade.vulndb.update import SourceState, store_lock, usual_permissions, write_state

BUNDLE_FILE: Final = "advisories.sqlite.zst"
MANIFEST_FILE: Final = "MANIFEST.json"
MANIFEST_VERSION: Final = 1
_CHUNK: Final = 1024 * 1024


class BundleError(VulnDBError):
    """The shipped bundle is missing, damaged, or made for another store schema."""


@dataclass(frozen=True, slots=True)
class BundledSource:
    """One source of the bundle and the snapshot it was built from."""

    name: str
    """The store's source name (``osv-pypi``)."""
    repository: str
    commit: str
    """The snapshot's commit, or empty when the data was derived rather than copied."""
    date: str
    """The snapshot's date (ISO, as precise as known: ``2024-10-10`` or ``2020-06``)."""
    licence: str
    advisories: int
    documents: int
    skipped: int = 0
    newest: dt.datetime | None = None
    """The latest ``modified`` time of its advisories."""
    directory: str = ""
    """The corpus directory it was built from."""
    licence_files: tuple[str, ...] = ()
    """Below ``data/``."""
    note: str = ""

    @property
    def snapshot(self) -> str:
        """``repository@commit (date)`` for messages."""
        commit = f"@{self.commit[:8]}" if self.commit else ""
        return f"{self.repository}{commit} ({self.date})"


@dataclass(frozen=True, slots=True)
class BundleManifest:
    """``MANIFEST.json``: what the bundle holds and how to check it."""

    built: dt.datetime
    schema_version: int
    file: str
    size: int
    """Bytes of the store once decompressed."""
    sha256: str
    """Of the decompressed store."""
    compressed_size: int
    sources: tuple[BundledSource, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)
    """Corpus directories left out, and why."""

    @classmethod
    def from_json(cls, document: object) -> Self:
        """Read a parsed manifest; raises :class:`BundleError` when it is malformed."""
        try:
            if not isinstance(document, dict) or document.get("version") != MANIFEST_VERSION:
                raise ValueError("not a version 1 manifest")
            return cls(
                built=dt.datetime.fromisoformat(document["built"]),
                schema_version=int(document["schema_version"]),
                file=str(document["file"]),
                size=int(document["size"]),
                sha256=str(document["sha256"]),
                compressed_size=int(document["compressed_size"]),
                sources=tuple(_bundled_source(entry) for entry in document["sources"]),
                excluded={str(k): str(v) for k, v in document.get("excluded", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"the bundle's {MANIFEST_FILE} is malformed: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "built": self.built.isoformat(),
            "schema_version": self.schema_version,
            "file": self.file,
            "size": self.size,
            "sha256": self.sha256,
            "compressed_size": self.compressed_size,
            "sources": [_source_json(source) for source in self.sources],
            "excluded": dict(self.excluded),
        }

    def source(self, name: str) -> BundledSource | None:
        return next((s for s in self.sources if s.name == name), None)


def _bundled_source(entry: Mapping[str, Any]) -> BundledSource:
    newest = entry.get("newest")
    return BundledSource(
        name=str(entry["name"]),
        repository=str(entry["repository"]),
        commit=str(entry.get("commit", "")),
        date=str(entry["date"]),
        licence=str(entry["licence"]),
        advisories=int(entry["advisories"]),
        documents=int(entry["documents"]),
        skipped=int(entry.get("skipped", 0)),
        newest=dt.datetime.fromisoformat(newest) if newest else None,
        directory=str(entry.get("directory", "")),
        licence_files=tuple(str(name) for name in entry.get("licence_files", ())),
        note=str(entry.get("note", "")),
    )


def _source_json(source: BundledSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "directory": source.directory,
        "repository": source.repository,
        "commit": source.commit,
        "date": source.date,
        "licence": source.licence,
        "licence_files": list(source.licence_files),
        "advisories": source.advisories,
        "documents": source.documents,
        "skipped": source.skipped,
        "newest": source.newest.isoformat() if source.newest else None,
        "note": source.note,
    }


def data_directory() -> Traversable:
    """The package's ``vulndb/data`` directory."""
    return resources.files("stockade.vulndb").joinpath("data")


def read_manifest(directory: Traversable | None = None) -> BundleManifest | None:
    """The shipped bundle's manifest; None when the package ships no bundle (a
    distribution may leave the data out)."""
    where = directory or data_directory()
    manifest = where.joinpath(MANIFEST_FILE)
    if not manifest.is_file():
        return None
    try:
        document = json.loads(manifest.read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the bundle's {MANIFEST_FILE}: {exc}") from exc
    return BundleManifest.from_json(document)


@dataclass(frozen=True, slots=True)
class BundleInstall:
    """What :func:`ensure_store` did."""

    store: Path
    manifest: BundleManifest
    seconds: float


def install_if_missing(
    path: Path | str | None = None, *, directory: Traversable | None = None
) -> BundleInstall | None:
    """Install the bundle as the store at ``path`` (default :func:`default_path`) unless
    a store is already there; None when nothing was installed (a store exists, or the
    package ships no bundle). Raises :class:`BundleError` when the bundle is damaged or
    does not fit this Stockade's store schema."""
    target = Path(path) if path is not None else default_path()
    if target.exists():
        return None
    where = directory or data_directory()
    manifest = read_manifest(where)
    if manifest is None:
        return None
    with store_lock(target, wait=True):
        if target.exists():  # another process installed it while we waited
            return None
        return install_bundle(target, manifest, where)


def ensure_store(
    path: Path | str | None = None,
    *,
    read_only: bool = True,
    info: Callable[[str], None] | None = None,
) -> AdvisoryStore:
    """Open the store, installing the bundle first when there is none: what a scan
    calls, so that it works offline from the first run. ``info`` hears of an install."""
    target = Path(path) if path is not None else default_path()
    installed = install_if_missing(target)
    if installed is not None and info is not None:
        info(describe_install(installed))
    return AdvisoryStore.open(target, read_only=read_only)


def describe_install(installed: BundleInstall) -> str:
    """One line for a person about a bundle just installed."""
    dates = sorted(source.date for source in installed.manifest.sources)
    return (
        f"installed the advisory data shipped with Stockade at {installed.store} "
        f"({installed.seconds:.1f}s); it is a snapshot (sources dated {dates[0]} to "
        f"{dates[-1]}): run `stockade db update` for current data"
    )


def install_bundle(
    target: Path, manifest: BundleManifest, directory: Traversable | None = None
) -> BundleInstall:
    """Decompress the bundle to ``target`` (which must not be in use: callers hold the
    store lock) and record its sources in the update state."""
    started = time.monotonic()
    if manifest.schema_version != SCHEMA_VERSION:
        raise BundleError(
            f"the bundled advisory data is for store schema {manifest.schema_version}, "
            f"this Stockade uses {SCHEMA_VERSION}",
            hint="run `stockade db update` (or `stockade db import`) to build the store",
        )
    packed = (directory or data_directory()).joinpath(manifest.file)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".bundle", dir=target.parent)
    staging = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _decompress(packed, out, manifest)
        with AdvisoryStore.open(staging, read_only=True) as store:
            len(store)  # the schema check, and one read of the tables
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        usual_permissions(staging)
        os.replace(staging, target)
    except OSError as exc:
        raise BundleError(f"cannot install the advisory bundle at {target}: {exc}") from exc
    finally:
        staging.unlink(missing_ok=True)
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    write_state(
        target,
        {
            source.name: SourceState(
                origin="bundle",
                location=f"bundle: {source.snapshot}",
                updated=moment,
                snapshot={
                    "repository": source.repository,
                    "commit": source.commit,
                    "date": source.date,
                    "built": manifest.built.date().isoformat(),
                },
            )
            for source in manifest.sources
        },
    )
    return BundleInstall(target, manifest, time.monotonic() - started)


def _decompress(packed: Traversable, out: Any, manifest: BundleManifest) -> None:
    digest = hashlib.sha256()
    written = 0
    try:
        with packed.open("rb") as compressed:
            reader = zstandard.ZstdDecompressor().stream_reader(compressed)
            while chunk := reader.read(_CHUNK):
                written += len(chunk)
                if written > manifest.size:
                    raise BundleError("the advisory bundle is larger than its manifest says")
                digest.update(chunk)
                out.write(chunk)
    except FileNotFoundError as exc:
        raise BundleError(f"the advisory bundle {manifest.file} is missing") from exc
    except zstandard.ZstdError as exc:
        raise BundleError(f"the advisory bundle is damaged: {exc}") from exc
    if written != manifest.size or digest.hexdigest() != manifest.sha256:
        raise BundleError(
            "the advisory bundle does not match its manifest (damaged package?)",
            hint="reinstall Stockade, or run `stockade db update`",
        )
