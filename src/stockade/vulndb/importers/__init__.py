"""Advisory feed formats, one module each; :func:`importer_for` picks one for a document."""

from __future__ import annotations

from typing import Final

from stockade.vulndb.importers.alpine_secdb import AlpineSecdbImporter
from stockade.vulndb.importers.debian_tracker import DebianTrackerImporter
from stockade.vulndb.importers.interface import Importer, ignore_warning
from stockade.vulndb.importers.nodejs import NodejsSecurityWgImporter
from stockade.vulndb.importers.osv import OsvImporter
from stockade.vulndb.importers.rubysec import RubySecImporter
from stockade.vulndb.importers.trivy_fixture import TrivyFixtureImporter

IMPORTERS: Final[tuple[Importer, ...]] = (
    OsvImporter(),
    AlpineSecdbImporter(),
    RubySecImporter(),
    NodejsSecurityWgImporter(),
    TrivyFixtureImporter(),
    # Last: its shape (a mapping of mappings) is the least specific.
    DebianTrackerImporter(),
)
"""Every format, in the order documents are offered to them."""


def importer_for(document: object) -> Importer | None:
    """The first importer that recognises a decoded document's shape."""
    for importer in IMPORTERS:
        if importer.recognizes(document):
            return importer
    return None


__all__ = [
    "IMPORTERS",
    "AlpineSecdbImporter",
    "DebianTrackerImporter",
    "Importer",
    "NodejsSecurityWgImporter",
    "OsvImporter",
    "RubySecImporter",
    "TrivyFixtureImporter",
    "ignore_warning",
    "importer_for",
]
