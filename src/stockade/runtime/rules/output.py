"""A rule's ``output``: text with ``%field`` placeholders, rendered from an event."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from stockade.runtime.events import Event, Extractor, Value
from stockade.runtime.rules.ast import FieldRef
from stockade.runtime.rules.compiler import CompileError, resolve_field

__all__ = ["NOT_AVAILABLE", "OutputTemplate", "render_value"]

NOT_AVAILABLE: Final = "<NA>"
"""What a field without a value renders as, as in Falco's output."""

_PLACEHOLDER: Final = re.compile(
    r"%(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)(?:\[(?P<arg>[^\]]+)\])?"
)


def render_value(value: Value | None) -> str:
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(render_value(item) for item in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class OutputTemplate:
    """A parsed output: literal pieces and the fields between them."""

    text: str
    pieces: tuple[str, ...]
    """Literal text; ``pieces[i]`` comes before ``fields[i]``, and one more at the end."""
    fields: tuple[str, ...]
    """Field names as written (``proc.aname[2]``), in order."""
    extractors: tuple[Extractor | None, ...]
    """None for a field our events do not carry: it renders as ``<NA>``."""

    @classmethod
    def parse(cls, text: str) -> OutputTemplate:
        """Raises :class:`CompileError` naming a placeholder that is not a field."""
        pieces: list[str] = []
        fields: list[str] = []
        extractors: list[Extractor | None] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            ref = FieldRef(match["name"], match["arg"])
            try:
                spec, arg = resolve_field(ref)
            except CompileError:
                raise CompileError(
                    f"invalid output placeholder %{ref}: not a field", "output", str(ref)
                ) from None
            pieces.append(text[position : match.start()])
            fields.append(str(ref))
            extractors.append(None if spec.bind is None else spec.bind(arg))
            position = match.end()
        pieces.append(text[position:])
        return cls(text, tuple(pieces), tuple(fields), tuple(extractors))

    def values(self, event: Event) -> dict[str, str | None]:
        """Each field's rendered value (None where it has none)."""
        values: dict[str, str | None] = {}
        for name, extract in zip(self.fields, self.extractors, strict=True):
            value = None if extract is None else extract(event)
            values[name] = None if value is None else render_value(value)
        return values

    def render(self, event: Event) -> tuple[str, dict[str, str | None]]:
        """The output text and the values of its fields."""
        values = self.values(event)
        parts = [self.pieces[0]]
        for name, piece in zip(self.fields, self.pieces[1:], strict=True):
            value = values[name]
            parts.append(NOT_AVAILABLE if value is None else value)
            parts.append(piece)
        return "".join(parts), values
