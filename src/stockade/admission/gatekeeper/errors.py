"""Errors of Gatekeeper policies: files that cannot be loaded, Rego that cannot be run."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class GatekeeperError(StockadeError):
    """A Gatekeeper ConstraintTemplate, Constraint or test suite cannot be used."""


class PolicyLoadError(GatekeeperError):
    """A policy file or document is malformed; ``source`` names it (a file, or a template kind)."""

    def __init__(self, message: str, *, source: str, hint: str | None = None) -> None:
        super().__init__(f"{source}: {message}", hint=hint)
        self.source = source


class PolicyEvaluationError(GatekeeperError):
    """A template's Rego failed while reviewing an object (a conflict, a builtin error).

    ``constraint`` names the constraint (``Kind/name``) whose evaluation failed.
    """

    def __init__(self, message: str, *, constraint: str, hint: str | None = None) -> None:
        super().__init__(f"{constraint}: {message}", hint=hint)
        self.constraint = constraint


class InvalidReviewError(GatekeeperError):
    """The admission request (or the object to review) lacks what a review needs."""
