"""VEX: OpenVEX and CycloneDX documents read, matched by purl and id, latest wins."""

from __future__ import annotations

import contextlib
import json
from copy import deepcopy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy.samples import (
    BABEL_GHSA,
    FINDINGS,
    IGNORED_FINDING,
    IMAGE_PURL,
    OPENSSL_CVE,
    REQUESTS_GHSA,
    ZLIB_CVE,
    finding,
)

from stockade.core.finding import Finding, Suppression
from stockade.policy.errors import PolicyError, VexError
from stockade.policy.vex import (
    MAX_VEX_BYTES,
    VexDocument,
    VexFormat,
    VexProduct,
    VexStatement,
    VexStatus,
    apply_vex,
    load_vex,
    parse_vex,
    vex_from_json,
)

DATA = Path(__file__).parent.parent / "data" / "vex"
CVE_5678 = next(f for f in FINDINGS if f.advisory_id == "CVE-2023-5678")
ACTIVE_5678 = replace(CVE_5678, suppressed=None, suppression_reason="")


def document(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text())
    return result


def by_id(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.advisory_id: f for f in findings}


ALL = (ACTIVE_5678, OPENSSL_CVE, ZLIB_CVE, REQUESTS_GHSA, BABEL_GHSA)


# -- OpenVEX ------------------------------------------------------------------------------


def test_openvex_document_is_read() -> None:
    doc = load_vex(DATA / "openvex-app.json")
    assert doc.format is VexFormat.OPENVEX
    assert doc.source == str(DATA / "openvex-app.json")
    first, image, triage, not_affected, fixed = doc.statements
    assert first.vulnerabilities == (
        "CVE-2023-5678",
        "https://nvd.nist.gov/vuln/detail/CVE-2023-5678",
    )
    assert first.status is VexStatus.NOT_AFFECTED
    assert first.justification == "vulnerable_code_not_in_execute_path"
    # the document's timestamp, nanoseconds cut to microseconds, timezone kept
    assert first.timestamp == datetime(2024, 4, 2, 7, 15, 27, 114361, tzinfo=UTC)
    assert image.products[0].subcomponents == ("pkg:pypi/requests@2.31.0",)
    assert image.vulnerabilities == ("CVE-2024-35195", "GHSA-9wx4-h78v-vm56")
    assert image.detail.startswith("The application never reuses")
    assert triage.status is VexStatus.UNDER_INVESTIGATION
    assert not_affected.timestamp == datetime(2024, 3, 20, 8, tzinfo=UTC)
    assert fixed.products == (VexProduct(purl="pkg:npm/%40babel/traverse@7.22.0"),)
    assert fixed.reason == "fixed: Patched in our fork; see commit 4f1c2e9"


def test_openvex_marks_matching_findings_not_affected() -> None:
    doc = load_vex(DATA / "openvex-app.json")
    result = by_id(apply_vex(ALL, [doc], artifact_purl=IMAGE_PURL))
    assert result["CVE-2023-5678"].suppressed is Suppression.NOT_AFFECTED
    assert result["CVE-2023-5678"].suppression_reason == "vulnerable_code_not_in_execute_path"
    # a subcomponent of the scanned image, named by the finding's alias
    assert result[REQUESTS_GHSA.advisory_id].suppressed is Suppression.NOT_AFFECTED
    assert result[REQUESTS_GHSA.advisory_id].suppression_reason == (
        "not_affected: The application never reuses a Session after disabling verification."
    )
    # under_investigation then, later, not_affected: the later statement wins
    assert result[ZLIB_CVE.advisory_id].suppressed is Suppression.NOT_AFFECTED
    assert result[ZLIB_CVE.advisory_id].suppression_reason == "vulnerable_code_not_present"
    # fixed counts as not affected for the gate
    assert result[BABEL_GHSA.advisory_id].suppressed is Suppression.NOT_AFFECTED
    assert result[BABEL_GHSA.advisory_id].suppression_reason.startswith("fixed: ")
    # no statement: untouched
    assert result[OPENSSL_CVE.advisory_id] == OPENSSL_CVE


