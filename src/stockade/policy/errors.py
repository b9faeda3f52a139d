"""Errors of the policy inputs: the ignore file and VEX documents."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class PolicyError(StockadeError):
    """A policy input (an ignore file, a VEX document) cannot be used as written."""


class IgnoreFileError(PolicyError):
    """The ignore file is malformed; ``source`` names it, ``index`` the entry (0-based)."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        index: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = source if index is None else f"{source}: entry {index + 1}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.source = source
        self.index = index


class VexError(PolicyError):
    """A VEX document is malformed; ``source`` names it, ``where`` the part (a JSON path)."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        located = source if where is None else f"{source}: {where}"
        super().__init__(f"{located}: {message}", hint=hint)
        self.source = source
        self.where = where
