"""An inventory and an advisory source in, a :class:`ScanResult` out."""

from __future__ import annotations

from stockade.core.finding import ScanResult
from stockade.core.models import Inventory
from stockade.match.matcher import AdvisoryLookup, Warn, match


def scan_inventory(
    inventory: Inventory,
    advisories: AdvisoryLookup,
    *,
    include_dev: bool = False,
    advisories_age: str = "",
    warn: Warn | None = None,
) -> ScanResult:
    """Match every package of ``inventory``; development-only packages only when asked."""
    packages = [p for p in inventory.packages if include_dev or not p.dev]
    findings = match(packages, inventory.os, advisories, warn=warn)
    return ScanResult(inventory=inventory, findings=tuple(findings), advisories_age=advisories_age)
