"""The rewrites that let rego-cpp run Gatekeeper's Rego v0 with OPA's meaning."""

from __future__ import annotations

import json

from stockade.admission.gatekeeper.rego import (
    RegoProgram,
    end_statements_before_parenthesised_lines,
    hoist_call_iterations,
    upgrade_v0_heads,
)


def test_v0_set_heads_become_contains_and_objects_stay() -> None:
    source = (
        "package p\n"
        'violation[{"msg": msg, "details": {}}] {\n  msg := "x"\n}\n'
        "names[n] { n := input.xs[_] }\n"
        'flags["a"]\n'
        "byname[k] = v { v := input.m[k] }\n"
        "f(x) = y { y := x }\n"
    )
    upgraded = upgrade_v0_heads(source)
    assert 'violation contains {"msg": msg, "details": {}} {' in upgraded
    assert "names contains n {" in upgraded
    assert 'flags contains "a"' in upgraded
    assert "byname[k] = v {" in upgraded
    assert "f(x) = y {" in upgraded
    # A line inside a body that looks like a head is not touched.
    body = 'package p\nv[m] {\n  m := "x"\n  input.xs[_]\n}\n'
    assert "input.xs[_]" in upgrade_v0_heads(body)


def test_a_v1_module_is_left_as_written() -> None:
    source = "package p\nimport rego.v1\nobj[k] if { k := input.xs[_] }\n"
    assert upgrade_v0_heads(source) == source


def test_iterations_in_call_arguments_are_hoisted_before_the_statement() -> None:
    assert hoist_call_iterations("  f(input.rules[_])") == (
        "  __stockade_iter1 := input.rules[_]; f(__stockade_iter1)"
    )
    hoisted = hoist_call_iterations("  s := {c | c := lower(input.caps[_])}")
    assert hoisted == "  s := {c |__stockade_iter1 := input.caps[_];  c := lower(__stockade_iter1)}"
    # Negation would change meaning; iterations outside calls need nothing.
    assert hoist_call_iterations("  not f(input.rules[_])") == "  not f(input.rules[_])"
    assert hoist_call_iterations("  x := input.rules[_]") == "  x := input.rules[_]"


def test_hoisted_iterations_evaluate_like_opa() -> None:
    source = """\
package p

violation[{"msg": msg}] {
  image := input.review.object.image
  startswith(image, input.parameters.repos[_])
  msg := sprintf("%v is from a banned repo", [image])
}

lowered[c] { s := {x | x := lower(input.parameters.repos[_])}; c := s[_] }
"""
    program = RegoProgram([("p.rego", source)], "p")
    banned = {"review": {"object": {"image": "bad/x"}}, "parameters": {"repos": ["BAD/", "bad/"]}}
    assert program.evaluate(json.dumps(banned)) == [{"msg": "bad/x is from a banned repo"}]
    banned["review"] = {"object": {"image": "good/x"}}
    assert program.evaluate(json.dumps(banned)) == []


def test_a_line_starting_with_a_parenthesis_is_not_a_call_of_the_line_before() -> None:
    source = "package p\n\nok {\n  input.a\n  (input.b - input.c) >= input.a\n}\n"
    rewritten = end_statements_before_parenthesised_lines(source)
    assert "  input.a;\n  (input.b" in rewritten
    program = RegoProgram([("p.rego", rewritten + 'violation[{"msg": "ok"}] { ok }\n')], "p")
    assert program.evaluate(json.dumps({"a": 2, "b": 5, "c": 1})) == [{"msg": "ok"}]
    assert program.evaluate(json.dumps({"a": 9, "b": 5, "c": 1})) == []
    # A continued expression (the line before ends with an operator) is left alone.
    continued = "package p\nok {\n  x := 1 +\n  (2 * 3)\n}\n"
    assert end_statements_before_parenthesised_lines(continued) == continued
