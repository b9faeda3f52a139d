"""Errors of the advisory store and the feed importers."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class VulnDBError(StockadeError):
    """The advisory store cannot be opened, read or written, or a feed cannot be read."""


class InvalidAdvisory(VulnDBError):
    """An advisory document is malformed or hostile; an import skips it and goes on."""
