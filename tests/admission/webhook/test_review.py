"""Parsing AdmissionReviews: valid ones read, hostile ones refused with InvalidReview only."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.admission.webhook.support import body, compliant_deployment, review

from stockade.admission.webhook.errors import InvalidReview
from stockade.admission.webhook.review import (
    MAX_WARNING_LENGTH,
    MAX_WARNINGS,
    parse_review,
    review_response,
)


def test_a_real_review_is_read() -> None:
    document = review(compliant_deployment(), dry_run=True)
    request = parse_review(body(document))
    assert request.uid == document["request"]["uid"]
    assert str(request.kind) == "apps/v1/Deployment"
    assert (request.namespace, request.name, request.operation) == ("shop", "web", "CREATE")
    assert request.dry_run is True
    assert request.username == "alice@example.com"
    assert request.object is not None
    assert request.object["kind"] == "Deployment"
    assert request.ref == "Deployment shop/web"


def test_delete_needs_no_object() -> None:
    request = parse_review(body(review(None, operation="DELETE", old=compliant_deployment())))
    assert request.operation == "DELETE"
    assert request.object is None
    assert request.old_object is not None


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: d.update(apiVersion="admission.k8s.io/v1beta1"), "apiVersion"),
        (lambda d: d.update(kind="Pod"), "kind is 'Pod'"),
        (lambda d: d["request"].update(operation="PATCH"), "request.operation"),
        (lambda d: d["request"].update(kind="Pod"), "request.kind"),
        (lambda d: d["request"].update(object=None), "request.object is required"),
        (lambda d: d["request"].update(object=[1, 2]), "request.object is not an object"),
        (lambda d: d["request"].update(dryRun="yes"), "dryRun"),
        (lambda d: d["request"].update(namespace=7), "request.namespace"),
    ],
)
def test_a_wrong_field_is_named_and_the_uid_kept(mutate, words: str) -> None:  # type: ignore[no-untyped-def]
    document = review(compliant_deployment())
    mutate(document)
    with pytest.raises(InvalidReview, match=words) as caught:
        parse_review(body(document))
    assert caught.value.uid == document["request"]["uid"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"apiVersion": NaN}', "not JSON"),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', "request"),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {}}', "uid"),
    ],
)
def test_what_is_no_review_has_no_uid(text: bytes, words: str) -> None:
    with pytest.raises(InvalidReview, match=words) as caught:
        parse_review(text)
    assert caught.value.uid is None


def test_deep_nesting_is_refused_at_the_limit_and_beyond_the_parser() -> None:
    document = review(compliant_deployment())
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(80):
        cursor["x"] = {}
        cursor = cursor["x"]  # type: ignore[assignment]
    document["request"]["object"]["metadata"]["annotations"] = deep
    with pytest.raises(InvalidReview, match="nested more than 64"):
        parse_review(body(document))
    with pytest.raises(InvalidReview, match="nested"):
        parse_review(b"[" * 200_000 + b"]" * 200_000)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_request_or_invalid_review(data: bytes) -> None:
    with contextlib.suppress(InvalidReview):
        parse_review(data)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(["request", "uid", "kind", "object", "operation", "x"]), children
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_inside_a_review_envelope_is_read_or_refused(request_value: object) -> None:
    document = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request_value,
    }
    with contextlib.suppress(InvalidReview):
        parse_review(json.dumps(document))


def test_the_response_carries_uid_status_warnings_and_annotations() -> None:
    response = review_response(
        "abc",
        allowed=False,
        code=403,
        message="no",
        reason="Forbidden",
        warnings=[f"w{i}" for i in range(30)] + ["x" * 1000],
        audit_annotations={"decision": "denied"},
    )
    assert response["apiVersion"] == "admission.k8s.io/v1"
    assert response["kind"] == "AdmissionReview"
    inner = response["response"]
    assert inner["uid"] == "abc"
    assert inner["allowed"] is False
    assert inner["status"] == {"code": 403, "message": "no", "reason": "Forbidden"}
    assert len(inner["warnings"]) == MAX_WARNINGS
    assert inner["warnings"][-1] == "stockade: 12 more warning(s) not shown"
    assert inner["auditAnnotations"] == {"decision": "denied"}
    cut = review_response("u", allowed=True, warnings=["y" * 1000])["response"]
    assert len(cut["warnings"][0]) == MAX_WARNING_LENGTH
    assert "status" not in cut
