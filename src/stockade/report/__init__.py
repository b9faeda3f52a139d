"""Renderers for inventories (SBOMs) and scan results (findings)."""

from stockade.report.interface import (
    SBOM_FORMATS,
    SCAN_FORMATS,
    Renderer,
    ScanRenderer,
    sbom_renderer,
    scan_renderer,
)

__all__ = [
    "SBOM_FORMATS",
    "SCAN_FORMATS",
    "Renderer",
    "ScanRenderer",
    "sbom_renderer",
    "scan_renderer",
]
