"""Importing advisories from a file, a directory or a zip archive into the store.

:func:`import_path` finds the documents (``.json``, ``.yaml``, ``.yml``, each possibly
gzipped; zip archives such as OSV's ``all.zip``), recognises each document's format by
its shape (see :mod:`stockade.vulndb.importers`) and writes everything in one store
transaction. A document that cannot be read, parsed or recognised is skipped with a
warning naming it; the rest of the import goes on.

Two repository layouts are narrowed on purpose: a checkout of nodejs/security-wg is read
from ``vuln/npm`` only (its ``core`` and ``deps`` files describe Node.js itself, not npm
packages), and a checkout of ruby-advisory-db from ``gems`` only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stockade.core.advisory import Advisory
from stockade.vulndb.errors import InvalidAdvisory, VulnDBError
from stockade.vulndb.importers import importer_for
from stockade.vulndb.reading import (
    DEFAULT_LIMITS,
    Limits,
    Warn,
    decode_document,
    is_document_name,
    is_zip,
    iter_zip_documents,
    read_file,
    skipped,
)
from stockade.vulndb.store import AdvisoryStore

_log = logging.getLogger("stockade.vulndb")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What one :func:`import_path` did."""

    path: Path
    documents: int
    """Documents read and recognised."""
    skipped: int
    """Documents (or archive members) skipped with a warning."""
    advisories: int
    """Distinct advisories written to the store (one merged from several documents, or
    read twice, counts once)."""
    seconds: float
    sources: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    """Distinct advisories written, per source."""


def import_path(
    store: AdvisoryStore,
    path: Path | str,
    *,
    warn: Warn | None = None,
    source: str | None = None,
    replace_source: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportSummary:
    """Import every advisory document under ``path`` (a file, a directory or a zip).

    ``source`` names the feed in the store (default: the format's own name, such as
    ``osv`` or ``debian-tracker``). With ``replace_source``, each source the import
    writes is emptied first, so advisories the feed dropped disappear. ``warn`` receives
    one line per skipped document (default: the ``stockade.vulndb`` logger).

    The import is one transaction: if it fails, the store keeps what it had. Raises
    :class:`VulnDBError` when ``path`` does not exist or the store cannot be written.
    """
    report: Warn = warn if warn is not None else _log.warning
    root = Path(path)
    if not root.exists():
        raise VulnDBError(f"{root}: no such file or directory")
    started = time.monotonic()
    counter = _Counter(report)
    written: dict[str, set[str]] = {}
    with store.importing(origin=str(root)) as batch:
        cleared: set[str] = set()
        for name, raw in _documents(root, counter.skip, limits):
            advisories, merge = _parse(name, raw, source, counter, limits)
            for advisory in advisories:
                if replace_source and advisory.source not in cleared:
                    batch.clear_source(advisory.source)
                    cleared.add(advisory.source)
                batch.add(advisory, merge=merge)
                written.setdefault(advisory.source, set()).add(advisory.id)
    return ImportSummary(
        path=root,
        documents=counter.documents,
        skipped=counter.skipped,
        advisories=sum(len(ids) for ids in written.values()),
        seconds=time.monotonic() - started,
        sources={source: len(ids) for source, ids in sorted(written.items())},
    )


class _Counter:
    def __init__(self, report: Warn) -> None:
        self._report = report
        self.documents = 0
        self.skipped = 0

    def skip(self, message: str) -> None:
        """A whole document or archive member was left out."""
        self.skipped += 1
        self._report(message)

    def note(self, message: str) -> None:
        """Part of a document was left out (one entry, one field)."""
        self._report(message)


def _parse(
    name: str, raw: bytes, source: str | None, counter: _Counter, limits: Limits
) -> tuple[list[Advisory], bool]:
    try:
        document = decode_document(raw, name, limits)
        importer = importer_for(document)
        if importer is None:
            raise InvalidAdvisory(f"{name}: not a recognised advisory format")
        advisories = list(
            importer.parse(
                document,
                origin=name,
                source=source or importer.source_for(document),
                warn=counter.note,
            )
        )
    except InvalidAdvisory as exc:
        counter.skip(skipped(name, exc.message))
        return [], False
    counter.documents += 1
    return advisories, importer.merge


def _documents(root: Path, warn: Warn, limits: Limits) -> Iterator[tuple[str, bytes]]:
    if root.is_dir():
        for file in _walk(_narrowed(root)):
            yield from _file_documents(file, warn, limits)
    else:
        yield from _file_documents(root, warn, limits)


def _file_documents(file: Path, warn: Warn, limits: Limits) -> Iterator[tuple[str, bytes]]:
    if is_zip(file):
        for member, raw in iter_zip_documents(file, warn=warn, limits=limits):
            yield f"{file}!{member}", raw
        return
    try:
        yield str(file), read_file(file, limits)
    except InvalidAdvisory as exc:
        warn(skipped(str(file), exc.message))


def _narrowed(root: Path) -> Path:
    for layout in (root / "vuln" / "npm", root / "gems"):
        if layout.is_dir():
            return layout
    return root


def _walk(root: Path) -> Iterator[Path]:
    """Document and zip files under ``root`` in a stable order, hidden entries left out;
    symbolic links to directories are not followed."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if is_document_name(name) or name.endswith(".zip"):
                yield Path(directory, name)
