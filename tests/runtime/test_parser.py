"""The condition parser: precedence, quoting, lists, field arguments, and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.runtime.rules import ConditionSyntaxError, parse_condition
from stockade.runtime.rules.ast import And, Compare, FieldRef, ListValue, Literal, MacroRef, Not, Or
from stockade.runtime.rules.parser import parse_value


def _eq(field: str, value: str, *, quoted: bool = False) -> Compare:
    return Compare(FieldRef(field), "=", Literal(value, quoted))


def _strip(node: object) -> object:
    """The tree without positions, for comparisons."""
    if isinstance(node, Compare):
        return Compare(FieldRef(node.field.name, node.field.arg), node.op, node.value)
    if isinstance(node, And | Or):
        return type(node)(tuple(_strip(c) for c in node.children))  # type: ignore[arg-type]
    if isinstance(node, Not):
        return Not(_strip(node.child))  # type: ignore[arg-type]
    if isinstance(node, MacroRef):
        return MacroRef(node.name)
    return node


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    tree = _strip(parse_condition("a.x=1 or not a.y=2 and a.z=3"))
    assert tree == Or((_eq("a.x", "1"), And((Not(_eq("a.y", "2")), _eq("a.z", "3")))))


def test_parentheses_override_precedence() -> None:
    tree = _strip(parse_condition("(a.x=1 or a.y=2) and a.z=3"))
    assert tree == And((Or((_eq("a.x", "1"), _eq("a.y", "2"))), _eq("a.z", "3")))


def test_keywords_need_word_boundaries() -> None:
    # 'order' and 'android' are macros, not 'or' and 'and'.
    tree = _strip(parse_condition("order and android"))
    assert tree == And((MacroRef("order"), MacroRef("android")))


def test_quoting_double_single_and_escapes() -> None:
    tree = parse_condition(r"""proc.cmdline = "sh -c \"id\"" or fd.typechar='f'""")
    assert isinstance(tree, Or)
    first, second = tree.children
    assert isinstance(first, Compare)
    assert first.value == Literal('sh -c "id"', quoted=True)
    assert isinstance(second, Compare)
    assert second.value == Literal("f", quoted=True)


def test_bare_values_read_as_falco_reads_them() -> None:
    tree = parse_condition("evt.dir=< and proc.pname in (runc:[0:PARENT], exe) and fd.name=/etc/x")
    assert isinstance(tree, And)
    directions, parents, names = tree.children
    assert isinstance(directions, Compare)
    assert directions.value == Literal("<")
    assert isinstance(parents, Compare)
    assert parents.value == ListValue((Literal("runc:[0:PARENT]"), Literal("exe")))
    assert isinstance(names, Compare)
    assert names.value == Literal("/etc/x")


def test_symbolic_operators_and_numbers() -> None:
    for op in ("=", "!=", "<", "<=", ">", ">="):
        tree = parse_condition(f"evt.rawres {op} -1")
        assert tree == Compare(FieldRef("evt.rawres", None, 0), op, Literal("-1"))
    assert parse_condition("evt.rawres == 0") == parse_condition("evt.rawres = 0")


def test_field_arguments_and_unary_exists() -> None:
    tree = parse_condition(
        "proc.aname[2]=sshd and container.mount.dest[/var/run/docker.sock] exists"
    )
    assert isinstance(tree, And)
    ancestor, mount = tree.children
    assert isinstance(ancestor, Compare)
    assert ancestor.field.arg == "2"
    assert isinstance(mount, Compare)
    assert mount.field == FieldRef("container.mount.dest", "/var/run/docker.sock", 23)
    assert mount.op == "exists"


def test_empty_and_nested_lists() -> None:
    assert parse_condition("proc.name in ()") == Compare(FieldRef("proc.name"), "in", ListValue(()))
    tree = parse_condition('proc.name in (a, "b c" , d)')
    assert isinstance(tree, Compare)
    assert tree.value == ListValue((Literal("a"), Literal("b c", quoted=True), Literal("d")))


def test_list_items_in_yaml_quotes_are_unquoted() -> None:
    assert parse_value('"sh -c uname -p 2> /dev/null"') == Literal(
        "sh -c uname -p 2> /dev/null", quoted=True
    )
    assert parse_value("cat /dev/zero") == Literal("cat /dev/zero")
    assert parse_value('"unterminated') == Literal('"unterminated')


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("evt.type=execve foo", "expected 'and', 'or' or the end of the condition", 17),
        ("proc.name", "expected an operator after proc.name", 10),
        ("proc.name in cat", "expected '(' to open the list", 14),
        ("(proc.name=cat", "expected ')'", 15),
        ("proc.name='cat", "unterminated string", 11),
        ("proc.name=cat and", "expected a field, a macro or '('", 18),
        ("", "empty condition", 1),
        ("proc.aname[2=cat", "unterminated field argument", 11),
        ("tolower(proc.name)=cat", "field transformers", 1),
        ("proc.name in (a b)", "expected ',' or ')'", 17),
    ],
)
def test_errors_say_what_was_expected_and_where(text: str, reason: str, column: int) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    assert reason in caught.value.reason
    assert caught.value.position + 1 == column


def test_deep_nesting_is_refused_not_recursed_into() -> None:
    with pytest.raises(ConditionSyntaxError, match="nested deeper"):
        parse_condition("(" * 5000 + "a.b=1" + ")" * 5000)
    with pytest.raises(ConditionSyntaxError, match="nested deeper"):
        parse_condition("not " * 5000 + "a.b=1")


_PIECES = st.sampled_from(
    [
        "proc.name",
        "=",
        "!=",
        " in ",
        " and ",
        " or ",
        " not ",
        "(",
        ")",
        ",",
        '"',
        "'",
        "\\",
        "exists",
        "contains",
        "[",
        "]",
        "macro_a",
        "evt.type",
        "<",
        ">=",
        " ",
        "\n",
        "x",
        "1",
        "proc.aname[2]",
        "glob",
        "pmatch",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join) | st.text(max_size=80))
def test_fuzz_only_the_declared_error_escapes(text: str) -> None:
    position = 0
    try:
        parse_condition(text)
    except ConditionSyntaxError as exc:
        position = exc.position
    assert 0 <= position <= len(text)
