"""The condition language of Falco rules: a tokenizer and a recursive-descent parser.

Grammar (``not`` binds tighter than ``and``, which binds tighter than ``or``)::

    condition  := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" or_expr ")" | MACRO | FIELD check
    check      := "exists" | LIST_OP list | OP value
    list       := "(" [value ("," value)*] ")"
    value      := QUOTED | BARE

A FIELD is a dotted name with an optional argument in brackets (``proc.aname[2]``,
``container.mount.dest[/etc]``); a MACRO is a name without dots. A QUOTED value is in
single or double quotes with backslash escapes; a BARE value runs up to white space, a
parenthesis, a comma or a quote, so ``runc:[0:PARENT]`` and ``evt.dir=<`` read as Falco
reads them. Which token comes next depends on where the parser is (after a field comes
an operator, after an operator a value), so the tokenizer is asked for a kind of token
rather than guessing one: that is what lets ``<`` be an operator in ``evt.rawres < 0``
and a value in ``evt.dir = <``.

:func:`parse_condition` raises :class:`ConditionSyntaxError` and nothing else, whatever
the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from stockade.runtime.rules.ast import (
    And,
    Compare,
    FieldRef,
    ListValue,
    Literal,
    MacroRef,
    Node,
    Not,
    Or,
)
from stockade.runtime.rules.errors import ConditionSyntaxError

__all__ = [
    "COMPARISON_OPERATORS",
    "LIST_OPERATORS",
    "UNARY_OPERATORS",
    "parse_condition",
    "parse_value",
]

_SYMBOL_OPERATORS: Final = ("==", "!=", "<=", ">=", "=", "<", ">")
_WORD_OPERATORS: Final = frozenset(
    {
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
    }
)
LIST_OPERATORS: Final = frozenset({"in", "intersects", "pmatch"})
UNARY_OPERATORS: Final = frozenset({"exists"})
COMPARISON_OPERATORS: Final = (
    frozenset({"=", "!=", "<", "<=", ">", ">="}) | _WORD_OPERATORS | LIST_OPERATORS
)
"""Every binary operator (``==`` is read as ``=``)."""

_KEYWORDS: Final = frozenset({"and", "or", "not"})
_WHITESPACE: Final = " \t\r\n\f\v"
_BARE_STOP: Final = frozenset(_WHITESPACE + "(),\"'")
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_MAX_DEPTH: Final = 64
"""Nesting of parentheses and ``not``; deeper conditions are refused, not recursed into."""


def _is_name_start(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_")


def _is_name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


class _Tokenizer:
    """Reads the next token of the kind the parser asks for, tracking the position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, self.text, self.pos if position is None else position)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def describe_next(self) -> str:
        """The next token as an error message shows it."""
        self.skip_space()
        if self.pos >= len(self.text):
            return "the end of the condition"
        end = self.pos
        while end < len(self.text) and self.text[end] not in _WHITESPACE and end - self.pos < 30:
            end += 1
        return repr(self.text[self.pos : max(end, self.pos + 1)])

    def word(self) -> tuple[str, int] | None:
        """A name (``and``, ``my_macro``, ``proc.name``) or None if none starts here."""
        self.skip_space()
        start = self.pos
        if start >= len(self.text) or not _is_name_start(self.text[start]):
            return None
        end = start + 1
        while end < len(self.text):
            char = self.text[end]
            if _is_name_char(char):
                end += 1
            elif char == "." and end + 1 < len(self.text) and _is_name_char(self.text[end + 1]):
                end += 2
            else:
                break
        self.pos = end
        return self.text[start:end], start

    def peek_keyword(self) -> str | None:
        saved = self.pos
        found = self.word()
        self.pos = saved
        if found is not None and found[0] in _KEYWORDS:
            return found[0]
        return None

    def field_argument(self) -> str | None:
        """``[...]`` right after a field name, without the brackets."""
        if self.pos >= len(self.text) or self.text[self.pos] != "[":
            return None
        close = self.text.find("]", self.pos + 1)
        if close < 0:
            raise self.error("unterminated field argument: '[' without ']'")
        argument = self.text[self.pos + 1 : close]
        if not argument:
            raise self.error("empty field argument '[]'")
        self.pos = close + 1
        return argument

    def operator(self) -> str | None:
        self.skip_space()
        for symbol in _SYMBOL_OPERATORS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return "=" if symbol == "==" else symbol
        saved = self.pos
        found = self.word()
        if found is not None:
            name = found[0]
            if name in _WORD_OPERATORS or name in LIST_OPERATORS or name in UNARY_OPERATORS:
                return name
        self.pos = saved
        return None

    def value(self) -> Literal:
        self.skip_space()
        if self.pos >= len(self.text):
            raise self.error("expected a value, found the end of the condition")
        char = self.text[self.pos]
        if char in "\"'":
            return Literal(self.quoted(char), quoted=True)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BARE_STOP:
            self.pos += 1
        if self.pos == start:
            raise self.error(f"expected a value, found {self.describe_next()}")
        return Literal(self.text[start : self.pos])

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        pieces: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(pieces)
            if char == "\\" and self.pos + 1 < len(self.text):
                escaped = self.text[self.pos + 1]
                pieces.append(_ESCAPES.get(escaped, escaped))
                self.pos += 2
                continue
            pieces.append(char)
            self.pos += 1
        raise self.error(f"unterminated string: {quote} without its closing quote", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _Tokenizer(text)
        self.depth = 0

    def condition(self) -> Node:
        if self.tokens.at_end():
            raise self.tokens.error("empty condition")
        node = self.or_expr()
        if not self.tokens.at_end():
            raise self.tokens.error(
                f"expected 'and', 'or' or the end of the condition, "
                f"found {self.tokens.describe_next()}"
            )
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.tokens.peek_keyword() == "or":
            self.tokens.word()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.not_expr()]
        while self.tokens.peek_keyword() == "and":
            self.tokens.word()
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self) -> Node:
        if self.tokens.peek_keyword() == "not":
            self.tokens.word()
            return Not(self.nested(self.not_expr))
        return self.primary()

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.tokens.error(f"condition nested deeper than {_MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def primary(self) -> Node:
        tokens = self.tokens
        if tokens.take("("):
            node = self.nested(self.or_expr)
            if not tokens.take(")"):
                raise tokens.error(f"expected ')', found {tokens.describe_next()}")
            return node
        found = tokens.word()
        if found is None:
            raise tokens.error(f"expected a field, a macro or '(', found {tokens.describe_next()}")
        name, start = found
        if name in _KEYWORDS:
            raise tokens.error(f"expected a field, a macro or '(', found {name!r}", start)
        if "." not in name:
            if tokens.pos < len(tokens.text) and tokens.text[tokens.pos] == "(":
                raise tokens.error(f"field transformers such as {name}() are not supported", start)
            return MacroRef(name, start)
        field = FieldRef(name, tokens.field_argument(), start)
        return self.check(field)

    def check(self, field: FieldRef) -> Node:
        tokens = self.tokens
        op = tokens.operator()
        if op is None:
            raise tokens.error(
                f"expected an operator after {field}, found {tokens.describe_next()}"
            )
        if op in UNARY_OPERATORS:
            return Compare(field, op)
        if op in LIST_OPERATORS:
            if tokens.peek() != "(":
                raise tokens.error(f"expected '(' to open the list after {op!r}")
            return Compare(field, op, self.list_value())
        if tokens.peek() in ("(", ")", ","):
            raise tokens.error(f"expected a value after {op!r}, found {tokens.describe_next()}")
        return Compare(field, op, tokens.value())

    def list_value(self) -> ListValue:
        tokens = self.tokens
        tokens.take("(")
        items: list[Literal] = []
        if tokens.take(")"):
            return ListValue(())
        while True:
            items.append(tokens.value())
            if tokens.take(")"):
                return ListValue(tuple(items))
            if not tokens.take(","):
                raise tokens.error(
                    f"expected ',' or ')' in the list, found {tokens.describe_next()}"
                )


def parse_condition(text: str) -> Node:
    """The syntax tree of a condition; raises :class:`ConditionSyntaxError` if malformed."""
    return _Parser(text).condition()


def parse_value(text: str) -> Literal:
    """A list item or exception value as a condition would read it.

    ``"sh -c ls"`` (with the quotes, as YAML lists write items that have spaces) is the
    quoted value ``sh -c ls``; anything else is taken as it is, unquoted.
    """
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] in "\"'":
        tokenizer = _Tokenizer(stripped)
        try:
            value = tokenizer.quoted(stripped[0])
        except ConditionSyntaxError:
            return Literal(text)
        if tokenizer.pos == len(stripped):
            return Literal(value, quoted=True)
    return Literal(text)
