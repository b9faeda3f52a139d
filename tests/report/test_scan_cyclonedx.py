"""CycloneDX 1.6 with vulnerabilities: valid against the schema, the SBOM's components,
one vulnerability per finding pointing at its component, VEX analysis for suppressions."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import HealthCheck, given, settings
from tests.policy.samples import (
    BABEL_GHSA,
    EVIL_FINDING,
    IGNORED_FINDING,
    LIBSSL,
    NOT_AFFECTED_FINDING,
    OPENSSL_CVE,
    REQUESTS_GHSA,
    ZLIB_CVE,
    scan_result,
    scan_results,
)

from stockade.core.errors import ReportError
from stockade.core.finding import ScanResult, Suppression
from stockade.core.models import Package, PackageType
from stockade.policy.vex import apply_vex, load_vex, vex_from_json
from stockade.report.cyclonedx import render_cyclonedx
from stockade.report.vex_cyclonedx import CycloneDXVexRenderer, render_vex_cyclonedx

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def render(result: ScanResult) -> str:
    out = io.StringIO()
    CycloneDXVexRenderer().render(result, out)
    return out.getvalue()


def assert_valid(text: str) -> None:
    errors = VALIDATOR.validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]


def vulnerabilities(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Vulnerabilities by (id, affected ref)."""
    return {(v["id"], v["affects"][0]["ref"]): v for v in document["vulnerabilities"]}


def test_sample_scan_is_valid_cyclonedx_1_6() -> None:
    text = render(scan_result())
    assert_valid(text)
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    assert len(document["vulnerabilities"]) == len(scan_result().findings)


def _without_occurrence_order(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def normalised(component: dict[str, Any]) -> dict[str, Any]:
        evidence = component.get("evidence")
        if evidence is None:
            return component
        occurrences = sorted(evidence["occurrences"], key=lambda o: json.dumps(o, sort_keys=True))
        return {**component, "evidence": {**evidence, "occurrences": occurrences}}

    return [normalised(c) for c in components]


def test_components_are_the_sboms() -> None:
    result = scan_result()
    scan = json.loads(render_vex_cyclonedx(result))
    sbom = json.loads(render_cyclonedx(result.inventory))
    # The library orders a component's evidence occurrences arbitrarily (even from one
    # call to the next), so they are compared as sets.
    assert _without_occurrence_order(scan["components"]) == _without_occurrence_order(
        sbom["components"]
    )
    assert scan["dependencies"] == sbom["dependencies"]
    assert scan["metadata"]["component"] == sbom["metadata"]["component"]


def test_each_vulnerability_affects_its_component() -> None:
    document = json.loads(render(scan_result()))
    refs = {c["bom-ref"]: c for c in document["components"]}
    for vulnerability in document["vulnerabilities"]:
        (target,) = vulnerability["affects"]
        assert target["ref"] in refs
    openssl = vulnerabilities(document)[(OPENSSL_CVE.advisory_id, LIBSSL.purl)]
    assert refs[LIBSSL.purl]["name"] == "libssl3"
    assert openssl["affects"][0]["versions"] == [
        {"version": "3.0.11-1~deb12u2", "status": "affected"}
    ]


def test_a_vulnerability_has_id_source_ratings_and_references() -> None:
    document = json.loads(render(scan_result()))
    babel = vulnerabilities(document)[(BABEL_GHSA.advisory_id, BABEL_GHSA.package.purl)]
    assert babel["id"] == "GHSA-67hx-6x53-jw92"
    assert babel["source"] == {"name": "osv", "url": BABEL_GHSA.url}
    assert babel["description"] == BABEL_GHSA.title
    assert babel["references"] == [
        {
            "id": "CVE-2023-45133",
            "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-45133"},
        }
    ]
    (rating,) = babel["ratings"]
    assert rating["score"] == 9.3
    assert rating["severity"] == "critical"
    assert rating["method"] == "CVSSv4"
    assert "AV:N/AC:L/AT:N" in rating["vector"]
    openssl = vulnerabilities(document)[(OPENSSL_CVE.advisory_id, LIBSSL.purl)]
    assert openssl["ratings"][0]["method"] == "CVSSv31"
    assert openssl["references"] == [
        {
            "id": "DSA-5621-1",
            "source": {"name": "OSV", "url": "https://osv.dev/vulnerability/DSA-5621-1"},
        }
    ]


def test_active_findings_are_exploitable_with_update_when_a_fix_exists() -> None:
    document = json.loads(render(scan_result()))
    openssl = vulnerabilities(document)[(OPENSSL_CVE.advisory_id, LIBSSL.purl)]
    assert openssl["analysis"] == {"state": "exploitable", "response": ["update"]}
    zlib = vulnerabilities(document)[(ZLIB_CVE.advisory_id, ZLIB_CVE.package.purl)]
    assert zlib["analysis"] == {"state": "exploitable"}


