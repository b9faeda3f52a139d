"""A scan as CycloneDX 1.6: the SBOM's components plus the vulnerabilities in them.

The components, the scanned artifact and the dependency graph are exactly what
``stockade sbom --format cyclonedx`` writes (:func:`inventory_to_bom`), so a finding's
``affects`` ref is the bom-ref of the component the SBOM gives its package. Each finding
is one entry of ``vulnerabilities`` (an analysis is about one component, and the same CVE
can be suppressed in one package and open in another):

* ``id``, ``source`` (the feed and the advisory link), ``references`` (the aliases, each
  with the database it belongs to), ``description`` (the advisory title);
* ``ratings``: the CVSS score, method and vector when the feed gave them, and the
  severity as Stockade rates it;
* ``affects``: the component, with the installed version ``affected`` (``unaffected``
  for findings a VEX statement marked not affected);
* ``analysis``: for findings a VEX statement suppressed, ``not_affected`` (or
  ``resolved`` for a ``fixed`` statement) with the justification translated to
  CycloneDX's labels where one corresponds; for findings the ignore file accepted,
  ``exploitable`` with the response ``will_not_fix``; for the others ``exploitable``,
  with the response ``update`` when a fixed version exists. The suppression reason is the
  ``detail``. The state says what the scan established: the installed version is in an
  affected range, and nobody has said otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import IO

from cyclonedx.exception import CycloneDxException
from cyclonedx.model import XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.schema.schema import SchemaVersion1Dot6

from stockade.core.advisory import Severity
from stockade.core.errors import ReportError
from stockade.core.finding import Finding, ScanResult, Suppression
from stockade.core.models import Package
from stockade.report.cyclonedx import SPEC_VERSION, inventory_to_bom, unique_refs
from stockade.report.interface import ScanRenderer
from stockade.report.sarif import http_link
from stockade.report.scan_json import sorted_findings

SEVERITIES = {
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.NEGLIGIBLE: VulnerabilitySeverity.INFO,
    Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN,
}

JUSTIFICATIONS = {
    # OpenVEX's labels (the VEX working group's) to the nearest CycloneDX label.
    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "vulnerable_code_cannot_be_controlled_by_adversary": (
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL
    ),
    "inline_mitigations_already_exist": ImpactAnalysisJustification.PROTECTED_AT_RUNTIME,
    **{j.value: j for j in ImpactAnalysisJustification},
}

_ALIAS_DATABASES = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/"),
    ("GHSA-", "GitHub", "https://github.com/advisories/"),
)
_LABEL = re.compile(r"[a-z_]+")
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def _uri(text: str) -> XsUri | None:
    link = http_link(text)
    if link is None:
        return None
    try:
        return XsUri(link)
    except (CycloneDxException, ValueError):
        return None


def _reference(alias: str) -> VulnerabilityReference:
    """An alias, with the database that has it: NVD, GitHub, else OSV (which has all)."""
    name, base = "OSV", "https://osv.dev/vulnerability/"
    for prefix, database, database_url in _ALIAS_DATABASES:
        if alias.startswith(prefix):
            name, base = database, database_url
    # Only a plain identifier goes into a link; anything else is named without one.
    url = _uri(base + alias) if _PLAIN_ID.fullmatch(alias) else None
    return VulnerabilityReference(id=alias, source=VulnerabilitySource(name=name, url=url))


def _method(vector: str | None, score: float | None) -> VulnerabilityScoreSource | None:
    if vector is None:
        return None if score is None else VulnerabilityScoreSource.OTHER
    for prefix, method in (
        ("CVSS:4.0/", VulnerabilityScoreSource.CVSS_V4),
        ("CVSS:3.1/", VulnerabilityScoreSource.CVSS_V3_1),
        ("CVSS:3.0/", VulnerabilityScoreSource.CVSS_V3),
    ):
        if vector.startswith(prefix):
            return method
    if vector.startswith(("AV:", "(AV:")):
        return VulnerabilityScoreSource.CVSS_V2
    return VulnerabilityScoreSource.OTHER


def _ratings(finding: Finding, source: VulnerabilitySource | None) -> list[VulnerabilityRating]:
    score: Decimal | None = None
    if finding.cvss_score is not None:
        try:
            score = Decimal(str(finding.cvss_score))
        except InvalidOperation:
            score = None
    return [
        VulnerabilityRating(
            source=source,
            score=score,
            severity=SEVERITIES[finding.severity],
            method=_method(finding.cvss_vector, finding.cvss_score),
            vector=finding.cvss_vector,
        )
    ]


def _analysis(finding: Finding) -> VulnerabilityAnalysis:
    reason = finding.suppression_reason or None
    if finding.suppressed is Suppression.NOT_AFFECTED:
        label_match = _LABEL.match(finding.suppression_reason)
        label = label_match.group(0) if label_match else ""
        if label == "fixed":
            return VulnerabilityAnalysis(state=ImpactAnalysisState.RESOLVED, detail=reason)
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.NOT_AFFECTED,
            justification=JUSTIFICATIONS.get(label),
            detail=reason,
        )
    if finding.suppressed is Suppression.IGNORED:
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.EXPLOITABLE,
            responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
            detail=f"accepted in the ignore file: {reason}" if reason else None,
        )
    responses = [ImpactAnalysisResponse.UPDATE] if finding.fixed_versions else []
    return VulnerabilityAnalysis(state=ImpactAnalysisState.EXPLOITABLE, responses=responses)


def _vulnerability(finding: Finding, ref: str, bom_ref: str) -> Vulnerability:
    url = _uri(finding.url)
    source = (
        VulnerabilitySource(name=finding.source or None, url=url) if finding.source or url else None
    )
    status = (
        ImpactAnalysisAffectedStatus.UNAFFECTED
        if finding.suppressed is Suppression.NOT_AFFECTED
        else ImpactAnalysisAffectedStatus.AFFECTED
    )
    version = finding.package.version or finding.installed_version or None
    return Vulnerability(
        bom_ref=bom_ref,
        id=finding.advisory_id,
        source=source,
        references=[_reference(a) for a in finding.aliases if a != finding.advisory_id],
        ratings=_ratings(finding, source),
        description=finding.title or None,
        analysis=_analysis(finding),
        affects=[
            BomTarget(
                ref=ref,
                versions=[BomTargetVersionRange(version=version, status=status)]
                if version
                else None,
            )
        ],
    )


def _refs(packages: Sequence[Package]) -> tuple[dict[Package, str], dict[str, str]]:
    """Bom-refs as :func:`inventory_to_bom` assigns them: by package, and by purl."""
    by_package: dict[Package, str] = {}
    by_purl: dict[str, str] = {}
    for pkg, ref in zip(packages, unique_refs(packages), strict=True):
        by_package.setdefault(pkg, ref)
        if pkg.purl:
            by_purl.setdefault(pkg.purl, ref)
    return by_package, by_purl


def scan_to_bom(result: ScanResult) -> Bom:
    """The inventory's BOM with one vulnerability per finding (see the module docs).

    ReportError when a finding's package is not in the inventory: its ``affects`` ref
    would point at nothing.
    """
    bom = inventory_to_bom(result.inventory)
    by_package, by_purl = _refs(result.inventory.packages)
    vulnerabilities = []
    taken: set[str] = set()
    for finding in sorted_findings(result.findings):
        ref = by_package.get(finding.package) or by_purl.get(finding.package.purl)
        if ref is None:
            raise ReportError(
                f"finding {finding.advisory_id} is about {finding.package.name!r}, "
                "which is not in the scanned inventory",
                hint="this is a bug in the code that built the scan result; please report it",
            )
        # Stable across scans (the advisory and the component), unique within the BOM.
        base = f"stockade:vulnerability:{finding.advisory_id}:{ref}"
        bom_ref, copy = base, 1
        while bom_ref in taken:
            copy += 1
            bom_ref = f"{base}#{copy}"
        taken.add(bom_ref)
        vulnerabilities.append(_vulnerability(finding, ref, bom_ref))
    bom.vulnerabilities = vulnerabilities
    return bom


def render_vex_cyclonedx(result: ScanResult) -> str:
    """The scan as CycloneDX 1.6 JSON text."""
    try:
        bom = scan_to_bom(result)
        # As the SBOM renderer does: the library's own validate() is quadratic.
        text = bom.as_json(view_=SchemaVersion1Dot6)  # type: ignore[attr-defined]  # added by py-serializable
    except CycloneDxException as exc:
        raise ReportError(f"cannot render CycloneDX: {exc}") from exc
    document = json.loads(text)
    header = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
    }
    return json.dumps({**header, **document}, indent=2)


class CycloneDXVexRenderer(ScanRenderer):
    format = "cyclonedx"

    def render(self, result: ScanResult, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(render_vex_cyclonedx(result))
        out.write("\n")
