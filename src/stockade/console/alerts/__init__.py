"""Alert channels, rules and delivery (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

from stockade.console.context import ConsoleContext

__all__ = ["ROUTERS", "install"]

ROUTERS: tuple[APIRouter, ...] = ()


def install(context: ConsoleContext) -> None:
    """Hook this feature into a Console process (listeners, workers)."""
