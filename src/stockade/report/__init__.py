"""Renderers for inventories (SBOMs) and, later, findings."""

from stockade.report.interface import SBOM_FORMATS, Renderer, sbom_renderer

__all__ = ["SBOM_FORMATS", "Renderer", "sbom_renderer"]
