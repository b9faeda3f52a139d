"""The plug-in point for output formats: one module per format."""

from __future__ import annotations

import abc
import importlib
from typing import IO, ClassVar

from stockade.core.errors import UsageError
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
