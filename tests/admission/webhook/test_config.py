"""The policy file: parsing, per-namespace inheritance, and loud errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.admission.webhook.config import (
    Action,
    CheckRule,
    NamespacePolicy,
    WebhookPolicy,
    load_policy,
    parse_policy,
)
from stockade.admission.webhook.errors import WebhookConfigError
from stockade.compliance.kubernetes import KUBERNETES_CHECKS_BY_ID
from stockade.core.advisory import Severity

POLICY = """\
audit: false
exemptNamespaces: [kube-system, "tenant-*-sandbox"]
scanResults: scans
default:
  deny: {pss: baseline, checks: [STK-K8S-031]}
  warn: {severity: medium}
  exemptChecks: [STK-K8S-032]
  images: {trustedRegistries: [registry.example.com/], requireDigest: true, action: warn}
  vulnerabilities: {deny: critical, warn: high, unscanned: warn}
namespaces:
  payments:
    deny: {pss: restricted}
  "dev-*":
    audit: true
"""


def meta(check_id: str):  # type: ignore[no-untyped-def]
    return KUBERNETES_CHECKS_BY_ID[check_id].meta


def test_the_file_is_read_and_namespaces_inherit_the_default(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assert policy.scan_results == tmp_path / "scans"
    assert policy.is_exempt("kube-system")
    assert policy.is_exempt("tenant-a-sandbox")
    assert not policy.is_exempt("payments")
    assert not policy.is_exempt("")
    default = policy.for_namespace("shop")
    assert default.images.require_digest
    assert default.images.action is Action.WARN
    assert default.vulnerabilities.deny is Severity.CRITICAL
    payments = policy.for_namespace("payments")
    assert payments.deny == CheckRule(pss="restricted")
    assert payments.warn == default.warn  # not given: inherited
    assert payments.images == default.images
    assert policy.for_namespace("dev-42").audit is True
    assert policy.for_namespace("shop").audit is False


def test_actions_follow_ids_severity_and_pss_levels() -> None:
    policy = parse_policy(
        {
            "default": {
                "deny": {"pss": "baseline", "checks": ["STK-K8S-031"]},
                "warn": {"severity": "medium"},
                "exemptChecks": ["STK-K8S-032"],
            }
        }
    ).default
    assert policy.action_for(meta("STK-K8S-001")) is Action.DENY  # baseline
    assert policy.action_for(meta("STK-K8S-031")) is Action.DENY  # by id
    assert policy.action_for(meta("STK-K8S-013")) is Action.WARN  # restricted, medium
    assert policy.action_for(meta("STK-K8S-014")) is Action.IGNORE  # low, no level
    assert policy.action_for(meta("STK-K8S-032")) is Action.IGNORE  # exempt
    restricted = CheckRule(pss="restricted")
    assert restricted.selects(meta("STK-K8S-001"))
    assert restricted.selects(meta("STK-K8S-013"))
    assert not CheckRule(pss="baseline").selects(meta("STK-K8S-013"))


def test_the_default_policy_enforces_baseline_and_warns_on_restricted() -> None:
    policy = WebhookPolicy().for_namespace("anything")
    assert policy == NamespacePolicy()
    assert policy.action_for(meta("STK-K8S-001")) is Action.DENY
    assert policy.action_for(meta("STK-K8S-016")) is Action.WARN
    assert policy.action_for(meta("STK-K8S-024")) is Action.IGNORE


def test_global_audit_applies_to_every_namespace() -> None:
    policy = parse_policy(
        {"audit": True, "namespaces": {"payments": {"deny": {"severity": "low"}}}}
    )
    assert policy.for_namespace("payments").audit
    assert policy.for_namespace("other").audit


def test_an_exact_namespace_wins_over_an_earlier_pattern() -> None:
    policy = parse_policy(
        {"namespaces": {"team-*": {"audit": True}, "team-core": {"audit": False}}}
    )
    assert policy.for_namespace("team-core").audit is False
    assert policy.for_namespace("team-x").audit is True


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"defaults": {}}, "unknown key"),
        ({"default": {"deny": {"pss": "strict"}}}, "pss is 'strict'"),
        ({"default": {"deny": {"severity": "urgent"}}}, "not a severity"),
        ({"default": {"deny": {"checks": ["STK-K8S-999"]}}}, "unknown check"),
        ({"default": {"images": {"action": "block"}}}, "action"),
        ({"default": {"images": {"trustedRegistries": "docker.io"}}}, "list of strings"),
        ({"default": {"audit": "yes"}}, "true or false"),
        ({"namespaces": ["a"]}, "mapping"),
        ([1], "mapping"),
    ],
)
def test_mistakes_are_errors_not_silence(data: object, words: str) -> None:
    with pytest.raises(WebhookConfigError, match=words):
        parse_policy(data)


def test_an_unreadable_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(WebhookConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("default: [unclosed\n")
    with pytest.raises(WebhookConfigError, match=r"broken\.yaml"):
        load_policy(broken)


def test_empty_deny_and_warn_select_no_built_in_check() -> None:
    policy = parse_policy({"default": {"deny": {}, "warn": {}}})
    assert policy.default.deny.empty
    assert policy.default.warn.empty
    assert {policy.default.action_for(c.meta) for c in KUBERNETES_CHECKS_BY_ID.values()} == {
        Action.IGNORE
    }
