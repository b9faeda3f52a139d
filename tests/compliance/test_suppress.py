"""Suppressions: annotations, inline Dockerfile comments and the ignore file, on real checks."""

from __future__ import annotations

from datetime import date

import pytest

from stockade.compliance.dockerfile import check_dockerfile
from stockade.compliance.dockerfile.parser import parse_dockerfile
from stockade.compliance.interface import Result, SecretFinding, Status
from stockade.compliance.kubernetes import check_manifests, load_manifests
from stockade.compliance.suppress import (
    annotation_skips,
    apply_ignore_entries,
    dockerfile_skips,
    parse_skip_list,
)
from stockade.policy.errors import IgnoreFileError
from stockade.policy.ignore import parse_ignore_file

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    {annotation}
spec:
  template:
    metadata:
      annotations:
        {template_annotation}
    spec:
      containers:
        - name: app
          image: nginx:1.27
          securityContext:
            privileged: true
"""


def _k8s(annotation: str = "x: y", template_annotation: str = "x: y") -> list[Result]:
    text = DEPLOYMENT.format(annotation=annotation, template_annotation=template_annotation)
    return check_manifests(load_manifests(text))


def _privileged(results: list[Result]) -> Result:
    (result,) = [r for r in results if r.check.references.get("checkov") == "CKV_K8S_16"]
    return result


def test_without_annotations_the_privileged_container_fails() -> None:
    assert _privileged(_k8s()).status is Status.FAILED


@pytest.mark.parametrize(
    "annotation",
    [
        'stockade.io/skip: "CKV_K8S_16=runs the CNI plugin"',
        "stockade.io/skip: STK-K8S-999, ckv_k8s_16",
        'checkov.io/skip1: "CKV_K8S_16=runs the CNI plugin"',
        'checkov.io/skip7: "CKV_K8S_16"',
    ],
)
def test_an_annotation_naming_the_check_suppresses_it(annotation: str) -> None:
    results = _k8s(annotation)
    privileged = _privileged(results)
    assert privileged.status is Status.SKIPPED
    assert privileged.suppression is not None
    assert privileged.suppression.in_source
    assert "annotation" in privileged.suppression.where
    assert privileged.message.startswith("suppressed (annotation")
    # Nothing else is suppressed: other failures remain.
    assert any(r.status is Status.FAILED for r in results)


def test_the_reason_is_kept_and_our_own_id_works_too() -> None:
    own_id = _privileged(_k8s()).check.id
    privileged = _privileged(_k8s(f'stockade.io/skip: "{own_id}=node agent"'))
    assert privileged.suppression is not None
    assert privileged.suppression.reason == "node agent"


def test_an_annotation_on_the_pod_template_counts() -> None:
    results = _k8s(template_annotation='stockade.io/skip: "CKV_K8S_16"')
    assert _privileged(results).status is Status.SKIPPED


def test_an_unrelated_or_malformed_annotation_suppresses_nothing() -> None:
    assert _privileged(_k8s("stockade.io/skip: CKV_K8S_17")).status is Status.FAILED
    assert _privileged(_k8s("stockade.io/skip: [CKV_K8S_16]")).status is Status.FAILED
    assert _privileged(_k8s("stockade.io/skipped: CKV_K8S_16")).status is Status.FAILED


def test_skip_lists_parse_ids_and_reasons() -> None:
    assert parse_skip_list(" a , B=why = so ,, ") == {"A": "no reason given", "B": "why = so"}
    assert annotation_skips([{"annotations": None}, {}]) == {}


DOCKERFILE = """\
FROM alpine:3.20
# stockade:skip=CKV_DOCKER_2,CKV_DOCKER_3 health is checked by the orchestrator
RUN apk add --no-cache curl
"""


def test_inline_dockerfile_comments_suppress_for_the_whole_file() -> None:
    results = check_dockerfile(parse_dockerfile(DOCKERFILE))
    by_ref = {r.check.references.get("checkov"): r for r in results}
    for ref in ("CKV_DOCKER_2", "CKV_DOCKER_3"):
        assert by_ref[ref].status is Status.SKIPPED
        suppression = by_ref[ref].suppression
        assert suppression is not None
        assert suppression.reason == "health is checked by the orchestrator"
        assert suppression.where == "comment, line 2"
    unsuppressed = check_dockerfile(parse_dockerfile(DOCKERFILE.replace("skip=", "nope=")))
    assert {r.check.references.get("checkov"): r for r in unsuppressed}[
        "CKV_DOCKER_2"
    ].status is Status.FAILED


def test_checkovs_comment_form_is_honoured() -> None:
    skips = dockerfile_skips(["FROM x", "#checkov:skip=CKV_DOCKER_3:uses a distroless user"])
    assert skips["CKV_DOCKER_3"].reason == "uses a distroless user"
    assert dockerfile_skips(["RUN echo '# stockade:skip=CKV_DOCKER_3'"]) == {}


IGNORE = """\
- id: CKV_K8S_16
  resource: Deployment/shop/*
  reason: the CNI agent needs it
- id: CKV_K8S_16
  resource: Deployment/prod/*
  expires: 2020-01-01
  reason: old exception
- id: aws-access-token
  file: "tests/*"
  reason: a documented test key
"""


def test_the_ignore_file_suppresses_failed_checks_in_scope_only() -> None:
    entries = parse_ignore_file(IGNORE)
    shop = _k8s()
    prod = check_manifests(
        load_manifests(
            DEPLOYMENT.format(annotation="x: y", template_annotation="x: y").replace("shop", "prod")
        )
    )
    done = apply_ignore_entries([*shop, *prod], [], entries, date(2026, 1, 1))
    by_resource = {
        r.resource: r for r in done.results if r.check.references.get("checkov") == "CKV_K8S_16"
    }
    shop_result = by_resource["Deployment/shop/web"]
    assert shop_result.status is Status.SKIPPED
    assert shop_result.suppression is not None
    assert not shop_result.suppression.in_source
    assert shop_result.suppression.where.endswith("entry 1")
    # The prod exception has expired: the result is reported again, with a notice.
    assert by_resource["Deployment/prod/web"].status is Status.FAILED
    (notice,) = done.notices
    assert "expired on 2020-01-01" in str(notice)
    assert "1 result it suppressed is reported again" in str(notice)


def test_the_ignore_file_hides_secrets_by_rule_and_file() -> None:
    entries = parse_ignore_file(IGNORE)
    secrets = [
        SecretFinding("aws-access-token", "AWS", "tests/fixture.py", 3, "AKIA****"),
        SecretFinding("aws-access-token", "AWS", "app/settings.py", 3, "AKIA****"),
    ]
    done = apply_ignore_entries([], secrets, entries, date(2026, 1, 1))
    assert done.hidden_secrets == 1
    assert [s.file for s in done.secrets] == ["app/settings.py"]


def test_scoped_entries_parse_and_cannot_also_name_a_package() -> None:
    (entry,) = parse_ignore_file("- id: CVE-1\n  file: x\n  reason: r\n")
    assert entry.file == "x"
    with pytest.raises(IgnoreFileError, match="not both"):
        parse_ignore_file("- id: CVE-1\n  package: x\n  resource: y\n  reason: r\n")
