"""Deciding, sans-io: checks, images, vulnerabilities and Gatekeeper issues → a Decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.admission.webhook.support import body, compliant_deployment, pod, review, scan_result

from stockade.admission.webhook.config import (
    DEFAULT_POLICY,
    Action,
    CheckRule,
    ImagePolicy,
    NamespacePolicy,
    VulnerabilityPolicy,
    WebhookPolicy,
    parse_policy,
)
from stockade.admission.webhook.decision import (
    MAX_MESSAGE_LENGTH,
    Issue,
    Outcome,
    builtin_issues,
    decide,
    early_decision,
    failure_decision,
    gatekeeper_issues,
)
from stockade.admission.webhook.errors import WebhookConfigError
from stockade.admission.webhook.images import (
    VulnerabilityIndex,
    is_trusted,
    load_scan_results,
    normalise_image,
)
from stockade.admission.webhook.review import parse_review
from stockade.admission.webhook.workers import PolicyViolation
from stockade.core.advisory import Severity

DIGEST = "sha256:" + "a" * 64


def request_for(obj: dict, **kwargs):  # type: ignore[no-untyped-def,type-arg]
    return parse_review(body(review(obj, **kwargs)))


def test_a_compliant_deployment_is_allowed_without_warnings() -> None:
    request = request_for(compliant_deployment())
    policy = NamespacePolicy()
    decision = decide(request, policy, builtin_issues(request, policy))
    assert decision.allowed
    assert decision.outcome is Outcome.ALLOWED
    assert decision.warnings == ()
    assert decision.response(request.uid)["response"]["auditAnnotations"] == {"decision": "allowed"}


def test_a_privileged_pod_is_denied_with_check_path_and_fix() -> None:
    request = request_for(pod(privileged=True))
    policy = NamespacePolicy()
    decision = decide(request, policy, builtin_issues(request, policy))
    assert not decision.allowed
    assert decision.outcome is Outcome.DENIED
    assert decision.code == 403
    assert decision.message.startswith("stockade denied Pod shop/tool:")
    assert "[STK-K8S-001]" in decision.message
    assert "spec.containers[0].securityContext.privileged" in decision.message
    assert "fix: " in decision.message
    response = decision.response(request.uid)["response"]
    assert response["status"]["reason"] == "Forbidden"
    assert "STK-K8S-001" in response["auditAnnotations"]["denied-by"]
    # restricted checks still come as warnings beside the denial
    assert any("[STK-K8S-002]" in w for w in decision.warnings)


def test_audit_mode_allows_what_it_would_deny_and_says_so() -> None:
    request = request_for(pod(privileged=True))
    policy = NamespacePolicy(audit=True)
    decision = decide(request, policy, builtin_issues(request, policy))
    assert decision.allowed
    assert decision.outcome is Outcome.AUDITED
    assert any(w.startswith("audit mode, would deny: [STK-K8S-001]") for w in decision.warnings)
    assert "STK-K8S-001" in decision.audit_annotations["would-deny"]


def test_delete_connect_and_exempt_namespaces_are_allowed_unevaluated() -> None:
    policy = WebhookPolicy(exempt_namespaces=("kube-*",))
    delete = parse_review(body(review(None, operation="DELETE", old=pod(privileged=True))))
    assert early_decision(delete, policy) is not None
    exempt = request_for(pod(privileged=True, namespace="kube-system"))
    decision = early_decision(exempt, policy)
    assert decision is not None
    assert decision.allowed
    assert decision.reason == "namespace exempt"
    assert early_decision(request_for(pod(privileged=True)), policy) is None


def test_untrusted_registries_and_tags_follow_the_image_policy() -> None:
    policy = NamespacePolicy(
        images=ImagePolicy(
            trusted_registries=("registry.example.com/shop/",),
            require_digest=True,
            action=Action.DENY,
        )
    )
    bad = request_for(pod(image="docker.io/library/nginx:1.27"))
    ids = {i.id: i for i in builtin_issues(bad, policy)}
    assert ids["image-registry"].action is Action.DENY
    assert ids["image-registry"].path == "spec.containers[0].image"
    assert "image-digest" in ids
    good = request_for(pod(image=f"registry.example.com/shop/tool@{DIGEST}"))
    assert not [i for i in builtin_issues(good, policy) if i.source == "image"]


@pytest.mark.parametrize(
    ("image", "prefix", "trusted"),
    [
        ("nginx", "docker.io/library/", True),
        ("nginx:1.27", "docker.io/library/nginx", True),
        ("registry.example.com/app:1", "registry.example.com", True),
        ("registry.example.com.evil.io/app:1", "registry.example.com", False),
        ("registry.example.com/app:1", "registry.example.com/team/", False),
        ("ghcr.io/acme/app@" + DIGEST, "ghcr.io/acme/", True),
        ("localhost:5000/app", "localhost:5000", True),
    ],
)
def test_trusted_prefixes_match_at_a_boundary(image: str, prefix: str, trusted: bool) -> None:
    assert is_trusted(image, [prefix]) is trusted


def test_images_are_normalised_as_the_runtime_reads_them() -> None:
    assert normalise_image("nginx") == "docker.io/library/nginx:latest"
    assert normalise_image("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert normalise_image("index.docker.io/library/nginx:1") == "docker.io/library/nginx:1"
    assert normalise_image(f"quay.io/x/y@{DIGEST}") == f"quay.io/x/y@{DIGEST}"
    assert normalise_image("localhost:5000/app") == "localhost:5000/app:latest"


def test_vulnerability_thresholds_use_scan_results(tmp_path: Path) -> None:
    (tmp_path / "nginx.json").write_text(
        json.dumps(scan_result("nginx:1.27", ["critical", "high", "low"], digest=DIGEST))
    )
    (tmp_path / "redis.json").write_text(
        json.dumps(scan_result("docker.io/library/redis:7", ["high"]))
    )
    index = load_scan_results(tmp_path)
    policy = NamespacePolicy(
        vulnerabilities=VulnerabilityPolicy(
            deny=Severity.CRITICAL, warn=Severity.HIGH, unscanned=Action.WARN
        )
    )

    def issues(image: str) -> list[Issue]:
        return [
            i
            for i in builtin_issues(request_for(pod(image=image)), policy, vulnerabilities=index)
            if i.source == "vulnerability"
        ]

    (critical,) = issues("docker.io/library/nginx:1.27")
    assert critical.action is Action.DENY
    assert "CVE-2024-1000" in critical.message
    assert "1 known vulnerability of severity critical" in critical.message
    (by_digest,) = issues(f"nginx@{DIGEST}")
    assert by_digest.action is Action.DENY
    (high,) = issues("redis:7")
    assert high.action is Action.WARN
    (unscanned,) = issues("registry.example.com/other:1")
    assert unscanned.id == "image-unscanned"
    assert unscanned.action is Action.WARN


def test_scan_results_that_are_not_ours_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"bomFormat": "CycloneDX"}')
    with pytest.raises(WebhookConfigError, match="schemaVersion"):
        load_scan_results(tmp_path)
    with pytest.raises(WebhookConfigError, match="not a directory"):
        load_scan_results(tmp_path / "nope")
    assert len(VulnerabilityIndex.empty()) == 0


def test_gatekeeper_actions_map_to_deny_warn_and_log_only() -> None:
    issues = gatekeeper_issues(
        [
            PolicyViolation("K8sDisallowedTags", "no-latest", "uses latest", "deny"),
            PolicyViolation("K8sRequiredLabels", "owner", "no owner label", "warn"),
            PolicyViolation("K8sAllowedRepos", "repos", "bad repo", "dryrun"),
        ]
    )
    request = request_for(pod())
    decision = decide(request, NamespacePolicy(), issues)
    assert not decision.allowed
    assert "[K8sDisallowedTags/no-latest] uses latest" in decision.message
    assert decision.warnings == ("[K8sRequiredLabels/owner] no owner label",)
    assert decision.audit_annotations["dryrun-violations"] == "K8sAllowedRepos/repos"
    assert "bad repo" not in decision.message


def test_a_long_denial_is_bounded_and_counts_what_it_left_out() -> None:
    issues = [Issue("gatekeeper", f"K/c{i}", Action.DENY, "m" * 300) for i in range(40)]
    decision = decide(request_for(pod()), NamespacePolicy(), issues)
    assert len(decision.message) <= MAX_MESSAGE_LENGTH
    assert decision.message.endswith("more")
    huge = decide(
        request_for(pod()),
        NamespacePolicy(),
        [Issue("gatekeeper", "K/x", Action.DENY, "z" * 10_000)],
    )
    assert len(huge.message) <= MAX_MESSAGE_LENGTH
    assert "K/x" in huge.message


def test_failures_follow_fail_open_or_closed() -> None:
    closed = failure_decision("policy evaluation timed out after 3s", fail_open=False)
    assert not closed.allowed
    assert closed.code == 500
    assert "timed out" in closed.message
    opened = failure_decision("policy evaluation timed out after 3s", fail_open=True)
    assert opened.allowed
    assert "fails open" in opened.warnings[0]
    audited = failure_decision("x", fail_open=False, audit=True)
    assert audited.allowed
    assert audited.outcome is Outcome.ERROR


def test_a_warn_only_rule_allows_with_warnings() -> None:
    request = request_for(pod())
    policy = NamespacePolicy(deny=CheckRule(), warn=CheckRule(checks=frozenset({"STK-K8S-026"})))
    decision = decide(request, policy, builtin_issues(request, policy))
    assert decision.allowed
    assert decision.outcome is Outcome.WARNED
    assert decision.warnings
    assert decision.warnings[0].startswith("[STK-K8S-026]")


def test_gatekeeper_only_runs_no_built_in_check_and_counts_violations() -> None:
    request = request_for(pod(privileged=True))
    gatekeeper_only = parse_policy({"default": {"deny": {}, "warn": {}}}).default
    assert builtin_issues(request, gatekeeper_only) == []
    found = gatekeeper_issues(
        [
            PolicyViolation("K8sPSPPrivilegedContainer", "no-privileged", "one", "deny"),
            PolicyViolation("K8sPSPPrivilegedContainer", "no-privileged", "two", "deny"),
            PolicyViolation("K8sRequiredLabels", "team", "no team", "warn"),
        ]
    )
    decision = decide(request, gatekeeper_only, found)
    assert decision.audit_annotations["violations"] == (
        "K8sPSPPrivilegedContainer/no-privileged=2,K8sRequiredLabels/team=1"
    )
    # The built-in checks, when selected, are counted the same way.
    checked = builtin_issues(request, DEFAULT_POLICY.default)
    counts = decide(request, DEFAULT_POLICY.default, checked).audit_annotations["violations"]
    assert "STK-K8S-001=1" in counts.split(",")
