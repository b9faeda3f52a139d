"""Errors for host checks and kube-bench benchmark files."""

from __future__ import annotations

from stockade.compliance.dockerfile.errors import ComplianceError


class HostCheckError(ComplianceError):
    """A host file under the scanned root cannot be read or is not the shape expected."""


class BenchmarkError(HostCheckError):
    """A kube-bench benchmark file is not one: bad YAML, a check without an id, a bad test."""
