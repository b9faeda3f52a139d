"""The webhook over real HTTPS: uvicorn on 127.0.0.1, a generated CA the client verifies,
real AdmissionReviews, real worker processes (one spins for ever), real Gatekeeper."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.admission.webhook.support import body, compliant_deployment, pod, review, scan_result

from stockade.admission.webhook.certs import ensure_certificates
from stockade.admission.webhook.config import load_policy
from stockade.admission.webhook.images import load_scan_results
from stockade.admission.webhook.server import (
    AdmissionWebhook,
    WebhookSettings,
    bind,
    create_app,
    serve_in_thread,
)
from stockade.admission.webhook.testing import ANNOTATION_PREFIX, scripted_factory
from stockade.admission.webhook.workers import WorkerPool, gatekeeper_factory

pytestmark = pytest.mark.slow

TIMEOUT = 1.0
MARGIN = 0.75
DIGEST = "sha256:" + "b" * 64
GATEKEEPER = (
    Path(__file__).resolve().parents[2]
    / "data/admission/gatekeeper-library/library/general/disallowedtags"
)

POLICY = """\
exemptNamespaces: [kube-system]
scanResults: scans
default:
  deny: {pss: baseline, checks: [STK-K8S-031]}
  warn: {pss: restricted}
  vulnerabilities: {deny: critical, warn: high}
namespaces:
  legacy: {exemptChecks: [STK-K8S-001]}
  staging: {audit: true}
  warned: {warn: {checks: [STK-K8S-026]}}
  secure:
    images: {trustedRegistries: [registry.example.com/], requireDigest: true}
"""


@dataclass
class Endpoint:
    client: httpx.Client
    url: str
    webhook: AdmissionWebhook

    def post(
        self, document: Any = None, *, content: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        data = body(document) if document is not None else content
        return self.client.post(
            self.url + "/validate",
            content=data,
            headers=headers or {"content-type": "application/json"},
        )

    def admit(self, document: dict[str, Any]) -> dict[str, Any]:
        response = self.post(document)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == document["request"]["uid"]
        return answer["response"]  # type: ignore[no-any-return]


@dataclass
class Servers:
    closed: Endpoint
    """Fail closed, scripted policy workers, the test policy file."""
    open: Endpoint
    """Fail open, sharing the workers."""
    gatekeeper: Endpoint
    """Real Gatekeeper: the library's disallowed-tags template and constraint."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("webhook")
    (root / "scans").mkdir()
    (root / "scans/vuln.json").write_text(
        json.dumps(scan_result("registry.example.com/shop/vuln:1.0", ["critical", "medium"]))
    )
    (root / "scans/old.json").write_text(
        json.dumps(scan_result("registry.example.com/shop/old:1.0", ["high"]))
    )
    (root / "policy.yaml").write_text(POLICY)
    policy = load_policy(root / "policy.yaml")
    index = load_scan_results(policy.scan_results)  # type: ignore[arg-type]
    tls = ensure_certificates(root / "certs", ["localhost", "127.0.0.1"])
    context = ssl.create_default_context(cafile=str(tls.ca))
    with ExitStack() as stack:
        pool = stack.enter_context(WorkerPool(scripted_factory(), size=2))
        gatekeeper_pool = stack.enter_context(
            WorkerPool(
                gatekeeper_factory(
                    [
                        GATEKEEPER / "template.yaml",
                        GATEKEEPER
                        / "samples/container-image-must-not-have-latest-tag/constraint.yaml",
                    ]
                ),
                size=1,
            )
        )
        endpoints = []
        for fail_open, workers in ((False, pool), (True, pool), (False, gatekeeper_pool)):
            webhook = AdmissionWebhook(
                policy,
                WebhookSettings(fail_open=fail_open, timeout=TIMEOUT, max_body=256 * 1024),
                pool=workers,
                vulnerabilities=index,
            )
            stack.callback(webhook.close)
            port = stack.enter_context(serve_in_thread(create_app(webhook), tls))
            client = stack.enter_context(httpx.Client(verify=context, timeout=10))
            endpoints.append(Endpoint(client, f"https://127.0.0.1:{port}", webhook))
        yield Servers(*endpoints)


