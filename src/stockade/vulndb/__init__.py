"""Vulnerability intelligence: advisory feeds, and the local SQLite store they fill.

    from stockade.vulndb import AdvisoryStore, import_path

    with AdvisoryStore.open() as store:          # <user data dir>/stockade/vulndb.sqlite
        import_path(store, "osv-all.zip")         # OSV, Debian tracker, Alpine secdb, …
        store.advisories_for("PyPI", "Django")
        store.status()

Matching installed packages against what the store holds is :mod:`stockade.match`'s job.
"""

from stockade.vulndb.errors import InvalidAdvisory, VulnDBError
from stockade.vulndb.importers import IMPORTERS, Importer, importer_for
from stockade.vulndb.importing import ImportSummary, import_path
from stockade.vulndb.reading import DEFAULT_LIMITS, Limits, Warn
from stockade.vulndb.store import (
    SCHEMA_VERSION,
    AdvisoryStore,
    ImportBatch,
    SourceStatus,
    default_path,
    merge_by_package,
)

__all__ = [
    "DEFAULT_LIMITS",
    "IMPORTERS",
    "SCHEMA_VERSION",
    "AdvisoryStore",
    "ImportBatch",
    "ImportSummary",
    "Importer",
    "InvalidAdvisory",
    "Limits",
    "SourceStatus",
    "VulnDBError",
    "Warn",
    "default_path",
    "import_path",
    "importer_for",
    "merge_by_package",
]