def test_vex_suppressed_findings_are_not_affected_with_a_justification() -> None:
    document = json.loads(render(scan_result()))
    finding = vulnerabilities(document)[(NOT_AFFECTED_FINDING.advisory_id, LIBSSL.purl)]
    assert finding["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": "vulnerable_code_not_in_execute_path: DH is never used",
    }
    assert finding["affects"][0]["versions"][0]["status"] == "unaffected"


def test_ignored_findings_are_accepted_risks() -> None:
    document = json.loads(render(scan_result()))
    ignored = vulnerabilities(document)[(IGNORED_FINDING.advisory_id, IGNORED_FINDING.package.purl)]
    assert ignored["analysis"]["state"] == "exploitable"
    assert ignored["analysis"]["response"] == ["will_not_fix"]
    assert ignored["analysis"]["detail"].startswith("accepted in the ignore file: proxies")


@pytest.mark.parametrize(
    ("reason", "state", "justification"),
    [
        ("component_not_present", "not_affected", "code_not_present"),
        ("vulnerable_code_not_present: gone", "not_affected", "code_not_present"),
        (
            "vulnerable_code_cannot_be_controlled_by_adversary",
            "not_affected",
            "protected_by_mitigating_control",
        ),
        ("inline_mitigations_already_exist", "not_affected", "protected_at_runtime"),
        ("requires_configuration: off by default", "not_affected", "requires_configuration"),
        ("false_positive: not the same zlib", "not_affected", None),
        ("not_affected: free text only", "not_affected", None),
        ("fixed: backported", "resolved", None),
        ("", "not_affected", None),
    ],
)
def test_vex_reasons_map_to_cyclonedx_analysis(
    reason: str, state: str, justification: str | None
) -> None:
    finding = replace(OPENSSL_CVE, suppressed=Suppression.NOT_AFFECTED, suppression_reason=reason)
    text = render(scan_result((finding,)))
    assert_valid(text)
    analysis = json.loads(text)["vulnerabilities"][0]["analysis"]
    assert analysis["state"] == state
    assert analysis.get("justification") == justification


def test_the_output_reads_back_as_a_vex_document() -> None:
    """What Stockade writes, Stockade (and so other VEX consumers) can read back."""
    doc = vex_from_json(json.loads(render(scan_result())), "roundtrip.cdx.json")
    active = replace(NOT_AFFECTED_FINDING, suppressed=None, suppression_reason="")
    (again,) = apply_vex([active], [doc])
    assert again.suppressed is Suppression.NOT_AFFECTED
    assert again.suppression_reason.startswith("code_not_reachable: ")
    (still,) = apply_vex([OPENSSL_CVE], [doc])
    assert still.suppressed is None  # exploitable


def test_the_library_reads_it_back() -> None:
    bom = Bom.from_json(json.loads(render(scan_result())))  # type: ignore[attr-defined]
    assert len(bom.vulnerabilities) == len(scan_result().findings)


def test_bom_refs_are_unique_and_stable() -> None:
    first = json.loads(render(scan_result()))
    again = json.loads(render(scan_result(scan_result().findings[::-1])))
    refs = [v["bom-ref"] for v in first["vulnerabilities"]]
    assert len(set(refs)) == len(refs)
    assert sorted(refs) == sorted(v["bom-ref"] for v in again["vulnerabilities"])
    twice = json.loads(render(scan_result((OPENSSL_CVE, OPENSSL_CVE))))
    assert len({v["bom-ref"] for v in twice["vulnerabilities"]}) == 2


def test_hostile_links_are_left_out_or_encoded() -> None:
    text = render(scan_result((EVIL_FINDING,)))
    assert_valid(text)
    (vulnerability,) = json.loads(text)["vulnerabilities"]
    assert "\x1b" not in vulnerability["source"]["url"]


def test_a_finding_about_a_package_not_in_the_inventory_is_a_bug() -> None:
    stranger = replace(
        REQUESTS_GHSA, package=Package(name="x", version="1", type=PackageType.PYPI, purl="")
    )
    with pytest.raises(ReportError, match="not in the scanned inventory"):
        render(scan_result((stranger,)))


def test_a_finding_with_a_copy_of_an_inventory_package_finds_it_by_purl() -> None:
    copy = replace(OPENSSL_CVE, package=replace(LIBSSL, cataloger="elsewhere"))
    document = json.loads(render(scan_result((copy,))))
    assert document["vulnerabilities"][0]["affects"][0]["ref"] == LIBSSL.purl


def test_the_test_vex_sample_validates_too() -> None:
    path = Path(__file__).parent.parent / "data" / "vex" / "cyclonedx-vex.json"
    assert_valid(path.read_text(encoding="utf-8"))
    assert load_vex(path).statements


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scan_results())
def test_any_scan_is_valid_cyclonedx(result: ScanResult) -> None:
    text = render(result)
    assert_valid(text)
    assert len(json.loads(text).get("vulnerabilities", [])) == len(result.findings)