def test_the_certificate_is_verified_against_the_generated_ca(servers: Servers) -> None:
    with (
        httpx.Client(timeout=5) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(servers.closed.url + "/healthz")


def test_a_compliant_deployment_is_allowed(servers: Servers) -> None:
    response = servers.closed.admit(review(compliant_deployment()))
    assert response["allowed"] is True
    assert "warnings" not in response
    assert response["auditAnnotations"]["decision"] == "allowed"


def test_a_privileged_pod_is_denied_naming_the_check(servers: Servers) -> None:
    response = servers.closed.admit(review(pod(privileged=True)))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    message = response["status"]["message"]
    assert "[STK-K8S-001]" in message
    assert "spec.containers[0].securityContext.privileged" in message


def test_a_warn_only_check_allows_with_warnings(servers: Servers) -> None:
    response = servers.closed.admit(review(pod(namespace="warned")))
    assert response["allowed"] is True
    assert any(w.startswith("[STK-K8S-026]") for w in response["warnings"])
    assert response["auditAnnotations"]["warned-by"] == "STK-K8S-026"


def test_audit_mode_allows_and_says_what_it_would_deny(servers: Servers) -> None:
    response = servers.closed.admit(review(pod(privileged=True, namespace="staging")))
    assert response["allowed"] is True
    assert any("would deny: [STK-K8S-001]" in w for w in response["warnings"])
    assert response["auditAnnotations"]["decision"] == "audited"


def test_a_dry_run_is_decided_alike_and_logged_as_dry_run(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    document = review(pod(privileged=True), dry_run=True)
    with caplog.at_level(logging.INFO, logger="stockade.admission"):
        response = servers.closed.admit(document)
    assert response["allowed"] is False
    (line,) = [
        json.loads(r.getMessage())
        for r in caplog.records
        if document["request"]["uid"] in r.getMessage()
    ]
    assert line["dryRun"] is True
    assert line["decision"] == "denied"
    assert "STK-K8S-001" in line["denyIds"]
    assert all("securityContext" not in r.getMessage() for r in caplog.records)


def test_the_decision_log_holds_no_object_values(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    secret_pod = pod(privileged=True)
    secret_pod["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "hunter2-very-secret"}
    ]
    with caplog.at_level(logging.INFO, logger="stockade.admission"):
        response = servers.closed.admit(review(secret_pod))
    assert response["allowed"] is False
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "STK-K8S-031" in logged
    assert "hunter2" not in logged
    assert "hunter2-very-secret" not in response["status"]["message"]


def test_delete_is_allowed(servers: Servers) -> None:
    response = servers.closed.admit(review(None, operation="DELETE", old=pod(privileged=True)))
    assert response["allowed"] is True


def test_exempt_namespace_and_exempt_checks(servers: Servers) -> None:
    assert (
        servers.closed.admit(review(pod(privileged=True, namespace="kube-system")))["allowed"]
        is True
    )
    legacy = servers.closed.admit(review(pod(privileged=True, namespace="legacy")))
    assert legacy["allowed"] is False  # the aggregate baseline check still denies
    assert legacy["auditAnnotations"]["denied-by"] == "STK-K8S-039"
    assert "[STK-K8S-001]" not in legacy["status"]["message"]


def test_trusted_registry_and_digest_policy(servers: Servers) -> None:
    untrusted = servers.closed.admit(
        review(pod(namespace="secure", image="docker.io/library/busybox:1.36"))
    )
    assert untrusted["allowed"] is False
    assert "[image-registry]" in untrusted["status"]["message"]
    assert "[image-digest]" in untrusted["status"]["message"]
    pinned = servers.closed.admit(
        review(pod(namespace="secure", image=f"registry.example.com/shop/tool@{DIGEST}"))
    )
    assert pinned["allowed"] is True, pinned


def test_vulnerability_threshold_from_scan_results(servers: Servers) -> None:
    critical = servers.closed.admit(review(pod(image="registry.example.com/shop/vuln:1.0")))
    assert critical["allowed"] is False
    assert "CVE-2024-1000" in critical["status"]["message"]
    high = servers.closed.admit(review(pod(image="registry.example.com/shop/old:1.0")))
    assert high["allowed"] is True
    assert any("[vulnerabilities]" in w for w in high["warnings"])


def test_a_real_gatekeeper_constraint_denies(servers: Servers) -> None:
    latest = pod(namespace="default", image="nginx:latest")
    response = servers.gatekeeper.admit(review(latest))
    assert response["allowed"] is False
    assert (
        "[K8sDisallowedTags/container-image-must-not-have-latest-tag]"
        in response["status"]["message"]
    )
    tagged = servers.gatekeeper.admit(review(pod(namespace="default", image="nginx:1.27")))
    assert "K8sDisallowedTags" not in json.dumps(tagged)


@pytest.mark.parametrize("endpoint", ["closed", "open"])
def test_a_looping_policy_is_answered_by_the_failure_policy_in_time(
    servers: Servers, endpoint: str
) -> None:
    server: Endpoint = getattr(servers, endpoint)
    spinning = pod(annotations={ANNOTATION_PREFIX + "spin": "forever"})
    restarts = server.webhook.pool.restarts  # type: ignore[union-attr]
    started = time.monotonic()
    response = server.admit(review(spinning))
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN
    if endpoint == "closed":
        assert response["allowed"] is False
        assert "timed out" in response["status"]["message"]
        assert "fails closed" in response["status"]["message"]
    else:
        assert response["allowed"] is True
        assert "timed out" in response["warnings"][0]
        assert "fails open" in response["warnings"][0]
    assert response["auditAnnotations"]["decision"] == "error"
    assert server.webhook.pool.restarts == restarts + 1  # type: ignore[union-attr]
    # the replacement comes up and the next review is evaluated normally
    deadline = time.monotonic() + 30
    while server.webhook.pool.alive < server.webhook.pool.size:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert server.admit(review(pod()))["allowed"] is True


def test_a_review_with_a_uid_but_wrong_fields_is_answered_per_failure_policy(
    servers: Servers,
) -> None:
    document = review(pod())
    del document["request"]["operation"]
    closed = servers.closed.admit(document)
    assert closed["allowed"] is False
    assert "request.operation" in closed["status"]["message"]
    opened = servers.open.admit(document)
    assert opened["allowed"] is True
    assert "request.operation" in opened["warnings"][0]


@pytest.mark.parametrize(
    ("content", "status", "title"),
    [
        (b"this is not json", 400, "invalid AdmissionReview"),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}',
            400,
            "invalid AdmissionReview",
        ),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid AdmissionReview"),
    ],
)
def test_hostile_bodies_get_a_problem_document(
    servers: Servers, content: bytes, status: int, title: str
) -> None:
    response = servers.closed.post(content=content)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == title


def test_deep_nesting_inside_a_review_is_denied_per_failure_policy(servers: Servers) -> None:
    document = review(pod())
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100):
        cursor["a"] = {}
        cursor = cursor["a"]
    document["request"]["object"]["spec"]["deep"] = deep
    response = servers.closed.admit(document)
    assert response["allowed"] is False
    assert "nested more than 64 levels" in response["status"]["message"]


