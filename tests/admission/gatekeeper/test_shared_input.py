"""Constraints sharing one input (one rego-cpp program, the review parsed once) decide
exactly as each template's own program does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stockade.admission.gatekeeper import GatekeeperEngine, request_for_object
from stockade.admission.gatekeeper.rego import bind_parameters, constraint_modules
from stockade.compliance.kubernetes import load_manifests

DATA = Path(__file__).resolve().parents[2] / "data"
LIBRARY = DATA / "admission/gatekeeper-library/library"
CONSTRAINTS = Path(__file__).resolve().parents[3] / "benchmarks/data/admission/constraints.yaml"


def test_parameters_are_rebound_in_every_form_the_library_uses() -> None:
    source = (
        "a := input.parameters.labels\n"
        'b := object.get(object.get(input, "parameters", {}), "x", 1)\n'
        'c := object.get(input, ["parameters", "y"], [])\n'
        "d := input.review.object\n"
        's := "input.parameters in a string"\n'
        "# input whole in a comment\n"
    )
    bound = bind_parameters(source, "data.stockade.params.c7")
    assert bound is not None
    assert "a := data.stockade.params.c7.labels" in bound
    assert 'object.get(data.stockade.params, "c7", {})' in bound
    assert 'object.get(data.stockade.params, ["c7", "y"], [])' in bound
    assert "d := input.review.object" in bound
    assert '"input.parameters in a string"' in bound
    # Any other use of input keeps the template on its own program.
    assert bind_parameters("x := f(input)", "data.p.c0") is None
    assert bind_parameters('x := input["parameters"]', "data.p.c0") is None


def test_modules_move_with_their_references() -> None:
    main = (
        "package k8sx\nimport data.lib.helpers.ok\n"
        'violation[{"msg": m}] { not ok; m := data.lib.helpers.name }\n'
    )
    lib = 'package lib.helpers\nok { input.parameters.on }\nname := "n"\n'
    copies = constraint_modules([("main", main), ("lib", lib)], "c2")
    assert copies is not None
    (_, moved_main), (_, moved_lib) = copies
    assert moved_main.startswith("package stockade.c2.k8sx")
    assert "import data.stockade.c2.lib.helpers.ok" in moved_main
    assert "data.stockade.c2.lib.helpers.name" in moved_main
    assert moved_lib.startswith("package stockade.c2.lib.helpers")
    assert "data.stockade.params.c2.on" in moved_lib


def _engine(share_input: bool) -> GatekeeperEngine:
    constraints = [c for c in yaml.safe_load_all(CONSTRAINTS.read_text()) if c]
    kinds = {c["kind"] for c in constraints}
    engine = GatekeeperEngine(share_input=share_input)
    for path in sorted(LIBRARY.glob("*/*/template.yaml")):
        template = yaml.safe_load(path.read_text())
        if template["spec"]["crd"]["spec"]["names"]["kind"] in kinds:
            engine.add_template(template, source=str(path))
    for constraint in constraints:
        engine.add_constraint(constraint)
    return engine


def _objects() -> list[dict[str, Any]]:
    resources = load_manifests(DATA / "compliance/checkov")
    return [dict(r.body) for r in resources if r.is_workload][:120]


@pytest.mark.slow
def test_shared_input_decides_as_each_templates_own_program() -> None:
    shared, alone = _engine(True), _engine(False)
    objects = _objects()
    assert len(objects) >= 100
    compared = violations = 0
    for obj in objects:
        request = request_for_object(obj)
        got = [(v.constraint_name, v.message) for v in shared.review(request)]
        want = [(v.constraint_name, v.message) for v in alone.review(request)]
        assert got == want, obj.get("metadata")
        compared += 1
        violations += len(want)
    assert shared._fused is not None  # the shared path really ran
    assert len(shared._fused_entry) == len(shared.constraints)
    assert violations > 100  # the objects really trip the constraints
    assert compared == len(objects)