def test_a_later_document_overrides_an_earlier_one() -> None:
    docs = [load_vex(DATA / "openvex-app.json"), load_vex(DATA / "openvex-app-update.json")]
    assert by_id(apply_vex(ALL, docs))[ZLIB_CVE.advisory_id].suppressed is None
    # the order the documents are given in does not matter: their timestamps do
    assert by_id(apply_vex(ALL, docs[::-1]))[ZLIB_CVE.advisory_id].suppressed is None


def test_statements_with_the_same_time_apply_in_document_order() -> None:
    def statement(status: VexStatus) -> VexStatement:
        return VexStatement(
            vulnerabilities=(ZLIB_CVE.advisory_id,),
            products=(VexProduct(purl="pkg:deb/debian/zlib1g"),),
            status=status,
            justification="component_not_present",
        )

    doc = VexDocument(
        source="x",
        format=VexFormat.OPENVEX,
        statements=(statement(VexStatus.AFFECTED), statement(VexStatus.NOT_AFFECTED)),
    )
    assert apply_vex([ZLIB_CVE], [doc])[0].suppressed is Suppression.NOT_AFFECTED
    reversed_doc = replace(doc, statements=doc.statements[::-1])
    assert apply_vex([ZLIB_CVE], [reversed_doc])[0].suppressed is None


def test_statements_without_a_time_come_before_timed_ones() -> None:
    timed = VexStatement(
        vulnerabilities=(ZLIB_CVE.advisory_id,),
        products=(VexProduct(purl="pkg:deb/debian/zlib1g"),),
        status=VexStatus.AFFECTED,
        timestamp=datetime(2020, 1, 1, tzinfo=UTC),
    )
    untimed = replace(timed, status=VexStatus.NOT_AFFECTED, timestamp=None)
    doc = VexDocument(source="x", format=VexFormat.OPENVEX, statements=(timed, untimed))
    assert apply_vex([ZLIB_CVE], [doc])[0].suppressed is None


def test_subcomponents_need_the_product_to_be_the_scanned_artifact() -> None:
    doc = load_vex(DATA / "openvex-app.json")
    # no artifact purl (a directory scan): the image statement says nothing
    assert by_id(apply_vex([REQUESTS_GHSA], [doc]))[REQUESTS_GHSA.advisory_id].suppressed is None
    # another image
    other = "pkg:oci/other@sha256%3A" + "c" * 64 + "?repository_url=registry.example.com/x/other"
    result = apply_vex([REQUESTS_GHSA], [doc], artifact_purl=other)
    assert result[0].suppressed is None
    # the same image by another tag still matches: the statement names no tag
    same = IMAGE_PURL.replace("tag=1.0", "tag=latest")
    assert apply_vex([REQUESTS_GHSA], [doc], artifact_purl=same)[0].suppressed is not None


def test_the_vulnerability_must_match_an_id_or_alias() -> None:
    doc = load_vex(DATA / "openvex-app.json")
    other_cve = finding(OPENSSL_CVE.package, "CVE-2023-0001")
    assert apply_vex([other_cve], [doc]) == (other_cve,)
    lower = replace(ACTIVE_5678, advisory_id="DSA-1", aliases=("cve-2023-5678",))
    assert apply_vex([lower], [doc])[0].suppressed is Suppression.NOT_AFFECTED


def test_the_product_purl_must_match_the_package() -> None:
    doc = load_vex(DATA / "openvex-app.json")
    # the statement names amd64 only
    arm = replace(
        ACTIVE_5678,
        package=replace(
            ACTIVE_5678.package, purl=ACTIVE_5678.package.purl.replace("amd64", "arm64")
        ),
    )
    assert apply_vex([arm], [doc])[0].suppressed is None
    # another version
    older = replace(
        ACTIVE_5678,
        package=replace(
            ACTIVE_5678.package, purl=ACTIVE_5678.package.purl.replace("deb12u2", "deb12u1")
        ),
    )
    assert apply_vex([older], [doc])[0].suppressed is None
    # a package without a purl is never matched
    bare = replace(ACTIVE_5678, package=replace(ACTIVE_5678.package, purl=""))
    assert apply_vex([bare], [doc])[0].suppressed is None


