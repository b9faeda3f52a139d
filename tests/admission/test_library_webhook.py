"""The Gatekeeper library's suites through the real webhook, as a cluster would run them.

For each suite test (one template, one constraint) and each inventory its cases use, a
real webhook is started: uvicorn over HTTPS with a generated CA that the client
verifies, one Gatekeeper worker process holding only that template and constraint (and
the inventory as ``data.inventory``, as ``--inventory`` gives it), and a policy file that
switches the built-in checks off (``deny: {}``, ``warn: {}``). Every case's object is
sent as the AdmissionReview an API server sends for a ``CREATE`` and the answer is
judged as gator judges the engine's: the number of violations (the ``violations`` audit
annotation, cross-checked with the messages the answer lists) and the message regex.

The cases that disagree are those of the engine run (tests/admission/gatekeeper/
test_library.py), for the same reasons, explained in docs/admission-gatekeeper.md.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.admission.gatekeeper.test_library import KNOWN_DISAGREEMENTS, LIBRARY, TOTAL_CASES
from tests.admission.webhook.support import review_for_object

from stockade.admission.gatekeeper import find_suites, load_suite
from stockade.admission.gatekeeper.loader import load_file
from stockade.admission.gatekeeper.suite import Assertion, SuiteCase, SuiteTest
from stockade.admission.webhook.certs import TlsFiles, ensure_certificates
from stockade.admission.webhook.config import load_policy
from stockade.admission.webhook.errors import EvaluationFailed
from stockade.admission.webhook.server import (
    AdmissionWebhook,
    WebhookSettings,
    create_app,
    serve_in_thread,
)
from stockade.admission.webhook.workers import WorkerPool, gatekeeper_factory

pytestmark = pytest.mark.slow

GATEKEEPER_ONLY = """\
# Gatekeeper constraints only: no built-in check denies or warns.
default:
  deny: {}
  warn: {}
"""
SERVERS_AT_ONCE = 4
"""Servers started and run side by side; each is one uvicorn thread and one worker."""


@dataclass(frozen=True)
class Group:
    """The cases one webhook answers: one suite test, one inventory."""

    suite: str
    test: SuiteTest
    inventory: tuple[Path, ...]
    cases: tuple[SuiteCase, ...]


@dataclass(frozen=True)
class Outcome:
    suite: str
    test: str
    case: str
    agrees: bool
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.suite, self.test, self.case)


def constraint_id(test: SuiteTest) -> str:
    (constraint,) = load_file(test.constraint)
    return f"{constraint['kind']}/{constraint['metadata']['name']}"


def answered_violations(response: Mapping[str, Any], cid: str) -> tuple[int, list[str]]:
    """How many violations of constraint ``cid`` the answer reports, and their messages.

    The count is the ``violations`` audit annotation's; the messages are read from the
    denial (``[cid] message; [cid] message``) or from the warnings (one each).
    """
    annotations = response.get("auditAnnotations", {})
    counts = dict(
        entry.rsplit("=", 1) for entry in annotations.get("violations", "").split(",") if entry
    )
    count = int(counts.get(cid, 0))
    prefix = f"[{cid}] "
    messages: list[str] = []
    denial = response.get("status", {}).get("message", "")
    if not response["allowed"]:
        # "stockade denied KIND NAME: N violation(s): [cid] message; [cid] message"
        listed = denial.partition(" violation(s): ")[2]
        assert listed.startswith(prefix), denial
        messages = listed.removeprefix(prefix).split(f"; {prefix}")
    messages += [
        w.removeprefix(prefix) for w in response.get("warnings", []) if w.startswith(prefix)
    ]
    return count, messages


def judge(response: Mapping[str, Any], cid: str, assertions: Sequence[Assertion]) -> str:
    """Why the answer disagrees with the case's assertions, or "" when it agrees."""
    annotations = response.get("auditAnnotations", {})
    if annotations.get("decision") == "error":
        return f"the webhook could not evaluate: {annotations.get('error')}"
    count, messages = answered_violations(response, cid)
    if count != len(messages):
        return f"the annotation counts {count} violation(s), the answer lists {len(messages)}"
    for assertion in assertions or (Assertion(),):
        holds, counted = assertion.holds(messages)
        if not holds:
            return f"expected {assertion.describe()}, got {counted}"
    return ""


