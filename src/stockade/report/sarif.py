"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, …).

One run, its tool the ``Stockade`` driver with one rule per vulnerability (the CVE when
the finding has one, else the advisory id) and one result per finding:

* rule: short and full description from the advisory title, ``help`` (text and
  Markdown) naming the vulnerability, its severity and link, ``helpUri`` when the link is
  an absolute http(s) URL, and ``properties``: ``security-severity`` (the highest CVSS
  base score among the rule's findings as a string, e.g. ``"9.8"``, else a score in the
  severity's band, which is how GitHub ranks alerts), ``precision`` and ``tags``.
* result: ``level`` from the severity (critical and high: ``error``, medium:
  ``warning``, the rest: ``note``), a message naming package, installed and fixed
  versions, and a physical location: the file the package was found in, as a relative
  URI (no leading slash, percent-encoded), region line 1. A package found in several
  files has the others as ``relatedLocations``; one found nowhere is placed at the
  scanned artifact's name.
* ``partialFingerprints`` (``stockadeFinding/v1``) hash the rule id, the package purl and
  the path, so a dashboard recognises the same finding across scans.
* findings an ignore entry or a VEX statement suppressed carry ``suppressions`` (kind
  ``external``, status ``accepted``, the reason as justification) instead of vanishing,
  which dashboards show as dismissed.

Advisory titles and links come from feeds: they go into JSON strings (safe) and into
the Markdown help escaped, so a title cannot smuggle in a link or an image.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

from stockade import __version__
from stockade.core.advisory import Severity
from stockade.core.finding import Finding, ScanResult
from stockade.report.interface import ScanRenderer
from stockade.report.scan_json import sorted_findings
from stockade.report.table import display_name, printable

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "Stockade"
FINGERPRINT = "stockadeFinding/v1"

LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.NEGLIGIBLE: "note",
    Severity.UNKNOWN: "note",
}

BAND_SCORES = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.NEGLIGIBLE: 0.0,
}
"""A score inside each severity's CVSS band, for findings whose feed gave no score."""

_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]+")
_PATH_SAFE = "/:@!$&'()*+,;=%~"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")


def rule_id(finding: Finding) -> str:
    """The rule a finding reports under: its CVE when it has one, else the advisory id."""
    return finding.cve or finding.advisory_id


def plain_text(text: str) -> str:
    """Untrusted text on one line, control and BIDI characters shown escaped."""
    return printable(" ".join(text.split()))


def _markdown(text: str) -> str:
    """Untrusted text as literal Markdown: as :func:`plain_text`, punctuation escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(text))


def http_link(url: str) -> str | None:
    """``url`` as a valid absolute http(s) URI (RFC 3986), or None when it is not one.

    Characters a URI cannot hold (blanks, controls, ``<>"``, non-ASCII) are
    percent-encoded part by part, so the link is safe in a Markdown autolink and valid
    where a schema asks for a ``uri``; a host with anything odd in it is refused.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
        return None

    def encode(part: str, safe: str) -> str:
        return quote(_LONE_PERCENT.sub("%25", part), safe=safe)

    return urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc,
            encode(parts.path, _PATH_SAFE),
            encode(parts.query, _QUERY_SAFE),
            encode(parts.fragment, _QUERY_SAFE),
        )
    )


def _security_severity(findings: Sequence[Finding], severity: Severity) -> str | None:
    scores = [f.cvss_score for f in findings if f.cvss_score is not None]
    if scores:
        return f"{max(scores):.1f}"
    band = BAND_SCORES.get(severity)
    return None if band is None else f"{band:.1f}"


def _rule(rule: str, findings: Sequence[Finding]) -> dict[str, Any]:
    severity = max(f.severity for f in findings)
    title = next((plain_text(f.title) for f in findings if f.title.strip()), "")
    url = next((u for u in (http_link(f.url) for f in findings) if u), None)
    summary = title or plain_text(f"{rule} in {display_name(findings[0].package)}")
    text_lines = [f"Vulnerability {plain_text(rule)}", f"Severity: {str(severity).upper()}"]
    markdown_lines = [
        f"**Vulnerability {_markdown(rule)}**",
        "",
        f"Severity: {str(severity).upper()}",
    ]
    if title:
        text_lines.append(title)
        markdown_lines += ["", _markdown(title)]
    if url:
        text_lines.append(url)
        markdown_lines += ["", f"<{url}>"]
    descriptor: dict[str, Any] = {
        "id": rule,
        "name": "PackageVulnerability",
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "help": {"text": "\n".join(text_lines), "markdown": "\n".join(markdown_lines)},
        "properties": {
            "precision": "very-high",
            "tags": ["vulnerability", "security", str(severity)],
        },
    }
    if url:
        descriptor["helpUri"] = url
    score = _security_severity(findings, severity)
    if score is not None:
        descriptor["properties"]["security-severity"] = score
    return descriptor


