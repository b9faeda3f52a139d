"""Safe, bounded loading of multi-document YAML (and JSON) with line numbers.

Everything the compliance checks read from a user (Kubernetes manifests, Helm output,
serverless templates) goes through :func:`load_documents`. It is built to take hostile
input:

* Only YAML's safe types are constructed (``yaml.SafeLoader``'s constructor, libyaml's
  C parser when the wheel has it): no ``!!python/object`` tags.
* The size of the text is capped (:attr:`YamlLimits.max_bytes`) *before* parsing; a
  larger file is refused with a :class:`YamlLoadError` naming the limit, never parsed
  in part. Kubernetes itself refuses objects over 1.5 MiB (etcd's request limit), so
  the default of 16 MiB leaves room for a whole rendered chart in one file.
* Nodes are composed here, one event at a time, rather than by PyYAML's recursive
  composer, so that nesting depth (:attr:`YamlLimits.max_depth`) and the size of a
  document *with every alias expanded* (:attr:`YamlLimits.max_nodes`) are counted as
  they grow. A "billion laughs" document is refused after a few dozen events, before
  anything walks the expanded tree. Aliases to a collection that is still open
  (recursive structures) are refused: no Kubernetes object needs one.
* Every failure, whatever PyYAML or the JSON decoder raised, becomes a
  :class:`YamlLoadError` carrying the file name and, where known, the line.

Each document keeps the line where it starts and, for every mapping value and sequence
item written in the text (not those reached only through an alias), the line of its key
or of the item's first line, keyed by JSON path (``spec.template.spec.containers[0].image``).
Helm's ``# Source: chart/templates/x.yaml`` comments are kept with the document they head.

JSON is YAML for this loader, so it gets the same line numbers. The few JSON texts that
libyaml refuses (tabs used for indentation, escaped surrogate pairs) are read with
:mod:`json` instead; those documents have a start line but no field lines.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stockade.core.errors import StockadeError

try:  # the C parser is ~10x faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - wheels without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "PathSegment",
    "YamlDocument",
    "YamlLimits",
    "YamlLoadError",
    "format_path",
    "load_documents",
]

PathSegment = str | int
"""One step of a JSON path: a mapping key or a sequence index."""

_PLAIN_KEY: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*\Z")
_HELM_SOURCE: Final = re.compile(r"^#[ \t]*Source:[ \t]*(\S[^\n]*)", re.MULTILINE)


class YamlLoadError(StockadeError):
    """A YAML or JSON text cannot be loaded: malformed, too large, too deep, an alias bomb.

    ``file`` names the input as the caller named it; ``line`` is 1-based, or None when
    the problem is not at one place (the whole file is too large).
    """

    def __init__(
        self, message: str, hint: str | None = None, *, file: str, line: int | None = None
    ) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", hint)
        self.file = file
        self.line = line


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds on what one text may cost to load. Each is checked as the text is read."""

    max_bytes: int = 16 * 1024 * 1024
    """Size of the text (UTF-8 bytes); larger texts are refused before parsing."""
    max_documents: int = 100_000
    max_depth: int = 256
    """Nesting of collections; Kubernetes objects, CRD schemas included, stay under 64."""
    max_nodes: int = 4_000_000
    """Nodes in the whole text with every alias expanded each time it is used."""
    max_field_lines: int = 500_000
    """Field line numbers kept per text; past this, fields report their resource's line."""


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One document of a YAML stream (or one JSON text)."""

    index: int
    """Position in the stream, counting empty documents too (0-based)."""
    line: int
    """1-based line where the document's content starts."""
    data: Any
    """The constructed value: mappings are dicts, sequences lists, scalars Python values."""
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    """1-based line of each mapping value and sequence item, by JSON path."""
    helm_source: str | None = None
    """The template named by a Helm ``# Source:`` comment heading the document."""

    def line_of(self, path: Sequence[PathSegment]) -> int:
        """The line of ``path``, or of its nearest ancestor that has one, or the document's."""
        for end in range(len(path), 0, -1):
            line = self.field_lines.get(format_path(path[:end]))
            if line is not None:
                return line
        return self.line


def format_path(path: Sequence[PathSegment]) -> str:
    """A JSON path as people write it: ``spec.containers[0].image``.

    Keys that are not plain identifiers are quoted: ``metadata.annotations["a.b/c"]``.
    """
    text = ""
    for segment in path:
        text = f"{text}[{segment}]" if isinstance(segment, int) else _join_key(text, segment)
    return text


