"""The webhook's Pod Security Standards decisions agree with `stockade check` on real objects.

Every Pod and workload object of the Checkov, kube-score and kubesec fixtures is read as
`stockade check` reads a manifest, and its compliance results are taken from
:func:`check_manifests`. The same object is then sent as an AdmissionReview to the
webhook with ``deny: {pss: baseline}``, then ``{pss: restricted}``: it must be denied
exactly when a check of that level (``references["pss"]``) FAILED, and the denial must
name exactly those checks. Once sans-io (the decision functions) for every object, once
over HTTPS for every object.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.admission.webhook.support import body, review_for_object

from stockade.admission.webhook.certs import ensure_certificates
from stockade.admission.webhook.config import PSS_LEVELS, WebhookPolicy, parse_policy
from stockade.admission.webhook.decision import builtin_issues, decide
from stockade.admission.webhook.review import parse_review
from stockade.admission.webhook.server import (
    AdmissionWebhook,
    WebhookSettings,
    create_app,
    serve_in_thread,
)
from stockade.compliance.interface import Status
from stockade.compliance.kubernetes.check import check_manifests
from stockade.compliance.kubernetes.manifests import iter_manifest_files, load_manifest_file
from stockade.compliance.kubernetes.resources import Resource
from stockade.compliance.yamlload import YamlLoadError

DATA = Path(__file__).resolve().parents[2] / "data" / "compliance"
FIXTURES = ("checkov", "kube-score", "kubesec")
MIN_OBJECTS = 150
"""There are more; fewer would mean the fixtures stopped loading."""
_CHECK_ID = re.compile(r"\[(STK-K8S-\d+)\]")


@dataclass(frozen=True)
class Sample:
    where: str
    obj: Mapping[str, Any]
    failed: Mapping[str, frozenset[str]]
    """Per PSS level, the checks of that level `stockade check` reports FAILED."""


def within(level: str, check_level: str | None) -> bool:
    return check_level == "baseline" or (check_level == "restricted" and level == "restricted")


def samples() -> list[Sample]:
    found: list[Sample] = []
    for fixture in FIXTURES:
        for file in iter_manifest_files(DATA / fixture):
            try:
                resources = load_manifest_file(file)
            except YamlLoadError:
                continue  # fixtures of broken YAML: no object to admit
            for resource in resources:
                if resource.is_workload and _admissible(resource):
                    found.append(_sample(resource, file))
    return found


def _admissible(resource: Resource) -> bool:
    """An object an API server could send: JSON data with an apiVersion."""
    try:
        json.dumps(resource.body)
    except (TypeError, ValueError):
        return False
    return bool(resource.api_version)


def _sample(resource: Resource, file: Path) -> Sample:
    results = check_manifests([resource])
    failed = {
        level: frozenset(
            r.check.id
            for r in results
            if r.status is Status.FAILED and within(level, r.check.references.get("pss"))
        )
        for level in PSS_LEVELS
    }
    where = f"{file.relative_to(DATA)}: {resource.ref}"
    # Through JSON, as the API server sends it.
    return Sample(where, json.loads(json.dumps(resource.body)), failed)


def policy(level: str) -> WebhookPolicy:
    return parse_policy({"default": {"deny": {"pss": level}, "warn": {}}})


def disagreement(sample: Sample, level: str, response: Mapping[str, Any]) -> str:
    """Why the webhook's answer differs from the compliance results, or ""."""
    expected = sample.failed[level]
    if response["allowed"] is not (not expected):
        return f"allowed={response['allowed']}, failed checks {sorted(expected)}"
    if not expected:
        return ""
    annotations = response.get("auditAnnotations", {})
    denied_by = set(annotations.get("denied-by", "").split(","))
    if denied_by != expected:
        return f"denied by {sorted(denied_by)}, failed checks {sorted(expected)}"
    message = response["status"]["message"]
    named = set(_CHECK_ID.findall(message))
    if named != expected and not (named < expected and "more" in message):
        return f"the denial names {sorted(named)}, failed checks {sorted(expected)}"
    return ""


@pytest.fixture(scope="module")
def objects() -> list[Sample]:
    found = samples()
    assert len(found) >= MIN_OBJECTS, len(found)
    return found


@pytest.mark.parametrize("level", PSS_LEVELS)
def test_decisions_agree_with_the_compliance_checks(objects: list[Sample], level: str) -> None:
    chosen = policy(level)
    differing: dict[str, str] = {}
    for sample in objects:
        request = parse_review(body(review_for_object(sample.obj)))
        namespace = chosen.for_namespace(request.namespace)
        decision = decide(request, namespace, builtin_issues(request, namespace))
        response = decision.response(request.uid)["response"]
        why = disagreement(sample, level, response)
        if why:
            differing[sample.where] = why
    assert differing == {}
    denied = sum(bool(s.failed[level]) for s in objects)
    # Both answers occur, so agreement is not one-sided.
    assert 0 < denied < len(objects)


def test_restricted_denies_everything_baseline_denies_and_more(objects: list[Sample]) -> None:
    assert all(s.failed["baseline"] <= s.failed["restricted"] for s in objects)
    assert sum(bool(s.failed["restricted"]) for s in objects) > sum(
        bool(s.failed["baseline"]) for s in objects
    )


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("pss")
    tls = ensure_certificates(root / "certs", ["localhost", "127.0.0.1"])
    with ExitStack() as stack:
        urls = {}
        for level in PSS_LEVELS:
            webhook = AdmissionWebhook(policy(level), WebhookSettings(timeout=9.0))
            stack.callback(webhook.close)
            port = stack.enter_context(serve_in_thread(create_app(webhook), tls))
            urls[level] = f"https://127.0.0.1:{port}/validate"
        urls["ca"] = str(tls.ca)
        yield urls


@pytest.mark.slow
@pytest.mark.parametrize("level", PSS_LEVELS)
def test_decisions_over_https_agree_with_the_compliance_checks(
    objects: list[Sample], endpoints: dict[str, str], level: str
) -> None:
    context = ssl.create_default_context(cafile=endpoints["ca"])
    differing: dict[str, str] = {}
    with httpx.Client(verify=context, timeout=15) as client:
        for sample in objects:
            document = review_for_object(sample.obj)
            answer = client.post(
                endpoints[level],
                content=body(document),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
            response = answer.json()["response"]
            assert response["uid"] == document["request"]["uid"]
            why = disagreement(sample, level, response)
            if why:
                differing[sample.where] = why
    assert differing == {}
