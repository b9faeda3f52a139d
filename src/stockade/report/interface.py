"""The plug-in point for output formats: one module per format."""

from __future__ import annotations

import abc
import importlib
from typing import IO, ClassVar

from stockade.core.errors import UsageError
from stockade.core.finding import ScanResult
from stockade.core.models import Inventory


class Renderer(abc.ABC):
    format: ClassVar[str]

    @abc.abstractmethod
    def render(self, inventory: Inventory, out: IO[str]) -> None:
        """Write ``inventory`` to ``out`` in this format."""


_SBOM_RENDERERS = {
    "table": "stockade.report.table:TableRenderer",
    "json": "stockade.report.json:JsonRenderer",
    "cyclonedx": "stockade.report.cyclonedx:CycloneDXRenderer",
    "spdx": "stockade.report.spdx:SPDXRenderer",
}
SBOM_FORMATS = tuple(_SBOM_RENDERERS)


def sbom_renderer(name: str) -> Renderer:
    try:
        spec = _SBOM_RENDERERS[name]
    except KeyError:
        raise UsageError(
            f"unknown SBOM format {name!r}", hint=f"choose one of: {', '.join(SBOM_FORMATS)}"
        ) from None
    module_name, class_name = spec.split(":")
    cls: type[Renderer] = getattr(importlib.import_module(module_name), class_name)
    return cls()


class ScanRenderer(abc.ABC):
    """Writes a scan's findings in one format; one module per format, as for SBOMs."""

    format: ClassVar[str]

    @abc.abstractmethod
    def render(self, result: ScanResult, out: IO[str]) -> None:
        """Write ``result`` to ``out`` in this format."""


_SCAN_RENDERERS = {
    "table": "stockade.report.scan_table:ScanTableRenderer",
    "json": "stockade.report.scan_json:ScanJsonRenderer",
    "sarif": "stockade.report.sarif:SarifRenderer",
    "cyclonedx": "stockade.report.vex_cyclonedx:CycloneDXVexRenderer",
}
SCAN_FORMATS = tuple(_SCAN_RENDERERS)


def scan_renderer(name: str) -> ScanRenderer:
    """The renderer for a scan output format; UsageError for a format not in SCAN_FORMATS."""
    try:
        spec = _SCAN_RENDERERS[name]
    except KeyError:
        raise UsageError(
            f"unknown scan output format {name!r}",
            hint=f"choose one of: {', '.join(SCAN_FORMATS)}",
        ) from None
    module_name, class_name = spec.split(":")
    cls: type[ScanRenderer] = getattr(importlib.import_module(module_name), class_name)
    return cls()
