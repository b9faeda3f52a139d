"""SARIF: valid against the official 2.1.0 schema, and shaped as GitHub code scanning
expects (rules with security-severity, levels, relative locations, fingerprints)."""

from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from tests.policy.samples import (
    BABEL_GHSA,
    EVIL_FINDING,
    IMAGE,
    OPENSSL_CVE,
    REQUESTS_GHSA,
    UNKNOWN_FINDING,
    ZLIB_CVE,
    scan_result,
    scan_results,
)

from stockade import __version__
from stockade.core.finding import ScanResult
from stockade.report.sarif import (
    FINGERPRINT,
    SARIF_SCHEMA,
    SarifRenderer,
    http_link,
    scan_to_sarif,
)

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "sarif" / "sarif-schema-2.1.0.json"


@functools.cache
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def render(result: ScanResult) -> dict[str, Any]:
    out = io.StringIO()
    SarifRenderer().render(result, out)
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def assert_valid(document: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def run_of(document: dict[str, Any]) -> dict[str, Any]:
    (run,) = document["runs"]
    return dict(run)


def result_for(document: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in run_of(document)["results"] if r["ruleId"] == rule)


def rule_for(document: dict[str, Any], rule: str) -> dict[str, Any]:
    rules = run_of(document)["tool"]["driver"]["rules"]
    return next(r for r in rules if r["id"] == rule)


def test_the_schema_is_the_official_one() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["id"] == SARIF_SCHEMA
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]


def test_sample_scan_is_valid_sarif_2_1_0() -> None:
    document = render(scan_result())
    assert_valid(document)
    assert document["version"] == "2.1.0"
    assert document["$schema"] == SARIF_SCHEMA


def test_the_validator_does_catch_mistakes() -> None:
    document = render(scan_result())
    broken = json.loads(json.dumps(document))
    broken["runs"][0]["results"][0]["level"] = "critical"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(list(validator().iter_errors(broken))) == 2


def test_the_driver_names_stockade_and_its_version() -> None:
    driver = run_of(render(scan_result()))["tool"]["driver"]
    assert driver["name"] == "Stockade"
    assert driver["version"] == __version__


def test_one_rule_per_vulnerability_with_help_and_security_severity() -> None:
    document = render(scan_result())
    rules = run_of(document)["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted(set(ids))
    assert len(ids) == 8
    rule = rule_for(document, "CVE-2024-0727")
    assert rule["shortDescription"]["text"] == OPENSSL_CVE.title
    assert rule["helpUri"] == OPENSSL_CVE.url
    assert "Severity: MEDIUM" in rule["help"]["text"]
    assert OPENSSL_CVE.url in rule["help"]["markdown"]
    assert rule["properties"]["security-severity"] == "5.5"
    assert rule["properties"]["tags"] == ["vulnerability", "security", "medium"]
    assert rule["defaultConfiguration"]["level"] == "warning"


def test_security_severity_is_the_cvss_score_or_a_score_in_the_band() -> None:
    document = render(scan_result())
    assert rule_for(document, "CVE-2023-45853")["properties"]["security-severity"] == "9.8"
    # no score from the feed: a score in the high band, for GitHub's ranking
    assert rule_for(document, EVIL_FINDING.advisory_id)["properties"]["security-severity"] == "8.0"
    # unknown severity and no score: nothing rather than a made-up number
    assert "security-severity" not in rule_for(document, UNKNOWN_FINDING.advisory_id)["properties"]


def test_levels_follow_severity() -> None:
    document = render(scan_result())
    assert result_for(document, "CVE-2023-45853")["level"] == "error"  # critical
    assert result_for(document, EVIL_FINDING.advisory_id)["level"] == "error"  # high
    assert result_for(document, "CVE-2024-0727")["level"] == "warning"  # medium
    assert result_for(document, "CVE-2023-5678")["level"] == "note"  # low
    assert result_for(document, UNKNOWN_FINDING.advisory_id)["level"] == "note"  # unknown


def test_results_point_at_the_file_the_package_was_found_in() -> None:
    document = render(scan_result())
    result = result_for(document, "CVE-2024-0727")
    (location,) = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "var/lib/dpkg/status"
    assert physical["region"] == {"startLine": 1}
    assert result["ruleIndex"] == [
        r["id"] for r in run_of(document)["tool"]["driver"]["rules"]
    ].index("CVE-2024-0727")


def test_uris_are_relative_and_encoded_and_other_locations_are_related() -> None:
    result = result_for(render(scan_result()), "CVE-2023-45133")
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "app/node_modules/%40babel/traverse/package.json"
    related = result["relatedLocations"]
    assert [r["physicalLocation"]["artifactLocation"]["uri"] for r in related] == [
        "app/other%20dir/node_modules/%40babel/traverse/package.json"
    ]
    assert not uri.startswith("/")


def test_a_package_found_nowhere_is_placed_at_the_artifact() -> None:
    result = result_for(render(scan_result()), UNKNOWN_FINDING.advisory_id)
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "registry.example.com/team/app%3A1.0"
    assert IMAGE.name.replace(":", "%3A") == uri


def test_fingerprints_are_stable_and_distinct() -> None:
    first = render(scan_result())
    again = render(scan_result(scan_result().findings[::-1]))
    prints = [r["partialFingerprints"][FINGERPRINT] for r in run_of(first)["results"]]
    assert len(set(prints)) == len(prints)
    assert prints == [r["partialFingerprints"][FINGERPRINT] for r in run_of(again)["results"]]
    assert all(re.fullmatch("[0-9a-f]{64}", p) for p in prints)


def test_suppressed_findings_carry_suppressions() -> None:
    document = render(scan_result())
    assert result_for(document, "CVE-2023-5678")["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "not-affected: vulnerable_code_not_in_execute_path: DH is never used",
        }
    ]
    ignored = result_for(document, "CVE-2023-32681")["suppressions"][0]
    assert ignored["justification"].startswith("ignored: proxies are not used")
    assert "suppressions" not in result_for(document, "CVE-2024-0727")


