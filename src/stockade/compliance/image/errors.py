"""Errors for image checks."""

from __future__ import annotations

from stockade.compliance.dockerfile.errors import ComplianceError


class ImageCheckError(ComplianceError):
    """Image checks were called with settings they cannot work with."""
