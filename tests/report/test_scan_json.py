"""The scan JSON: the documented shape, stable order, and the scan renderer registry."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from tests.policy.samples import (
    BABEL_GHSA,
    IMAGE,
    LAYER_1,
    OPENSSL_CVE,
    REQUESTS_GHSA,
    scan_result,
    scan_results,
)

from stockade.core.errors import UsageError
from stockade.core.finding import ScanResult
from stockade.report.interface import SCAN_FORMATS, ScanRenderer, scan_renderer
from stockade.report.json import inventory_to_dict
from stockade.report.scan_json import SCHEMA_VERSION, ScanJsonRenderer, scan_to_dict


def render(result: ScanResult) -> dict[str, Any]:
    out = io.StringIO()
    ScanJsonRenderer().render(result, out)
    assert out.getvalue().endswith("}\n")
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def test_top_level_shape() -> None:
    document = render(scan_result())
    assert list(document) == [
        "schemaVersion",
        "artifact",
        "os",
        "advisoriesAge",
        "summary",
        "findings",
    ]
    assert document["schemaVersion"] == SCHEMA_VERSION == 1
    inventory = inventory_to_dict(scan_result().inventory)
    assert document["artifact"] == inventory["artifact"]
    assert document["os"] == inventory["os"]
    assert document["artifact"]["name"] == IMAGE.name
    assert document["advisoriesAge"] == "2024-05-01 (2 days)"


def test_summary_counts_active_findings_per_severity() -> None:
    summary = render(scan_result())["summary"]
    assert summary == {
        "findings": 8,
        "active": 6,
        "suppressed": 2,
        "bySeverity": {
            "critical": 2,
            "high": 1,
            "medium": 2,
            "low": 0,
            "negligible": 0,
            "unknown": 1,
        },
    }


def test_a_finding_has_every_documented_field() -> None:
    findings = render(scan_result())["findings"]
    openssl = next(f for f in findings if f["id"] == OPENSSL_CVE.advisory_id)
    assert openssl == {
        "id": "CVE-2024-0727",
        "aliases": ["DSA-5621-1"],
        "cve": "CVE-2024-0727",
        "package": {
            "name": "libssl3",
            "version": "3.0.11-1~deb12u2",
            "type": "deb",
            "namespace": None,
            "purl": OPENSSL_CVE.package.purl,
        },
        "installedVersion": "3.0.11-1~deb12u2",
        "fixedVersions": ["3.0.13-1~deb12u1"],
        "fixState": "fixed",
        "severity": "medium",
        "cvss": {"score": 5.5, "vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"},
        "title": OPENSSL_CVE.title,
        "url": OPENSSL_CVE.url,
        "source": "debian-tracker",
        "ecosystem": "Debian:12",
        "matchedName": "openssl",
        "locations": [{"path": "var/lib/dpkg/status", "layer": LAYER_1}],
        "suppressed": False,
        "suppression": None,
    }


def test_the_cve_comes_from_the_aliases_and_several_locations_are_kept() -> None:
    findings = render(scan_result())["findings"]
    requests = next(f for f in findings if f["id"] == REQUESTS_GHSA.advisory_id)
    assert requests["cve"] == "CVE-2024-35195"
    babel = next(f for f in findings if f["id"] == BABEL_GHSA.advisory_id)
    assert [loc["path"] for loc in babel["locations"]] == [
        "app/node_modules/@babel/traverse/package.json",
        "app/other dir/node_modules/@babel/traverse/package.json",
    ]
    assert babel["package"]["namespace"] is None
    assert babel["package"]["name"] == "@babel/traverse"


def test_suppressed_findings_say_why() -> None:
    findings = render(scan_result())["findings"]
    by_id = {f["id"]: f for f in findings}
    assert by_id["CVE-2023-5678"]["suppressed"] is True
    assert by_id["CVE-2023-5678"]["suppression"] == {
        "kind": "not-affected",
        "reason": "vulnerable_code_not_in_execute_path: DH is never used",
    }
    assert by_id["PYSEC-2023-74"]["suppression"]["kind"] == "ignored"


def test_findings_without_cvss_have_null() -> None:
    findings = render(scan_result())["findings"]
    unknown = next(f for f in findings if f["id"] == "GHSA-aaaa-bbbb-cccc")
    assert unknown["cvss"] is None
    assert unknown["cve"] is None
    assert unknown["locations"] == []


def test_order_is_stable_whatever_the_input_order() -> None:
    forward = render(scan_result())["findings"]
    backward = render(scan_result(scan_result().findings[::-1]))["findings"]
    assert forward == backward
    types = [f["package"]["type"] for f in forward]
    assert types.index("deb") < types.index("pypi") < types.index("npm")


def test_output_is_ascii() -> None:
    out = io.StringIO()
    ScanJsonRenderer().render(scan_result(), out)
    assert out.getvalue().isascii()


@settings(max_examples=60, deadline=None)
@given(scan_results())
def test_any_scan_round_trips(result: ScanResult) -> None:
    document = render(result)
    assert document == json.loads(json.dumps(scan_to_dict(result)))
    assert len(document["findings"]) == len(result.findings)
    summary = document["summary"]
    assert summary["active"] + summary["suppressed"] == summary["findings"]
    assert sum(summary["bySeverity"].values()) == summary["active"]


# -- the registry -------------------------------------------------------------------------


def test_every_scan_format_has_a_renderer() -> None:
    assert SCAN_FORMATS == ("table", "json", "sarif", "cyclonedx")
    for name in SCAN_FORMATS:
        renderer = scan_renderer(name)
        assert isinstance(renderer, ScanRenderer)
        assert renderer.format == name
        out = io.StringIO()
        renderer.render(scan_result(), out)
        assert out.getvalue().endswith("\n")


def test_an_unknown_scan_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        scan_renderer("spdx")
    assert "unknown scan output format 'spdx'" in caught.value.message
    assert caught.value.hint == "choose one of: table, json, sarif, cyclonedx"