def relative_uri(path: str) -> str:
    """A location's path as a relative URI reference: no leading slash, percent-encoded."""
    return quote(path.lstrip("/"), safe="/") or "."


def _location(path: str) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": relative_uri(path)},
            "region": {"startLine": 1},
        }
    }


def _message(finding: Finding) -> str:
    pkg = finding.package
    fixed = ", ".join(finding.fixed_versions) or finding.fix_state.value
    vulnerability = rule_id(finding)
    if finding.advisory_id != vulnerability:
        vulnerability += f" ({finding.advisory_id})"
    lines = [
        f"Package: {plain_text(display_name(pkg))}",
        f"Installed version: {plain_text(pkg.version or finding.installed_version)}",
        f"Vulnerability: {plain_text(vulnerability)}",
        f"Severity: {str(finding.severity).upper()}",
        f"Fixed version: {plain_text(fixed)}",
    ]
    if finding.url:
        lines.append(f"Link: {plain_text(finding.url)}")
    return "\n".join(lines)


def _fingerprint(finding: Finding, path: str) -> str:
    pkg = finding.package
    identity = pkg.purl or f"{pkg.type.value}/{display_name(pkg)}@{pkg.version}"
    digest = hashlib.sha256("\0".join((rule_id(finding), identity, path)).encode()).hexdigest()
    return digest


def _result(finding: Finding, rule_index: int, fallback_path: str) -> dict[str, Any]:
    paths = [loc.path for loc in finding.package.locations] or [fallback_path]
    result: dict[str, Any] = {
        "ruleId": rule_id(finding),
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [_location(paths[0])],
        "partialFingerprints": {FINGERPRINT: _fingerprint(finding, paths[0])},
        "properties": {
            "advisoryId": finding.advisory_id,
            "aliases": list(finding.aliases),
            "packageName": display_name(finding.package),
            "packageVersion": finding.package.version,
            "packagePurl": finding.package.purl,
            "installedVersion": finding.installed_version,
            "fixedVersions": list(finding.fixed_versions),
            "fixState": finding.fix_state.value,
            "severity": str(finding.severity),
        },
    }
    others = list(dict.fromkeys(p for p in paths[1:] if p != paths[0]))
    if others:
        result["relatedLocations"] = [
            {"id": n, **_location(path), "message": {"text": "The package is also here."}}
            for n, path in enumerate(others, start=1)
        ]
    if finding.suppressed is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": plain_text(
                    f"{finding.suppressed.value}: {finding.suppression_reason}"
                    if finding.suppression_reason
                    else finding.suppressed.value
                ),
            }
        ]
    return result


def scan_to_sarif(result: ScanResult) -> dict[str, Any]:
    """The scan as a SARIF 2.1.0 log (a JSON-ready dict), as the module describes."""
    findings = sorted_findings(result.findings)
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(rule_id(finding), []).append(finding)
    rule_ids = sorted(by_rule)
    index = {rule: n for n, rule in enumerate(rule_ids)}
    artifact = result.inventory.artifact
    fallback = artifact.name or "."
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "fullName": f"{TOOL_NAME} vulnerability scanner",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(rule, by_rule[rule]) for rule in rule_ids],
            }
        },
        "results": [_result(f, index[rule_id(f)], fallback) for f in findings],
        "columnKind": "utf16CodeUnits",
        "properties": {
            "artifactName": artifact.name,
            "artifactType": artifact.kind,
            "imageId": artifact.digest,
            "repoDigests": list(artifact.repo_digests),
            "os": result.inventory.os.distro_qualifier if result.inventory.os else None,
            "advisoriesAge": result.advisories_age or None,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


class SarifRenderer(ScanRenderer):
    format = "sarif"

    def render(self, result: ScanResult, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(json.dumps(scan_to_sarif(result), indent=2) + "\n")
