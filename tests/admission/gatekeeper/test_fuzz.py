"""Hostile policy input: only PolicyLoadError escapes the parsers, the rewrites never fail."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.admission.gatekeeper import PolicyLoadError
from stockade.admission.gatekeeper.model import parse_constraint, parse_template
from stockade.admission.gatekeeper.rego import hoist_call_iterations, upgrade_v0_heads

REGO_ALPHABET = st.sampled_from([*list('abv_[]{}()"`#|:=;.\n \\'), "violation", "not "])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(st.lists(REGO_ALPHABET, max_size=60).map("".join))
@settings(max_examples=300)
def test_the_rego_rewrites_take_any_text(source: str) -> None:
    upgraded = upgrade_v0_heads(source)
    hoist_call_iterations(upgraded)


@given(
    st.fixed_dictionaries(
        {
            "apiVersion": st.just("templates.gatekeeper.sh/v1"),
            "kind": st.just("ConstraintTemplate"),
            "metadata": JSON_VALUES,
            "spec": JSON_VALUES,
        }
    )
)
def test_templates_fail_only_with_policy_load_error(document: dict[str, Any]) -> None:
    with contextlib.suppress(PolicyLoadError):
        parse_template(document, source="fuzz")


@given(st.fixed_dictionaries({"kind": JSON_VALUES, "metadata": JSON_VALUES, "spec": JSON_VALUES}))
def test_constraints_fail_only_with_policy_load_error(document: dict[str, Any]) -> None:
    with contextlib.suppress(PolicyLoadError):
        parse_constraint(document, source="fuzz")
