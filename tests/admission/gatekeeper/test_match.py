"""Which objects a constraint's spec.match selects, through a real engine and template."""

from __future__ import annotations

from typing import Any

import pytest
from tests.admission.gatekeeper.helpers import constraint, obj, template

from stockade.admission.gatekeeper import GatekeeperEngine, request_for_object
from stockade.admission.gatekeeper.match import glob_matches


def _violations(match: dict[str, Any], target: dict[str, Any], **review: Any) -> int:
    engine = GatekeeperEngine()
    engine.add_template(template())
    engine.add_constraint(constraint(match=match))
    return len(engine.review(request_for_object(target), **review))


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("kube-system", "kube-system", True),
        ("kube-*", "kube-public", True),
        ("kube-*", "shop", False),
        ("*-system", "kube-system", True),
        ("*-system", "system-x", False),
        ("*shop*", "myshop1", True),
        ("shop", "shop2", False),
    ],
)
def test_globs_take_a_star_at_either_end(pattern: str, value: str, expected: bool) -> None:
    assert glob_matches(pattern, value) is expected


def test_kinds_select_by_group_and_kind() -> None:
    pods_only = {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}
    assert _violations(pods_only, obj("Pod")) == 1
    assert _violations(pods_only, obj("Deployment", api_version="apps/v1")) == 0
    apps_any = {"kinds": [{"apiGroups": ["apps"], "kinds": ["*"]}]}
    assert _violations(apps_any, obj("Deployment", api_version="apps/v1")) == 1
    assert _violations(apps_any, obj("Pod")) == 0
    assert _violations({}, obj("ConfigMap")) == 1


def test_namespaces_and_excluded_namespaces_with_globs() -> None:
    assert _violations({"namespaces": ["shop"]}, obj(namespace="shop")) == 1
    assert _violations({"namespaces": ["sho*"]}, obj(namespace="shopping")) == 1
    assert _violations({"namespaces": ["shop"]}, obj(namespace="other")) == 0
    assert _violations({"excludedNamespaces": ["kube-*"]}, obj(namespace="kube-system")) == 0
    assert _violations({"excludedNamespaces": ["kube-*"]}, obj(namespace="shop")) == 1
    # A Namespace object is judged by its own name; other cluster objects by neither list.
    assert (
        _violations({"excludedNamespaces": ["kube-*"]}, obj("Namespace", "kube-x", namespace=None))
        == 0
    )
    assert _violations({"namespaces": ["shop"]}, obj("ClusterRole", namespace=None)) == 1


def test_label_selector_match_labels_and_expressions() -> None:
    web = obj(labels={"app": "web", "tier": "front"})
    assert _violations({"labelSelector": {"matchLabels": {"app": "web"}}}, web) == 1
    assert _violations({"labelSelector": {"matchLabels": {"app": "db"}}}, web) == 0
    for expression, expected in [
        ({"key": "tier", "operator": "In", "values": ["front", "back"]}, 1),
        ({"key": "tier", "operator": "In", "values": ["back"]}, 0),
        ({"key": "tier", "operator": "NotIn", "values": ["back"]}, 1),
        ({"key": "tier", "operator": "NotIn", "values": ["front"]}, 0),
        ({"key": "app", "operator": "Exists"}, 1),
        ({"key": "team", "operator": "Exists"}, 0),
        ({"key": "team", "operator": "DoesNotExist"}, 1),
        ({"key": "app", "operator": "DoesNotExist"}, 0),
    ]:
        selector = {"labelSelector": {"matchExpressions": [expression]}}
        assert _violations(selector, web) == expected, expression


def test_namespace_selector_uses_the_namespace_object() -> None:
    selector = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    prod = obj("Namespace", "shop", namespace=None, labels={"env": "prod"})
    dev = obj("Namespace", "shop", namespace=None, labels={"env": "dev"})
    assert _violations(selector, obj(), namespace=prod) == 1
    assert _violations(selector, obj(), namespace=dev) == 0
    # Unknown namespace: the selector cannot hold.
    assert _violations(selector, obj()) == 0
    # From the inventory when the caller does not pass it.
    engine = GatekeeperEngine()
    engine.add_template(template())
    engine.add_constraint(constraint(match=selector))
    engine.set_inventory([prod])
    assert len(engine.review(request_for_object(obj()))) == 1


def test_scope_cluster_and_namespaced() -> None:
    cluster_role = obj("ClusterRole", namespace=None, api_version="rbac.authorization.k8s.io/v1")
    assert _violations({"scope": "Cluster"}, cluster_role) == 1
    assert _violations({"scope": "Cluster"}, obj()) == 0
    assert _violations({"scope": "Namespaced"}, obj()) == 1
    assert _violations({"scope": "Namespaced"}, cluster_role) == 0
    assert _violations({"scope": "*"}, cluster_role) == 1


def test_name_glob() -> None:
    assert _violations({"name": "web*"}, obj(name="web-1")) == 1
    assert _violations({"name": "web*"}, obj(name="db-1")) == 0


@pytest.mark.parametrize("action", ["deny", "warn", "dryrun"])
def test_enforcement_action_is_carried_on_each_violation(action: str) -> None:
    engine = GatekeeperEngine()
    engine.add_template(template())
    engine.add_constraint(constraint(action=action))
    [violation] = engine.review(request_for_object(obj()))
    assert violation.enforcement_action == action
    assert violation.constraint_name == "need-owner"


def test_enforcement_action_defaults_to_deny() -> None:
    engine = GatekeeperEngine()
    engine.add_template(template())
    engine.add_constraint(constraint())
    assert [v.enforcement_action for v in engine.review(request_for_object(obj()))] == ["deny"]
