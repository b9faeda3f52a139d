"""The errors of the rules engine: one base, and the one a condition's parser may raise."""

from __future__ import annotations

from stockade.core.errors import StockadeError

__all__ = ["ConditionSyntaxError", "RulesError"]


class RulesError(StockadeError):
    """Rules files cannot be loaded, or a condition cannot be compiled."""


class ConditionSyntaxError(RulesError):
    """A condition or output is not in the rules language; ``position`` is 0-based."""

    def __init__(self, message: str, text: str, position: int) -> None:
        super().__init__(f"{message} (at column {position + 1})")
        self.reason = message
        self.text = text
        self.position = position
