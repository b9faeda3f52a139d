"""The plug-in point for advisory feeds: one :class:`Importer` per document format.

An importer is sans-io: it is handed a document already decoded from JSON or YAML
(see :mod:`stockade.vulndb.reading`) and yields :class:`~stockade.core.advisory.Advisory`
records. Finding files, reading archives and writing the store happen in
:mod:`stockade.vulndb.importing`. Adding a feed is adding a module with one subclass and
listing it in :data:`stockade.vulndb.importers.IMPORTERS`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import ClassVar

from stockade.core.advisory import Advisory
from stockade.vulndb.errors import InvalidAdvisory
from stockade.vulndb.reading import DEFAULT_LIMITS, Limits, Warn, decode_document


def ignore_warning(message: str) -> None:
    """A :data:`~stockade.vulndb.reading.Warn` that drops what it is told."""


class Importer(abc.ABC):
    """One feed format."""

    format: ClassVar[str]
    """A short name for the format, used in messages: ``osv``, ``alpine-secdb``…"""
    source: ClassVar[str]
    """The store's name for the feed when the caller names none."""
    merge: ClassVar[bool] = False
    """True when one advisory arrives in pieces across documents (Alpine's secdb has one
    file per release, RubySec one per gem): the store then merges a record into the one
    it has, package by package, instead of replacing it."""

    @abc.abstractmethod
    def recognizes(self, document: object) -> bool:
        """Whether a decoded document has this format's shape (a cheap look, no checks)."""

    @abc.abstractmethod
    def parse(
        self, document: object, *, origin: str, source: str, warn: Warn
    ) -> Iterator[Advisory]:
        """The advisories in one document.

        ``origin`` names the document in messages. Raises
        :class:`~stockade.vulndb.errors.InvalidAdvisory` when the document as a whole is
        unusable; a damaged part of a document that holds many advisories is reported
        through ``warn`` and skipped.
        """

    def source_for(self, document: object) -> str:
        """The default source name for one document (a format may serve several feeds)."""
        return self.source

    def parse_bytes(
        self,
        raw: bytes,
        *,
        name: str,
        source: str | None = None,
        warn: Warn = ignore_warning,
        limits: Limits = DEFAULT_LIMITS,
    ) -> list[Advisory]:
        """Decode and parse one document given as bytes (``name``'s suffix picks JSON or
        YAML). Raises :class:`InvalidAdvisory` for anything unusable."""
        document = decode_document(raw, name, limits)
        if not self.recognizes(document):
            raise InvalidAdvisory(f"{name}: not a {self.format} document")
        return list(
            self.parse(document, origin=name, source=source or self.source_for(document), warn=warn)
        )
