"""Errors for serverless (ECS task definition, Lambda function) checks."""

from __future__ import annotations

from stockade.compliance.dockerfile.errors import ComplianceError


class ServerlessError(ComplianceError):
    """A task definition, function configuration or policy document is not the shape AWS returns."""
