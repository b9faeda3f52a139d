"""SARIF for `stockade check`: valid against the official schema, locations at file and
line, suppressions kept as dismissed, secrets redacted."""

from __future__ import annotations

import io
import json
from typing import Any

from tests.report.test_sarif import assert_valid

from stockade.compliance.interface import Result, SecretFinding, Status, Suppression
from stockade.compliance.kubernetes import check_manifests
from stockade.compliance.kubernetes.manifests import load_manifest_text
from stockade.compliance.suppress import apply_skips, suppress
from stockade.report.compliance_sarif import compliance_to_sarif, render_sarif

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: ops
spec:
  hostPID: true
  containers:
    - name: shell
      image: "busybox:latest"
      securityContext:
        privileged: true
"""


def _results() -> list[Result]:
    return check_manifests(load_manifest_text(MANIFEST, name="deploy/pod.yaml"))


def _render(results: list[Result], secrets: list[SecretFinding] | None = None) -> dict[str, Any]:
    out = io.StringIO()
    render_sarif(out, "pod.yaml", results, secrets or [])
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def test_failed_checks_become_valid_sarif_results_at_their_file_and_line() -> None:
    results = _results()
    document = _render(results)
    assert_valid(document)
    (run,) = document["runs"]
    failed = [r for r in results if r.status is Status.FAILED]
    assert len(run["results"]) == len(failed)  # passes are not problems
    privileged = next(r for r in failed if r.check.references.get("checkov") == "CKV_K8S_16")
    sarif = next(
        r
        for r in run["results"]
        if r["ruleId"] == privileged.check.id and "privileged" in r["properties"]["path"]
    )
    location = sarif["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "deploy/pod.yaml"
    assert location["physicalLocation"]["region"]["startLine"] == 12
    assert location["logicalLocations"][0]["name"] == "Pod/ops/debug"
    assert sarif["level"] == "error"
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    rule = rules[privileged.check.id]
    assert run["tool"]["driver"]["rules"][sarif["ruleIndex"]]["id"] == sarif["ruleId"]
    assert "checkov:CKV_K8S_16" in rule["properties"]["tags"]
    assert float(rule["properties"]["security-severity"]) >= 7.0


def test_suppressed_results_are_kept_as_accepted_suppressions() -> None:
    results = _results()
    skip = Suppression("debug pod for incidents", "annotation stockade.io/skip", True)
    suppressed = apply_skips(results, {"CKV_K8S_16": skip})
    document = _render(suppressed)
    assert_valid(document)
    (run,) = document["runs"]
    kept = [r for r in run["results"] if "suppressions" in r]
    assert kept
    assert all(r["suppressions"][0]["kind"] == "inSource" for r in kept)
    assert "debug pod for incidents" in kept[0]["suppressions"][0]["justification"]
    external = suppress(
        next(r for r in results if r.status is Status.FAILED),
        Suppression("accepted", ".stockadeignore.yaml, entry 1", False),
    )
    (result,) = compliance_to_sarif("t", [external])["runs"][0]["results"]
    assert result["suppressions"][0]["kind"] == "external"


def test_secrets_are_results_with_the_redacted_match_only() -> None:
    secret = SecretFinding(
        "github-pat", "GitHub token", "app/.env", 4, "ghp_****", layer="sha256:abc"
    )
    document = _render([], [secret])
    assert_valid(document)
    (result,) = document["runs"][0]["results"]
    assert result["ruleId"] == "github-pat"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/.env"
    assert "ghp_****" in result["message"]["text"]
    assert result["properties"]["layer"] == "sha256:abc"
