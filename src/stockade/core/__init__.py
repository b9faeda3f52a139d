"""Domain records and the error base shared by every Stockade package (no I/O here)."""

from stockade.core.errors import (
    ArtifactError,
    CatalogError,
    InternalError,
    PolicyFailure,
    RegistryError,
    ReportError,
    StockadeError,
    UnsafeArtifactError,
    UsageError,
)
from stockade.core.models import (
    ArtifactInfo,
    Inventory,
    LayerInfo,
    Location,
    OSInfo,
    Package,
    PackageType,
)

__all__ = [
    "ArtifactError",
    "ArtifactInfo",
    "CatalogError",
    "InternalError",
    "Inventory",
    "LayerInfo",
    "Location",
    "OSInfo",
    "Package",
    "PackageType",
    "PolicyFailure",
    "RegistryError",
    "ReportError",
    "StockadeError",
    "UnsafeArtifactError",
    "UsageError",
]
