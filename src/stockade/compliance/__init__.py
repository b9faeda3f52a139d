"""Compliance and secrets: checks over images, Dockerfiles, Kubernetes manifests, hosts and
serverless configurations, and secret detection with gitleaks-format rules."""

from stockade.compliance.interface import (
    CheckMeta,
    Result,
    SecretFinding,
    Status,
    Suppression,
    Target,
)

__all__ = ["CheckMeta", "Result", "SecretFinding", "Status", "Suppression", "Target"]
