"""Errors for Dockerfile and image checks."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class ComplianceError(StockadeError):
    """A compliance check could not run on its input."""


class DockerfileError(ComplianceError):
    """A Dockerfile is not one (binary, empty, too large) or breaks a hard parse rule."""
