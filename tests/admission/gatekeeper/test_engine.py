"""GatekeeperEngine: reviews, inventory, and the errors of bad templates and constraints."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.admission.gatekeeper.helpers import constraint, obj, template

from stockade.admission.gatekeeper import (
    GatekeeperEngine,
    InvalidReviewError,
    PolicyEvaluationError,
    PolicyLoadError,
    request_for_object,
)
from stockade.core.errors import StockadeError

UNIQUE_NAME_REGO = """\
package k8suniquename

violation[{"msg": msg}] {
  other := data.inventory.namespace[ns][_]["ConfigMap"][name]
  name == input.review.object.metadata.name
  ns != input.review.object.metadata.namespace
  msg := sprintf("name %v is also used in namespace %v", [name, ns])
}
"""


def _engine(*constraints: dict[str, object]) -> GatekeeperEngine:
    engine = GatekeeperEngine()
    engine.add_template(template())
    for c in constraints or (constraint(),):
        engine.add_constraint(c)
    return engine


def test_message_and_details_are_those_of_the_rego() -> None:
    [violation] = _engine().review(request_for_object(obj(labels={"app": "x"})))
    assert violation.message == 'you must provide labels: {"owner"}'
    assert violation.details == {"missing_labels": ["owner"]}
    assert violation.constraint_kind == "K8sRequiredLabels"
    assert _engine().review(request_for_object(obj(labels={"owner": "me"}))) == []


def test_each_element_of_the_violation_set_is_one_violation() -> None:
    rego = """\
package k8sbadnames

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  startswith(c.name, "bad")
  msg := sprintf("bad container %v", [c.name])
}
"""
    engine = GatekeeperEngine()
    engine.add_template(template("K8sBadNames", rego))
    engine.add_constraint(constraint("no-bad", "K8sBadNames", parameters={}))
    pod = obj()
    pod["spec"] = {"containers": [{"name": "bad1"}, {"name": "ok"}, {"name": "bad2"}]}
    messages = [v.message for v in engine.review(request_for_object(pod))]
    assert messages == ["bad container bad1", "bad container bad2"]


def test_a_delete_is_reviewed_with_the_old_object() -> None:
    request = {
        "uid": "1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "DELETE",
        "namespace": "shop",
        "name": "web",
        "object": None,
        "oldObject": obj(),
    }
    assert len(_engine().review(request)) == 1


def test_the_review_carries_operation_and_user_info() -> None:
    rego = """\
package k8snoupdates

violation[{"msg": msg}] {
  input.review.operation == "UPDATE"
  msg := sprintf("%v may not update", [input.review.userInfo.username])
}
"""
    engine = GatekeeperEngine()
    engine.add_template(template("K8sNoUpdates", rego))
    engine.add_constraint(constraint("no-updates", "K8sNoUpdates", parameters={}))
    request = request_for_object(obj(), operation="UPDATE")
    request["userInfo"] = {"username": "alice"}
    assert [v.message for v in engine.review(request)] == ["alice may not update"]
    assert engine.review(request_for_object(obj())) == []


def test_inventory_is_data_inventory_by_namespace_and_cluster() -> None:
    engine = GatekeeperEngine()
    engine.add_template(template("K8sUniqueName", UNIQUE_NAME_REGO))
    engine.add_constraint(constraint("unique", "K8sUniqueName", parameters={}))
    mine = obj("ConfigMap", "settings", namespace="shop")
    assert engine.review(request_for_object(mine)) == []
    engine.set_inventory([obj("ConfigMap", "settings", namespace="billing"), mine])
    [violation] = engine.review(request_for_object(mine))
    assert violation.message == "name settings is also used in namespace billing"
    engine.set_inventory([])
    assert engine.review(request_for_object(mine)) == []


def test_from_paths_reads_templates_and_constraints_in_any_order(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "a-constraint.yaml").write_text(yaml.safe_dump(constraint()))
    policies = tmp_path / "templates"
    policies.mkdir()
    (policies / "t.yml").write_text(
        yaml.safe_dump_all([template(), {"apiVersion": "v1", "kind": "ConfigMap"}])
    )
    engine = GatekeeperEngine.from_paths([tmp_path])
    assert [c.ref for c in engine.constraints] == ["K8sRequiredLabels/need-owner"]
    assert len(engine.review(request_for_object(obj()))) == 1


def test_a_template_whose_rego_does_not_compile_names_the_problem() -> None:
    broken = template("K8sBroken", 'package k8sbroken\nviolation[{"msg": m}] { m := }\n')
    with pytest.raises(PolicyLoadError) as caught:
        GatekeeperEngine().add_template(broken, source="broken.yaml")
    assert caught.value.message.startswith("broken.yaml: the Rego of K8sBroken does not compile")
    assert "Invalid assignment" in caught.value.message


def test_an_error_at_evaluation_names_the_constraint() -> None:
    conflicting = """\
