"""Reading a rules file's YAML as Falco's YAML library reads it, with line numbers.

Rules files are YAML as yaml-cpp (Falco's parser) accepts it, which is looser than
PyYAML's safe loader in two ways that Falco's own files rely on: a plain ``=`` (as in
``comps: [=, in]``) is a string, not YAML's "value" type, and a plain scalar that starts
with ``!`` (``desc: != after evt.type``) is text, not an unknown tag. Both are read here as
the text they spell.

Documents are composed node by node; the nodes a document reaches (aliases counted each
time they are used) are bounded, so an alias bomb is refused before it is expanded.
Any failure becomes :class:`RulesYamlError` with the line.
"""

from __future__ import annotations

from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stockade.runtime.rules.errors import RulesError

__all__ = ["MAX_BYTES", "RulesYamlError", "read_yaml"]

MAX_BYTES: Final = 16 * 1024 * 1024
"""Largest rules file read; Falco's own rules are under 100 KiB."""
MAX_NODES: Final = 2_000_000
"""Most YAML nodes one document may reach, counting every use of an alias."""


class RulesYamlError(RulesError):
    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``=`` and unknown ``!tags`` as yaml-cpp does."""


def _value(loader: yaml.SafeLoader, node: Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        text = str(loader.construct_scalar(node))
        return f"{node.tag} {text}" if text else str(node.tag)
    if isinstance(node, SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:value", _value)
_Loader.add_multi_constructor("!", _unknown_tag)


def _count(node: Node, budget: list[int], depth: int = 0) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise RulesYamlError(
            f"the document expands to more than {MAX_NODES} YAML nodes (an alias bomb?)",
            node.start_mark.line + 1,
        )
    if depth > 500:
        raise RulesYamlError("YAML nested more than 500 levels deep", node.start_mark.line + 1)
    if isinstance(node, SequenceNode):
        for child in node.value:
            _count(child, budget, depth + 1)
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            _count(key, budget, depth + 1)
            _count(value, budget, depth + 1)


def read_yaml(name: str, text: str | bytes) -> list[tuple[int, Any]]:
    """Each document as (its first line, its value); a list document's value is a list of
    (line, item) pairs, so that every item keeps its line."""
    if len(text) > MAX_BYTES:
        raise RulesYamlError(f"over {MAX_BYTES} bytes: not read", None)
    if isinstance(text, bytes):
        try:
            decoded = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RulesYamlError("not UTF-8 text", text.count(b"\n", 0, exc.start) + 1) from None
    else:
        decoded = text
    try:
        loader = _Loader(decoded)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise RulesYamlError(f"not valid YAML: {exc}", None) from None
    documents: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there was one
                continue
            line = node.start_mark.line + 1
            _count(node, [MAX_NODES])
            if isinstance(node, SequenceNode):
                items = [
                    (item.start_mark.line + 1, loader.construct_object(item, deep=True))
                    for item in node.value
                ]
                documents.append((line, items))
            else:
                value = loader.construct_object(node, deep=True)
                documents.append((line, value))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesYamlError(f"not valid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise RulesYamlError(f"not valid YAML: {exc}", None) from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise RulesYamlError(f"cannot read the YAML: {exc}", None) from None
    finally:
        loader.dispose()
    return documents