def _join_key(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def load_documents(
    text: str | bytes, *, name: str = "<text>", limits: YamlLimits | None = None
) -> list[YamlDocument]:
    """Every non-empty document of ``text``, in order.

    ``name`` is used in error messages. Raises :class:`YamlLoadError` for anything that
    is not loadable within ``limits``; no other exception escapes for any input.
    """
    limits = limits or YamlLimits()
    decoded = _decode(text, name, limits)
    sources = _helm_sources(decoded)
    try:
        return _Composer(decoded, name, limits, sources).documents()
    except YamlLoadError as yaml_error:
        # JSON that libyaml cannot read (tabs for indentation, escaped surrogate pairs)
        # is still JSON. Limits hit while reading YAML (depth, aliases) are not retried.
        if not isinstance(yaml_error.__cause__, yaml.MarkedYAMLError):
            raise
        try:
            return _load_json(decoded, name)
        except YamlLoadError:
            if decoded.lstrip().startswith(("{", "[")):
                raise  # it meant to be JSON: the JSON error says more
            raise yaml_error from yaml_error.__cause__


def _decode(text: str | bytes, name: str, limits: YamlLimits) -> str:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise YamlLoadError(
            f"{size} bytes is over the {limits.max_bytes}-byte limit for one YAML text",
            "split the file, or raise YamlLimits.max_bytes if it really is one manifest",
            file=name,
        )
    if isinstance(text, str):
        return text
    try:
        if text.startswith((b"\xff\xfe", b"\xfe\xff")):
            return text.decode("utf-16")
        return text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        raise YamlLoadError(
            "not UTF-8 text",
            "YAML and JSON files must be UTF-8 (or UTF-16 with a BOM)",
            file=name,
            line=line,
        ) from exc


def _helm_sources(text: str) -> list[tuple[int, str]]:
    """(line, template) for each Helm ``# Source:`` comment, in order of line."""
    if "Source:" not in text:
        return []
    found: list[tuple[int, str]] = []
    line, position = 1, 0
    for match in _HELM_SOURCE.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        template = match.group(1).rstrip()
        if "://" not in template:  # a link in a comment, not a Helm template
            found.append((line, template))
    return found


def _source_for(sources: list[tuple[int, str]], after: int, before: int) -> str | None:
    """The last Source comment strictly between two lines, if any."""
    index = bisect.bisect_left(sources, (before, "")) - 1
    if index >= 0 and sources[index][0] > after:
        return sources[index][1]
    return None


class _Frame:
    """A collection being composed: its node, its JSON path and its expanded weight."""

    __slots__ = ("anchor", "count", "is_sequence", "key", "node", "path", "weight")

    def __init__(
        self, node: Node, path: str | None, anchor: str | None, *, is_sequence: bool
    ) -> None:
        self.node = node
        self.path = path
        self.is_sequence = is_sequence
        self.anchor = anchor
        self.weight = 1
        self.count = 0
        self.key: Node | None = None


class _Composer:
    """Builds node graphs from parser events without recursion, counting as it goes."""

    def __init__(
        self, text: str, name: str, limits: YamlLimits, sources: list[tuple[int, str]]
    ) -> None:
        self.text = text
        self.name = name
        self.limits = limits
        self.sources = sources
        # Any: the stubs type every event and mark as optional, which inside a
        # document libyaml never returns. Created in documents(), where errors are mapped.
        self.loader: Any = None
        self.total_weight = 0
        self.field_lines_kept = 0

    def documents(self) -> list[YamlDocument]:
        try:
            self.loader = _Loader(self.text)
            return self._documents()
        except YamlLoadError:
            raise
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            problem = exc.problem or exc.context or "unknown problem"
            what = (
                "cannot load YAML"
                if isinstance(exc, yaml.constructor.ConstructorError)
                else "malformed YAML"
            )
            raise YamlLoadError(f"{what}: {problem}", file=self.name, line=line) from exc
        except yaml.reader.ReaderError as exc:
            line = self.text.count("\n", 0, max(exc.position, 0)) + 1
            raise YamlLoadError(
                f"character {exc.character!r} is not allowed in YAML", file=self.name, line=line
            ) from exc
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            # ValueError: an implicit timestamp that is no date (2024-02-30), text with
            # lone surrogates; the others: values the safe constructor cannot build.
            raise YamlLoadError(f"cannot load YAML: {exc}", file=self.name) from exc
        finally:
            if self.loader is not None:
                self.loader.dispose()

    def _documents(self) -> list[YamlDocument]:
        loader = self.loader
        loader.get_event()  # StreamStartEvent
        documents: list[YamlDocument] = []
        index = 0
        previous_end = 0
        while not loader.check_event(yaml.StreamEndEvent):
            if index >= self.limits.max_documents:
                raise YamlLoadError(
                    f"more than {self.limits.max_documents} documents", file=self.name
                )
            loader.get_event()  # DocumentStartEvent
            field_lines: dict[str, int] = {}
            root = self._compose_node(field_lines)
            end = loader.get_event()  # DocumentEndEvent
            try:
                data = loader.construct_document(root)
            except (ValueError, TypeError, OverflowError) as exc:
                raise YamlLoadError(
                    f"cannot load YAML: {exc}", file=self.name, line=root.start_mark.line + 1
                ) from exc
            start = root.start_mark.line + 1
            if data is not None:
                documents.append(
                    YamlDocument(
                        index=index,
                        line=start,
                        data=data,
                        field_lines=field_lines,
                        helm_source=_source_for(self.sources, previous_end, start),
                    )
                )
            # A Source comment heading an empty document (a template that rendered to
            # nothing) lies before this end, so the next document does not inherit it.
            previous_end = end.end_mark.line + 1 if end.end_mark is not None else start
            index += 1
        return documents

    def _compose_node(self, field_lines: dict[str, int]) -> Node:
        """Compose one document's root node; lines go to ``field_lines`` by JSON path.

        This loop runs once per YAML event, so it is written flat: the path of each
        node is built as a string from its parent's, never re-formatted.
        """
        get_event = self.loader.get_event
        anchors: dict[str, tuple[Node, int | None]] = {}
        stack: list[_Frame] = []
        max_nodes = self.limits.max_nodes
        node: Node
        while True:
            event = get_event()
            kind = type(event)
            if kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                frame = stack.pop()
                frame.node.end_mark = event.end_mark
                if frame.anchor is not None:
                    anchors[frame.anchor] = (frame.node, frame.weight)
                node, weight = frame.node, frame.weight
            else:
                parent = stack[-1] if stack else None
                path: str | None
                mark = event.start_mark
                if parent is None:
                    path = ""
                elif parent.path is None:
                    path = None
                elif parent.is_sequence:
                    path = f"{parent.path}[{parent.count}]"
                elif parent.key is not None and type(parent.key) is ScalarNode:
                    path = _join_key(parent.path, parent.key.value)
                    mark = parent.key.start_mark  # a field is where its key is written
                else:
                    path = None  # a mapping key, or a value under a complex key
                if path and self.field_lines_kept < self.limits.max_field_lines:
                    field_lines[path] = mark.line + 1
                    self.field_lines_kept += 1
                if kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                    stack.append(self._open(event, path, anchors, depth=len(stack)))
                    continue
                node, weight = self._leaf(event, anchors)
            if not stack:
                self._count(weight, node)
                return node
            parent = stack[-1]
            parent.weight += weight
            if parent.weight > max_nodes:
                self._too_many(node)
            if parent.is_sequence:
                parent.node.value.append(node)
                parent.count += 1
            elif parent.key is None:
                parent.key = node
            else:
                parent.node.value.append((parent.key, node))
                parent.key = None

    def _open(
        self,
        event: Any,
        path: str | None,
        anchors: dict[str, tuple[Node, int | None]],
        depth: int,
    ) -> _Frame:
        if depth >= self.limits.max_depth:
            raise YamlLoadError(
                f"collections nested more than {self.limits.max_depth} deep",
                file=self.name,
                line=event.start_mark.line + 1,
            )
        is_sequence = type(event) is yaml.SequenceStartEvent
        kind: type[SequenceNode | MappingNode] = SequenceNode if is_sequence else MappingNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            anchors[event.anchor] = (node, None)  # open: an alias to it now is recursive
        return _Frame(node, path, event.anchor, is_sequence=is_sequence)

    def _leaf(self, event: Any, anchors: dict[str, tuple[Node, int | None]]) -> tuple[Node, int]:
        if type(event) is yaml.ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.loader.resolve(ScalarNode, event.value, event.implicit)
            marks: tuple[Any, Any] = (event.start_mark, event.end_mark)  # libyaml's Mark class
            node = ScalarNode(tag, event.value, marks[0], marks[1], style=event.style)
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1)
            return node, 1
        line = event.start_mark.line + 1
        if type(event) is yaml.AliasEvent:
            anchor = event.anchor
            if anchor not in anchors:
                raise YamlLoadError(f"alias *{anchor} names no anchor", file=self.name, line=line)
            target, weight = anchors[anchor]
            if weight is None:
                raise YamlLoadError(
                    f"alias *{anchor} refers to a collection that contains it",
                    "recursive YAML structures are not supported",
                    file=self.name,
                    line=line,
                )
            return target, weight
        # libyaml emits only the events handled above inside a document.
        raise YamlLoadError(
            f"unexpected YAML event {type(event).__name__}", file=self.name, line=line
        )

    def _count(self, weight: int, node: Node) -> None:
        self.total_weight += weight
        if self.total_weight > self.limits.max_nodes:
            self._too_many(node)

    def _too_many(self, node: Node) -> None:
        raise YamlLoadError(
            f"more than {self.limits.max_nodes} nodes once aliases are expanded",
            "a document that multiplies aliases (a 'billion laughs' bomb) is refused",
            file=self.name,
            line=node.start_mark.line + 1,
        )


def _load_json(text: str, name: str) -> list[YamlDocument]:
    """Read JSON that libyaml refused; it has no field lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise YamlLoadError(f"malformed JSON: {exc.msg}", file=name, line=exc.lineno) from exc
    except RecursionError as exc:
        raise YamlLoadError("JSON nested too deeply", file=name) from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python allows
        raise YamlLoadError(f"cannot load JSON: {exc}", file=name) from exc
    if data is None:
        return []
    line = text.count("\n", 0, len(text) - len(text.lstrip())) + 1
    return [YamlDocument(index=0, line=line, data=data)]
