from __future__ import annotations

from stockade import vulndb
from stockade.core.errors import EXIT_INPUT, StockadeError
from stockade.vulndb import errors, importers


def test_public_names_are_exported() -> None:
    for name in vulndb.__all__:
        assert hasattr(vulndb, name), name
    public_errors = {n for n in dir(errors) if n.endswith(("Error", "Advisory"))} - {
        "StockadeError"
    }
    assert public_errors <= set(vulndb.__all__)
    for name in importers.__all__:
        assert hasattr(importers, name), name


def test_errors_are_stockade_errors() -> None:
    assert issubclass(vulndb.VulnDBError, StockadeError)
    assert issubclass(vulndb.InvalidAdvisory, vulndb.VulnDBError)
    assert vulndb.VulnDBError("x").exit_code == EXIT_INPUT


def test_every_importer_has_a_distinct_format_and_source() -> None:
    formats = [importer.format for importer in importers.IMPORTERS]
    assert len(set(formats)) == len(formats) == 6
    assert all(importer.source for importer in importers.IMPORTERS)