def test_findings_already_ignored_are_left_alone() -> None:
    statement = VexStatement(
        vulnerabilities=(IGNORED_FINDING.advisory_id,),
        products=(VexProduct(purl="pkg:pypi/requests"),),
        status=VexStatus.NOT_AFFECTED,
        justification="component_not_present",
    )
    doc = VexDocument(source="x", format=VexFormat.OPENVEX, statements=(statement,))
    assert apply_vex([IGNORED_FINDING], [doc]) == (IGNORED_FINDING,)


def test_no_documents_change_nothing() -> None:
    assert apply_vex(FINDINGS, []) == FINDINGS


def test_the_first_openvex_drafts_are_read_too() -> None:
    draft: dict[str, Any] = {
        "@context": "https://openvex.dev/ns",
        "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
        "author": "Wolfi J Inkinson",
        "timestamp": "2023-01-08T18:02:03.647787998-06:00",
        "version": 1,
        "statements": [
            {
                "vulnerability": "CVE-2023-45853",
                "products": ["pkg:deb/debian/zlib1g"],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ],
    }
    # v0.0.1 wrote products as a list of strings; that form is refused, clearly
    with pytest.raises(VexError, match=r"statements\[0\]\.products\[0\]: expected an object"):
        vex_from_json(draft, "draft.json")
    draft["statements"][0]["products"] = [{"@id": "pkg:deb/debian/zlib1g"}]
    doc = vex_from_json(draft, "draft.json")
    assert apply_vex([ZLIB_CVE], [doc])[0].suppressed is Suppression.NOT_AFFECTED


# -- CycloneDX ----------------------------------------------------------------------------


def test_cyclonedx_vex_is_read() -> None:
    doc = load_vex(DATA / "cyclonedx-vex.json")
    assert doc.format is VexFormat.CYCLONEDX
    openssl, zlib, requests, babel = doc.statements  # the one without analysis is skipped
    assert openssl.vulnerabilities == ("CVE-2024-0727", "DSA-5621-1")
    assert openssl.status is VexStatus.NOT_AFFECTED
    assert openssl.justification == "code_not_reachable"
    assert openssl.timestamp == datetime(2024, 4, 1, tzinfo=UTC)  # lastUpdated
    # bom-ref of a nested component, through a BOM-Link
    assert zlib.products == (VexProduct(purl="pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64"),)
    assert zlib.timestamp == datetime(2024, 4, 5, 10, tzinfo=UTC)  # the BOM's timestamp
    assert requests.status is VexStatus.FIXED
    assert requests.products == (VexProduct(purl="pkg:pypi/requests@2.31.0"),)
    assert babel.status is VexStatus.AFFECTED


def test_cyclonedx_vex_marks_matching_findings() -> None:
    doc = load_vex(DATA / "cyclonedx-vex.json")
    result = by_id(apply_vex(ALL, [doc]))
    assert result[OPENSSL_CVE.advisory_id].suppressed is Suppression.NOT_AFFECTED
    assert result[OPENSSL_CVE.advisory_id].suppression_reason == (
        "code_not_reachable: PKCS12 files are never parsed by the application."
    )
    assert result[ZLIB_CVE.advisory_id].suppression_reason.startswith("false_positive: ")
    assert result[REQUESTS_GHSA.advisory_id].suppression_reason == "fixed: Backported the fix."
    assert result[BABEL_GHSA.advisory_id].suppressed is None  # exploitable
    assert result["CVE-2023-5678"].suppressed is None


def test_openvex_and_cyclonedx_combine_by_time() -> None:
    openvex = load_vex(DATA / "openvex-app.json")
    update = load_vex(DATA / "openvex-app-update.json")  # zlib affected, 2024-04-10
    cyclonedx = load_vex(DATA / "cyclonedx-vex.json")  # zlib false positive, 2024-04-05
    result = by_id(apply_vex(ALL, [openvex, update, cyclonedx]))
    assert result[ZLIB_CVE.advisory_id].suppressed is None


def test_an_unresolvable_ref_names_nothing() -> None:
    bom = document("cyclonedx-vex.json")
    bom["vulnerabilities"][0]["affects"] = [{"ref": "no-such-component"}]
    doc = vex_from_json(bom, "vex.cdx.json")
    assert doc.statements[0].products == ()
    assert apply_vex([OPENSSL_CVE], [doc]) == (OPENSSL_CVE,)


# -- malformed documents -----------------------------------------------------------------


def _openvex_with(change: dict[str, Any]) -> dict[str, Any]:
    doc = document("openvex-app.json")
    doc["statements"][0] = {**doc["statements"][0], **change}
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not an OpenVEX or CycloneDX VEX document"),
        ({"@context": "https://example.com/ns"}, "not an OpenVEX or CycloneDX VEX document"),
        ({"bomFormat": "SPDX"}, "not an OpenVEX or CycloneDX VEX document"),
        (
            {**document("openvex-app.json"), "statements": {}},
            "statements: expected a list, found an object",
        ),
        (_openvex_with({"status": "maybe"}), "statements[0].status: unknown status 'maybe'"),
        (_openvex_with({"status": None}), "statements[0].status: expected text, found nothing"),
        (
            _openvex_with({"justification": "trust_me"}),
            "statements[0].justification: unknown justification 'trust_me'",
        ),
        (
            _openvex_with({"justification": None}),
            "statements[0]: a not_affected statement needs a justification or an impact_statement",
        ),
        (_openvex_with({"vulnerability": {}}), "statements[0].vulnerability.name: expected text"),
        (_openvex_with({"vulnerability": 7}), "statements[0].vulnerability: expected an object"),
        (
            _openvex_with({"vulnerability": {"name": "CVE-1", "aliases": "CVE-2"}}),
            "statements[0].vulnerability.aliases: expected a list, found text",
        ),
        (
            _openvex_with({"products": [{"@id": "pkg:pypi"}]}),
            "statements[0].products[0].@id: 'pkg:pypi' is not a valid purl",
        ),
        (
            _openvex_with({"products": [{"identifiers": "pkg:pypi/x"}]}),
            "statements[0].products[0].identifiers: expected an object",
        ),
        (
            _openvex_with({"timestamp": "yesterday"}),
            "statements[0].timestamp: 'yesterday' is not an RFC 3339 timestamp",
        ),
        (
            {**document("openvex-app.json"), "timestamp": 20240101},
            "timestamp: expected text, found int",
        ),
    ],
)
def test_malformed_documents_raise_vex_error(doc: object, message: str) -> None:
    with pytest.raises(VexError) as caught:
        vex_from_json(doc, "app.vex.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("app.vex.json: ")


def _cyclonedx_with(change: dict[str, Any]) -> dict[str, Any]:
    bom = document("cyclonedx-vex.json")
    bom["vulnerabilities"][0] = {**bom["vulnerabilities"][0], **change}
    return bom


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_cyclonedx_with({"id": None}), "vulnerabilities[0].id: expected text"),
        (
            _cyclonedx_with({"analysis": {"state": "fine"}}),
            "vulnerabilities[0].analysis.state: unknown state 'fine'",
        ),
        (
            _cyclonedx_with({"analysis": {"state": "not_affected", "justification": "because"}}),
            "vulnerabilities[0].analysis.justification: unknown justification 'because'",
        ),
        (_cyclonedx_with({"analysis": []}), "vulnerabilities[0].analysis: expected an object"),
        (_cyclonedx_with({"affects": [{}]}), "vulnerabilities[0].affects[0].ref: expected text"),
        (
            _cyclonedx_with({"affects": [{"ref": "pkg:npm"}]}),
            "vulnerabilities[0].affects[0].ref: 'pkg:npm' is not a valid purl",
        ),
        (
            _cyclonedx_with({"references": [{"source": {}}]}),
            "vulnerabilities[0].references[0].id: expected text",
        ),
        (
            {**document("cyclonedx-vex.json"), "components": [{"components": 5}]},
            "components[0].components: expected a list",
        ),
        ({**document("cyclonedx-vex.json"), "metadata": "now"}, "metadata: expected an object"),
    ],
)
def test_malformed_cyclonedx_raises_vex_error(doc: object, message: str) -> None:
    with pytest.raises(VexError, match=r"^vex\.cdx\.json: ") as caught:
        vex_from_json(doc, "vex.cdx.json")
    assert message in str(caught.value)