def test_a_wrong_content_type_is_refused(servers: Servers) -> None:
    response = servers.closed.post(review(pod()), headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["status"] == 415


def test_a_huge_body_is_refused_with_413_declared_or_streamed(servers: Servers) -> None:
    document = review(pod())
    document["request"]["object"]["metadata"]["annotations"] = {"big": "x" * (300 * 1024)}
    declared = servers.closed.post(document)
    assert declared.status_code == 413
    assert "256" in declared.json()["detail"] or "262144" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        data = body(document)
        for start in range(0, len(data), 16 * 1024):
            yield data[start : start + 16 * 1024]

    streamed = servers.closed.post(content=chunks())
    assert streamed.status_code == 413


def test_health_readiness_and_metrics(servers: Servers) -> None:
    server = servers.closed
    assert server.client.get(server.url + "/healthz").json() == {"status": "ok"}
    assert server.client.get(server.url + "/readyz").status_code == 200
    server.admit(review(pod(privileged=True)))
    server.admit(review(compliant_deployment()))
    server.post(content=b"nope")
    text = server.client.get(server.url + "/metrics").text
    assert (
        server.client.get(server.url + "/metrics")
        .headers["content-type"]
        .startswith("text/plain; version=0.0.4")
    )
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values['stockade_admission_requests_total{decision="denied"}'] >= 1
    assert values['stockade_admission_requests_total{decision="allowed"}'] >= 1
    assert values['stockade_admission_errors_total{kind="invalid_review"}'] >= 1
    assert values["stockade_admission_request_duration_seconds_count"] >= 2
    assert (
        values['stockade_admission_request_duration_seconds_bucket{le="+Inf"}']
        == values["stockade_admission_request_duration_seconds_count"]
    )
    assert values["stockade_admission_policy_workers_ready"] == 2
    assert server.client.get(server.url + "/validate").status_code == 405


def test_answers_are_not_held_back_by_nagles_algorithm(servers: Servers) -> None:
    # With Nagle on, uvicorn's separate header and body writes waited for the client's
    # delayed ACK: every answer took 40 ms more. Now a review takes a few.
    server = servers.closed
    document = review(compliant_deployment(namespace="shop"))
    server.admit(document)
    times = []
    for _ in range(15):
        started = time.monotonic()
        server.admit(document)
        times.append(time.monotonic() - started)
    times.sort()
    assert times[len(times) // 2] < 0.03, times


def test_the_listening_socket_is_tcp_so_asyncio_sets_nodelay() -> None:
    sock = bind("127.0.0.1", 0)
    with sock:
        assert sock.proto == socket.IPPROTO_TCP
