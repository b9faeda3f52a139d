"""Catalogers turn the files of an artifact into Package records."""

from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
    ScanMode,
)
from stockade.inventory.registry import default_catalogers

__all__ = [
    "CatalogContext",
    "CatalogResult",
    "Cataloger",
    "FileContent",
    "ScanMode",
    "build_inventory",
    "default_catalogers",
]
