"""Stockade's own JSON for a scan: every finding with stable keys, for scripts.

The keys are a contract with users' scripts: add new ones, never rename or remove one
without raising :data:`SCHEMA_VERSION`. Non-ASCII text is written as ``\\u`` escapes.

Shape (``schemaVersion`` 1)::

    {
      "schemaVersion": 1,
      "artifact": {…},              # as in `stockade sbom --format json`
      "os": {…} | null,             # as in `stockade sbom --format json`
      "advisoriesAge": "…" | null,  # when the advisory data was last updated
      "summary": {
        "findings": 12, "active": 10, "suppressed": 2,
        "bySeverity": {"critical": 1, "high": 3, …}   # active findings only
      },
      "findings": [
        {
          "id": "GHSA-…",                   # the advisory that matched
          "aliases": ["CVE-…"], "cve": "CVE-…" | null,
          "package": {"name", "version", "type", "namespace", "purl"},
          "installedVersion": "…",          # the version compared (source version for
                                            # distribution packages)
          "fixedVersions": ["…"], "fixState": "fixed" | "not-fixed" | "wont-fix" | …,
          "severity": "critical" | "high" | "medium" | "low" | "negligible" | "unknown",
          "cvss": {"score": 9.8, "vector": "CVSS:3.1/…" | null} | null,
          "title", "url", "source", "ecosystem", "matchedName",
          "locations": [{"path": "var/lib/dpkg/status", "layer": "sha256:…" | null}],
          "suppressed": false,
          "suppression": {"kind": "ignored" | "not-affected", "reason": "…"} | null
        }
      ]
    }

Findings are sorted as the table sorts packages (OS packages first, then by ecosystem and
name), then by vulnerability id, so two scans of the same image diff cleanly.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from stockade.core.advisory import Severity
from stockade.core.finding import Finding, ScanResult
from stockade.report.interface import ScanRenderer
from stockade.report.json import inventory_to_dict
from stockade.report.table import sort_key

SCHEMA_VERSION = 1

SEVERITY_ORDER = tuple(sorted(Severity, reverse=True))
"""Critical first: the order summaries list severities in."""


def finding_sort_key(finding: Finding) -> tuple[Any, ...]:
    """Package order as the SBOM table has it, then vulnerability id."""
    return (*sort_key(finding.package), finding.package.purl, finding.advisory_id)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=finding_sort_key)


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    """How many of ``findings`` have each severity, every severity present (critical first)."""
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITY_ORDER}


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    pkg = finding.package
    cvss = (
        None
        if finding.cvss_score is None and finding.cvss_vector is None
        else {"score": finding.cvss_score, "vector": finding.cvss_vector}
    )
    suppression = (
        None
        if finding.suppressed is None
        else {"kind": finding.suppressed.value, "reason": finding.suppression_reason}
    )
    return {
        "id": finding.advisory_id,
        "aliases": list(finding.aliases),
        "cve": finding.cve,
        "package": {
            "name": pkg.name,
            "version": pkg.version,
            "type": pkg.type.value,
            "namespace": pkg.namespace,
            "purl": pkg.purl,
        },
        "installedVersion": finding.installed_version,
        "fixedVersions": list(finding.fixed_versions),
        "fixState": finding.fix_state.value,
        "severity": str(finding.severity),
        "cvss": cvss,
        "title": finding.title,
        "url": finding.url,
        "source": finding.source,
        "ecosystem": finding.ecosystem,
        "matchedName": finding.matched_name,
        "locations": [{"path": loc.path, "layer": loc.layer} for loc in pkg.locations],
        "suppressed": finding.suppressed is not None,
        "suppression": suppression,
    }


def scan_to_dict(result: ScanResult) -> dict[str, Any]:
    """The scan as the JSON document the module documentation describes."""
    inventory = inventory_to_dict(result.inventory)
    active = result.active
    return {
        "schemaVersion": SCHEMA_VERSION,
        "artifact": inventory["artifact"],
        "os": inventory["os"],
        "advisoriesAge": result.advisories_age or None,
        "summary": {
            "findings": len(result.findings),
            "active": len(active),
            "suppressed": len(result.findings) - len(active),
            "bySeverity": {str(s): n for s, n in severity_counts(active).items()},
        },
        "findings": [finding_to_dict(f) for f in sorted_findings(result.findings)],
    }


class ScanJsonRenderer(ScanRenderer):
    format = "json"

    def render(self, result: ScanResult, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(json.dumps(scan_to_dict(result), indent=2) + "\n")