def test_messages_name_package_versions_and_fix() -> None:
    message = result_for(render(scan_result()), "CVE-2024-35195")["message"]["text"]
    assert message.splitlines() == [
        "Package: requests",
        "Installed version: 2.31.0",
        "Vulnerability: CVE-2024-35195 (GHSA-9wx4-h78v-vm56)",
        "Severity: MEDIUM",
        "Fixed version: 2.32.0",
        f"Link: {REQUESTS_GHSA.url}",
    ]
    zlib = result_for(render(scan_result()), ZLIB_CVE.advisory_id)["message"]["text"]
    assert "Fixed version: wont-fix" in zlib


def test_hostile_titles_cannot_inject_markdown_or_links() -> None:
    document = render(scan_result())
    rule = rule_for(document, EVIL_FINDING.advisory_id)
    markdown = rule["help"]["markdown"]
    assert "\x1b" not in markdown
    assert "\r" not in markdown
    # the link is percent-encoded, so it cannot close the autolink or carry controls
    assert (
        rule["helpUri"] == "https://example.com/%1B%5D8;;https://evil.example/%07click%1B%5D8;;%07"
    )
    assert_valid(document)
    title = "[click me](https://evil.example) ![x](https://evil.example/x.png) <b>"
    evil = scan_result((replace(EVIL_FINDING, title=title),))
    markdown = rule_for(render(evil), EVIL_FINDING.advisory_id)["help"]["markdown"]
    assert "](https://evil" not in markdown
    assert "\\[click me\\]\\(https://evil\\.example\\)" in markdown
    assert "<b>" not in markdown


def test_http_link() -> None:
    assert http_link("https://github.com/advisories/GHSA-9wx4-h78v-vm56") == (
        "https://github.com/advisories/GHSA-9wx4-h78v-vm56"
    )
    assert http_link("HTTPS://example.com/a b") == "https://example.com/a%20b"
    assert http_link("https://example.com/%zz%41") == "https://example.com/%25zz%41"
    assert http_link("javascript:alert(1)") is None
    assert http_link("https://exa mple.com/") is None
    assert http_link("/relative") is None
    assert http_link("") is None
    assert http_link("http://[::1") is None


def test_empty_scan_is_valid() -> None:
    document = render(scan_result(()))
    assert_valid(document)
    assert run_of(document)["results"] == []
    assert run_of(document)["tool"]["driver"]["rules"] == []


def test_to_sarif_is_json_ready() -> None:
    document = scan_to_sarif(scan_result())
    assert json.loads(json.dumps(document)) == document


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scan_results())
def test_any_scan_is_valid_sarif(result: ScanResult) -> None:
    document = render(result)
    assert_valid(document)
    assert len(run_of(document)["results"]) == len(result.findings)


def test_same_cve_in_two_packages_is_one_rule_two_results() -> None:
    other = replace(BABEL_GHSA, package=REQUESTS_GHSA.package, cvss_score=7.0)
    document = render(scan_result((BABEL_GHSA, other)))
    assert [r["id"] for r in run_of(document)["tool"]["driver"]["rules"]] == ["CVE-2023-45133"]
    assert len(run_of(document)["results"]) == 2
    assert rule_for(document, "CVE-2023-45133")["properties"]["security-severity"] == "9.3"
