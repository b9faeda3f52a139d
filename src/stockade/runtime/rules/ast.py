"""The syntax tree of a condition, as the parser builds it and the compiler reads it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "And",
    "Compare",
    "Const",
    "FieldRef",
    "ListValue",
    "Literal",
    "MacroRef",
    "Node",
    "Not",
    "Or",
]


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``proc.aname[2]``: a field name and the argument in brackets, if any."""

    name: str
    arg: str | None = None
    position: int = 0

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}[{self.arg}]"


@dataclass(frozen=True, slots=True)
class Literal:
    """A value. Only an unquoted one may name a list."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class ListValue:
    """``(a, "b c", my_list)``: the operand of ``in``, ``intersects`` and ``pmatch``."""

    items: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; ``value`` is None for the unary ``exists``."""

    field: FieldRef
    op: str
    value: Literal | ListValue | None = None


@dataclass(frozen=True, slots=True)
class MacroRef:
    name: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Const:
    """A subtree already decided: it cannot hold (or cannot fail) on any of our events."""

    value: bool


Node = And | Or | Not | Compare | MacroRef | Const
