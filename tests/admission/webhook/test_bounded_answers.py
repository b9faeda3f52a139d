"""Real Gatekeeper policies that run away or fail, and a huge object, over real HTTPS.

Each gets an answer by the deadline (plus a small margin for TLS and the replies),
according to the fail-open/closed setting: the ConstraintTemplates here are real Rego
on rego-cpp in real worker processes, not the scripted stand-in of test_server.py.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.admission.webhook.support import body, pod, review

from stockade.admission.webhook.certs import ensure_certificates
from stockade.admission.webhook.config import DEFAULT_POLICY
from stockade.admission.webhook.server import (
    AdmissionWebhook,
    WebhookSettings,
    create_app,
    serve_in_thread,
)
from stockade.admission.webhook.workers import WorkerPool, gatekeeper_factory

pytestmark = pytest.mark.slow

TIMEOUT = 1.0
MARGIN = 0.75
"""TLS, HTTP and JSON both ways, on a busy two-core machine."""


def template(kind: str, rego: str) -> str:
    body_lines = "\n".join("        " + line for line in rego.strip().splitlines())
    return f"""\
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {{name: {kind.lower()}}}
spec:
  crd: {{spec: {{names: {{kind: {kind}}}}}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
{body_lines}
"""


def constraint(kind: str, name: str, namespace: str) -> str:
    return f"""\
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: {kind}
metadata: {{name: {name}}}
spec:
  match:
    kinds: [{{apiGroups: [""], kinds: [Pod]}}]
    namespaces: [{namespace}]
"""


# 2000³ = 8·10⁹ steps: hours on any Rego engine, in a few kilobytes of memory.
RUNAWAY = template(
    "K8sRunaway",
    """
package k8srunaway
violation[{"msg": msg}] {
  n := count({x | some i in numbers.range(1, 2000); some j in numbers.range(1, 2000);
    some k in numbers.range(1, 2000); x := i * j * k; x < 0})
  msg := sprintf("counted %v", [n])
}
""",
)
# Two values for one complete rule: OPA's and rego-cpp's eval_conflict_error.
CONFLICTING = template(
    "K8sConflicting",
    """
package k8sconflicting
owner := "a" { input.review.object.metadata.name }
owner := "b" { input.review.object.kind }
violation[{"msg": msg}] {
  owner != ""
  msg := "unreachable"
}
""",
)
# A violation that reads the whole object: real Rego work on a huge input.
LABELLED = template(
    "K8sNeedsTeam",
    """
package k8sneedsteam
violation[{"msg": msg}] {
  not input.review.object.metadata.labels.team
  msg := sprintf("%v has no team label (%v annotations)",
    [input.review.object.metadata.name, count(input.review.object.metadata.annotations)])
}
""",
)


@dataclass
class Endpoint:
    client: httpx.Client
    url: str
    webhook: AdmissionWebhook

    def admit(self, document: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The response and the seconds it took to come back."""
        started = time.monotonic()
        answer = self.client.post(
            self.url, content=body(document), headers={"content-type": "application/json"}
        )
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        response: dict[str, Any] = answer.json()["response"]
        assert response["uid"] == document["request"]["uid"]
        return response, elapsed


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Endpoint]]:
    root = tmp_path_factory.mktemp("bounded")
    files = {
        "runaway.yaml": RUNAWAY + "---\n" + constraint("K8sRunaway", "never-ends", "slow"),
        "conflicting.yaml": CONFLICTING
        + "---\n"
        + constraint("K8sConflicting", "two-owners", "broken"),
        "labelled.yaml": LABELLED + "---\n" + constraint("K8sNeedsTeam", "team", "big"),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    tls = ensure_certificates(root / "certs", ["localhost", "127.0.0.1"])
    context = ssl.create_default_context(cafile=str(tls.ca))
    found: dict[str, Endpoint] = {}
    with ExitStack() as stack:
        pool = stack.enter_context(
            WorkerPool(gatekeeper_factory(root / name for name in files), size=2)
        )
        for label, fail_open in (("closed", False), ("open", True)):
            webhook = AdmissionWebhook(
                DEFAULT_POLICY, WebhookSettings(fail_open=fail_open, timeout=TIMEOUT), pool=pool
            )
            stack.callback(webhook.close)
            port = stack.enter_context(serve_in_thread(create_app(webhook), tls))
            client = stack.enter_context(httpx.Client(verify=context, timeout=10))
            found[label] = Endpoint(client, f"https://127.0.0.1:{port}/validate", webhook)
        yield found


def wait_for_workers(pool: WorkerPool) -> None:
    end = time.monotonic() + 30
    while pool.alive < pool.size:
        assert time.monotonic() < end, "the killed worker was not replaced"
        time.sleep(0.05)


@pytest.mark.parametrize("setting", ["closed", "open"])
def test_a_rego_policy_that_runs_for_ever_is_answered_at_the_deadline(
    endpoints: dict[str, Endpoint], setting: str
) -> None:
    server = endpoints[setting]
    pool = server.webhook.pool
    assert pool is not None
    wait_for_workers(pool)
    restarts = pool.restarts
    response, elapsed = server.admit(review(pod(namespace="slow")))
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + MARGIN, elapsed
    assert response["auditAnnotations"]["decision"] == "error"
    expected = f"policy evaluation timed out after {TIMEOUT:g}s"
    if setting == "closed":
        assert response["allowed"] is False
        assert response["status"]["code"] == 500
        assert expected in response["status"]["message"]
        assert "denied because the webhook fails closed" in response["status"]["message"]
    else:
        assert response["allowed"] is True
        assert expected in response["warnings"][0]
        assert "allowed: the webhook fails open" in response["warnings"][0]
    # The stuck worker was killed, not left spinning; a fresh one takes its place.
    assert pool.restarts == restarts + 1
    wait_for_workers(pool)
    allowed, _ = server.admit(review(pod(namespace="elsewhere")))
    assert allowed["allowed"] is True


@pytest.mark.parametrize("setting", ["closed", "open"])
def test_a_rego_policy_that_errors_gets_the_failure_answer_naming_the_error(
    endpoints: dict[str, Endpoint], setting: str
) -> None:
    server = endpoints[setting]
    pool = server.webhook.pool
    assert pool is not None
    wait_for_workers(pool)
    restarts = pool.restarts
    response, elapsed = server.admit(review(pod(namespace="broken")))
    assert elapsed < TIMEOUT + MARGIN
    text = response["status"]["message"] if setting == "closed" else response["warnings"][0]
    assert response["allowed"] is (setting == "open")
    assert "policy evaluation failed: K8sConflicting/two-owners:" in text
    assert "eval_conflict_error" in text
    assert response["auditAnnotations"]["decision"] == "error"
    # An error is the policy's, not the worker's: it stays.
    assert pool.restarts == restarts


@pytest.mark.parametrize("setting", ["closed", "open"])
def test_a_huge_object_is_evaluated_by_rego_and_the_checks_within_the_deadline(
    endpoints: dict[str, Endpoint], setting: str
) -> None:
    server = endpoints[setting]
    pool = server.webhook.pool
    assert pool is not None
    wait_for_workers(pool)
    huge = pod(name="huge", namespace="big", privileged=True)
    # 2.5 MB of annotations: under the API server's 3 MiB request limit.
    huge["metadata"]["annotations"] = {f"note-{i:05d}": "x" * 500 for i in range(5000)}
    document = review(huge)
    assert 2_500_000 < len(body(document)) < 3 * 1024 * 1024
    response, elapsed = server.admit(document)
    assert elapsed < TIMEOUT + MARGIN, elapsed
    # Answered on its merits, the same whatever the failure policy: denied by the
    # built-in baseline check and the constraint, which counted every annotation.
    assert response["auditAnnotations"]["decision"] == "denied"
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "[STK-K8S-001]" in message
    assert "[K8sNeedsTeam/team] huge has no team label (5000 annotations)" in message