def test_parse_refuses_what_is_not_json() -> None:
    for data in ("", "{", b"\xff\xfe{", "[" * 100_000 + "]" * 100_000):
        with pytest.raises(VexError, match=r"^x\.json: "):
            parse_vex(data, "x.json")


def test_load_refuses_unreadable_and_huge_files(tmp_path: Path) -> None:
    with pytest.raises(VexError, match="cannot read the VEX document"):
        load_vex(tmp_path / "missing.json")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(MAX_VEX_BYTES + 1)
    with pytest.raises(VexError, match="larger than"):
        load_vex(huge)


def test_vex_errors_are_policy_errors() -> None:
    assert issubclass(VexError, PolicyError)
    error = VexError("bad", source="a.json", where="statements[2]")
    assert error.where == "statements[2]"
    assert str(error) == "a.json: statements[2]: bad"


# -- fuzzing: only VexError escapes -------------------------------------------------------

_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.sampled_from(
            [
                "not_affected",
                "fixed",
                "affected",
                "component_not_present",
                "code_not_reachable",
                "pkg:pypi/requests",
                "pkg:",
                "2024-01-01T00:00:00Z",
                "CVE-2024-35195",
            ]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_statement_keys = st.sampled_from(
    ["vulnerability", "products", "status", "justification", "impact_statement", "timestamp"]
)


@st.composite
def _openvex_like(draw: st.DrawFn) -> dict[str, Any]:
    statements = draw(st.lists(st.dictionaries(_statement_keys, _json, max_size=6), max_size=3))
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "timestamp": draw(st.one_of(st.just("2024-01-01T00:00:00Z"), _json)),
        "statements": statements,
    }


