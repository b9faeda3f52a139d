"""SARIF 2.1.0 for ``stockade check``: failed checks and secrets on code-scanning dashboards.

One run, its tool the ``Stockade`` driver with one rule per check that failed (or was
suppressed) and one per secret rule that fired:

* rule: id (Stockade's, e.g. ``STK-K8S-001``), title, rationale as the full
  description, remediation as ``help``, ``properties.security-severity`` from the
  check's severity band (how GitHub ranks alerts), tags with the target kind and the
  ids the check maps to (``CKV_K8S_16``, …).
* result: ``level`` from the severity, the message (what is wrong, the JSON path of the
  field for manifests), and a physical location: the file, as a relative URI, and the
  line where one is known; the resource (``Deployment/prod/web``) is the logical
  location. Image results carry the layer that introduced what failed.
* suppressed results (annotation, inline comment, ignore file) carry ``suppressions``
  with the reason, so dashboards show them dismissed rather than losing them. Passed and
  not-applicable results are not reported: SARIF lists problems.
* secrets: one result each, the message holding the *redacted* match only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import IO, Any

from stockade import __version__
from stockade.compliance.interface import CheckMeta, Result, SecretFinding, Status
from stockade.core.advisory import Severity
from stockade.report.jsontext import dumps
from stockade.report.sarif import (
    BAND_SCORES,
    FINGERPRINT,
    LEVELS,
    SARIF_SCHEMA,
    SARIF_VERSION,
    TOOL_NAME,
    plain_text,
    relative_uri,
)


def _score(severity: Severity) -> str:
    return f"{BAND_SCORES.get(severity, 0.0):.1f}"


def _check_rule(meta: CheckMeta) -> dict[str, Any]:
    title = plain_text(meta.title)
    full = plain_text(meta.rationale) or title
    help_text = plain_text(meta.remediation) or title
    refs = [f"{scheme}:{ref}" for scheme, ref in sorted(meta.references.items())]
    return {
        "id": meta.id,
        "name": meta.id.replace("-", ""),
        "shortDescription": {"text": title},
        "fullDescription": {"text": full},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "help": {"text": help_text, "markdown": help_text},
        "properties": {
            "precision": "very-high",
            "security-severity": _score(meta.severity),
            "tags": ["security", "misconfiguration", meta.target.value, *refs],
        },
    }


def _secret_rule(secret: SecretFinding) -> dict[str, Any]:
    description = plain_text(secret.description) or secret.rule_id
    return {
        "id": secret.rule_id,
        "name": "Secret",
        "shortDescription": {"text": description},
        "fullDescription": {"text": description},
        "defaultConfiguration": {"level": LEVELS[secret.severity]},
        "help": {
            "text": "Remove the secret from the file, rotate it, and read it at run time "
            "from a secret store.",
        },
        "properties": {
            "precision": "high",
            "security-severity": _score(secret.severity),
            "tags": ["security", "secret", *secret.tags],
        },
    }


def _location(file: str, line: int | None, fallback: str) -> dict[str, Any]:
    region = {"startLine": line} if line else {"startLine": 1}
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": relative_uri(file or fallback)},
            "region": region,
        }
    }


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _check_result(result: Result, index: int, target: str) -> dict[str, Any]:
    meta = result.check
    suppression = result.suppression
    message = result.message if suppression is None else ""
    text = plain_text(meta.title)
    if message:
        text += f": {plain_text(message)}"
    if result.path:
        text += f" (at {plain_text(result.path)})"
    location = _location(result.file, result.line, target)
    location["logicalLocations"] = [{"name": plain_text(result.resource), "kind": "resource"}]
    sarif: dict[str, Any] = {
        "ruleId": meta.id,
        "ruleIndex": index,
        "level": LEVELS[meta.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(meta.id, result.resource, result.file, result.path)
        },
        "properties": {
            "severity": str(meta.severity),
            "resource": result.resource,
            "path": result.path,
        },
    }
    if result.layer:
        sarif["properties"]["layer"] = result.layer
    if suppression is not None:
        sarif["suppressions"] = [
            {
                "kind": "inSource" if suppression.in_source else "external",
                "status": "accepted",
                "justification": plain_text(f"{suppression.reason} ({suppression.where})"),
            }
        ]
    return sarif


def _secret_result(secret: SecretFinding, index: int, target: str) -> dict[str, Any]:
    sarif: dict[str, Any] = {
        "ruleId": secret.rule_id,
        "ruleIndex": index,
        "level": LEVELS[secret.severity],
        "message": {
            "text": f"{plain_text(secret.description) or secret.rule_id}: "
            f"{plain_text(secret.redacted)}"
        },
        "locations": [_location(secret.file, secret.line, target)],
        "partialFingerprints": {
            FINGERPRINT: _fingerprint(secret.rule_id, secret.file, str(secret.line))
        },
        "properties": {"severity": str(secret.severity)},
    }
    if secret.layer:
        sarif["properties"]["layer"] = secret.layer
    return sarif


def _reported(result: Result) -> bool:
    return result.status is Status.FAILED or result.suppression is not None


def compliance_to_sarif(
    target: str, results: Sequence[Result], secrets: Sequence[SecretFinding] = ()
) -> dict[str, Any]:
    """The check's results as a SARIF 2.1.0 log (a JSON-ready dict), as the module says."""
    reported = [r for r in results if _reported(r)]
    rules: dict[str, dict[str, Any]] = {}
    for result in reported:
        rules.setdefault(result.check.id, _check_rule(result.check))
    for secret in secrets:
        rules.setdefault(secret.rule_id, _secret_rule(secret))
    index = {rule_id: n for n, rule_id in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "fullName": f"{TOOL_NAME} compliance and secrets checker",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": list(rules.values()),
            }
        },
        "results": [
            *(_check_result(r, index[r.check.id], target) for r in reported),
            *(_secret_result(s, index[s.rule_id], target) for s in secrets),
        ],
        "columnKind": "utf16CodeUnits",
        "properties": {"target": target},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(
    out: IO[str], target: str, results: Sequence[Result], secrets: Sequence[SecretFinding] = ()
) -> None:
    # Rendered whole before writing: a failure never leaves half a document behind.
    out.write(dumps(compliance_to_sarif(target, results, secrets)) + "\n")