def groups() -> list[Group]:
    found: list[Group] = []
    for path in find_suites([LIBRARY]):
        suite = load_suite(path)
        label = path.parent.relative_to(LIBRARY).as_posix()
        for test in suite.tests:
            by_inventory: dict[tuple[Path, ...], list[SuiteCase]] = {}
            for case in test.cases:
                by_inventory.setdefault(case.inventory, []).append(case)
            found.extend(
                Group(label, test, inventory, tuple(cases))
                for inventory, cases in by_inventory.items()
            )
    return found


def run_group(group: Group, policy_file: Path, tls: TlsFiles) -> list[Outcome]:
    """Start a webhook for ``group``, send each case's review, judge the answers."""
    policy = load_policy(policy_file)
    pool = WorkerPool(
        gatekeeper_factory([group.test.template, group.test.constraint], group.inventory), 1
    )

    def every(agrees: bool, reason: str) -> list[Outcome]:
        return [Outcome(group.suite, group.test.name, c.name, agrees, reason) for c in group.cases]

    try:
        pool.start()
    except EvaluationFailed as exc:
        return every(False, exc.message)
    cid = constraint_id(group.test)
    context = ssl.create_default_context(cafile=str(tls.ca))
    # A generous deadline: several servers share two cores here.
    webhook = AdmissionWebhook(policy, WebhookSettings(timeout=9.0), pool=pool)
    outcomes: list[Outcome] = []
    with ExitStack() as stack:
        stack.callback(pool.close)
        stack.callback(webhook.close)
        port = stack.enter_context(serve_in_thread(create_app(webhook), tls))
        client = stack.enter_context(httpx.Client(verify=context, timeout=15))
        for case in group.cases:
            (obj,) = load_file(case.object)
            document = review_for_object(obj)
            answer = client.post(
                f"https://localhost:{port}/validate",
                json=document,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
            response = answer.json()["response"]
            assert response["uid"] == document["request"]["uid"]
            reason = judge(response, cid, case.assertions)
            outcomes.append(Outcome(group.suite, group.test.name, case.name, not reason, reason))
    return outcomes


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Outcome]]:
    root = tmp_path_factory.mktemp("library-webhook")
    policy_file = root / "gatekeeper-only.yaml"
    policy_file.write_text(GATEKEEPER_ONLY)
    tls = ensure_certificates(root / "certs", ["localhost", "127.0.0.1"])
    with ThreadPoolExecutor(SERVERS_AT_ONCE) as executor:
        runs = executor.map(lambda g: run_group(g, policy_file, tls), groups())
        yield [outcome for run in runs for outcome in run]


def test_every_case_of_the_library_is_answered(outcomes: list[Outcome]) -> None:
    assert len(outcomes) == TOTAL_CASES


def test_agreement_through_the_webhook_is_at_least_95_percent(outcomes: list[Outcome]) -> None:
    agreeing = sum(o.agrees for o in outcomes)
    assert agreeing / TOTAL_CASES >= 0.95, f"{agreeing} of {TOTAL_CASES}"


def test_the_disagreeing_cases_are_those_of_the_engine(outcomes: list[Outcome]) -> None:
    disagreeing = {o.key: o.reason for o in outcomes if not o.agrees}
    assert set(disagreeing) == KNOWN_DISAGREEMENTS, disagreeing
    # The one evaluation error of the engine run comes back as the fail-closed answer.
    hpa = ("general/horizontalpodautoscaler", "horizontal-pod-autoscaler")
    errors = {key for key, reason in disagreeing.items() if "could not evaluate" in reason}
    assert {key[:2] for key in errors} == {hpa}
    assert all("Not a term" in disagreeing[key] for key in errors)


def test_the_review_is_what_an_api_server_sends() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
    }
    request = review_for_object(deployment)["request"]
    assert request["kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert request["resource"]["resource"] == "deployments"
    assert (request["name"], request["namespace"], request["operation"]) == (
        "web",
        "shop",
        "CREATE",
    )
    assert request["object"] is deployment
    assert request["userInfo"]["username"]
    assert uuid.UUID(request["uid"])