@st.composite
def _cyclonedx_like(draw: st.DrawFn) -> dict[str, Any]:
    keys = st.sampled_from(["id", "references", "analysis", "affects"])
    analysis = st.dictionaries(
        st.sampled_from(["state", "justification", "detail", "lastUpdated"]), _json, max_size=4
    )
    vulnerabilities = draw(
        st.lists(
            st.one_of(
                st.dictionaries(keys, _json, max_size=4),
                st.fixed_dictionaries(
                    {"id": st.just("CVE-2024-35195"), "analysis": analysis, "affects": _json}
                ),
            ),
            max_size=3,
        )
    )
    return {
        "bomFormat": "CycloneDX",
        "components": draw(st.one_of(st.just([]), _json)),
        "vulnerabilities": vulnerabilities,
    }


@settings(max_examples=300, deadline=None)
@given(st.one_of(_openvex_like(), _cyclonedx_like(), _json))
def test_any_json_is_read_or_refused_with_vex_error(doc: object) -> None:
    try:
        parsed = vex_from_json(deepcopy(doc), "fuzz.json")
    except VexError:
        return
    assert len(apply_vex(FINDINGS, [parsed], artifact_purl=IMAGE_PURL)) == len(FINDINGS)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_with_vex_error(data: bytes) -> None:
    with contextlib.suppress(VexError):
        parse_vex(data, "fuzz.json")


def test_the_artifact_purl_is_the_one_the_sbom_gives_the_image() -> None:
    from tests.policy.samples import IMAGE

    from stockade.report.cyclonedx import image_purl

    purl = image_purl(IMAGE)
    assert purl is not None
    doc = load_vex(DATA / "openvex-app.json")
    (result,) = apply_vex([REQUESTS_GHSA], [doc], artifact_purl=purl.to_string())
    assert result.suppressed is Suppression.NOT_AFFECTED