package k8sconflict

level = 1 { input.review.object.metadata.name }
level = 2 { input.review.object.metadata.name }

violation[{"msg": "never"}] { level > 5 }
"""
    engine = GatekeeperEngine()
    engine.add_template(template("K8sConflict", conflicting))
    engine.add_constraint(constraint("c1", "K8sConflict", parameters={}))
    with pytest.raises(PolicyEvaluationError) as caught:
        engine.review(request_for_object(obj()))
    assert caught.value.constraint == "K8sConflict/c1"
    assert "multiple outputs" in caught.value.message


def test_a_violation_without_msg_is_an_evaluation_error() -> None:
    engine = GatekeeperEngine()
    engine.add_template(
        template("K8sNoMsg", 'package k8snomsg\nviolation[{"text": "x"}] { true }\n')
    )
    engine.add_constraint(constraint("c", "K8sNoMsg", parameters={}))
    with pytest.raises(PolicyEvaluationError, match="no string msg"):
        engine.review(request_for_object(obj()))


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({**template(), "metadata": {"name": "wrong"}}, "lowercase of the kind"),
        ({**template(), "spec": {"crd": {"spec": {"names": {}}}, "targets": []}}, "names.kind"),
        (
            {**template(), "spec": {"crd": {"spec": {"names": {"kind": "K8sRequiredLabels"}}}}},
            "targets",
        ),
        (template(rego="violation[{}] { true }"), "no package"),
        ({**template(), "spec": "text"}, "spec must be a mapping"),
    ],
)
def test_malformed_templates_are_refused_with_the_source(
    document: dict[str, object], words: str
) -> None:
    with pytest.raises(PolicyLoadError, match=words) as caught:
        GatekeeperEngine().add_template(document, source="t.yaml")
    assert caught.value.source == "t.yaml"
    assert isinstance(caught.value, StockadeError)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (constraint(action="block"), "enforcementAction"),
        (constraint(match={"scope": "Everywhere"}), "scope"),
        (constraint(match={"kinds": "Pod"}), "kinds must be a list"),
        (
            constraint(
                match={"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}
            ),
            "needs values",
        ),
        (constraint(kind="K8sUnknown"), "no ConstraintTemplate"),
        ({"kind": "K8sRequiredLabels", "metadata": {}}, "metadata.name"),
    ],
)
def test_malformed_constraints_are_refused_with_the_source(
    document: dict[str, object], words: str
) -> None:
    engine = GatekeeperEngine()
    engine.add_template(template())
    with pytest.raises(PolicyLoadError, match=words) as caught:
        engine.add_constraint(document, source="c.yaml")
    assert caught.value.source == "c.yaml"


def test_malformed_yaml_is_a_load_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ConstraintTemplate\nspec: [unclosed\n")
    with pytest.raises(PolicyLoadError) as caught:
        GatekeeperEngine.from_paths([bad])
    assert str(bad) in caught.value.message


def test_a_request_without_kind_is_refused() -> None:
    with pytest.raises(InvalidReviewError):
        _engine().review({"object": obj()})
