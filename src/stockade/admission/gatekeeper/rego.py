"""Rego for Gatekeeper templates on rego-cpp (``regopy``): v0 modules, compiled once.

Gatekeeper's templates are written in Rego v0, where ``violation[{"msg": msg}] { … }``
adds an element to the *set* ``violation``. rego-cpp reads the same text with Rego v1's
meaning: a partial *object* whose keys map to ``true``. Its set semantics are right when
the head says ``contains``, so :func:`upgrade_v0_heads` rewrites each v0 multi-value head
``name[term]`` (followed by a body, ``if`` or nothing) to ``name contains term`` before
the module is added; nothing else in the text changes, so line numbers in compile errors
still point at the template's own lines. Modules that declare ``import rego.v1`` are left
alone (there ``p[x] if …`` really is an object).

:class:`RegoProgram` compiles a template's modules once into a rego-cpp bundle with the
``violation`` rule as its entry point; each evaluation only sets the input and runs the
compiled plan (about six times faster than a fresh query, which recompiles).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

# Load order matters: librego_shared.so links its own libstdc++ statically and exports
# its STB_GNU_UNIQUE symbols, which the dynamic linker then binds process-wide. Loaded
# before google-re2 (used by the secret scanner), it makes re2.compile corrupt the heap
# ("munmap_chunk(): invalid pointer"). re2 loaded first brings the system libstdc++, and
# both then work. Keep this import above regopy's.
import re2  # type: ignore[import-untyped]  # noqa: F401  # isort: skip

# regopy ships no type information; its surface here is small and wrapped below.
from regopy import Interpreter, LogLevel, RegoError  # type: ignore[import-untyped]
from regopy.rego_shared import (  # type: ignore[import-untyped]
    NodeKind,
    rego_bundle_node,
    rego_bundle_query,
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_node_get,
    rego_node_size,
    rego_node_type,
    rego_node_value,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
)

__all__ = [
    "FusedProgram",
    "RegoCompileFailure",
    "RegoProgram",
    "RegoRuntimeFailure",
    "bind_parameters",
    "constraint_modules",
    "end_statements_before_parenthesised_lines",
    "hoist_call_iterations",
    "package_of",
    "upgrade_v0_heads",
]

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PACKAGE: Final = re.compile(r"^[ \t]*package[ \t]+([A-Za-z_][A-Za-z0-9_.]*)", re.MULTILINE)
_REGO_V1_IMPORT: Final = re.compile(r"^[ \t]*import[ \t]+rego\.v1\b", re.MULTILINE)
_NOT_RULE_NAMES: Final = frozenset(
    {"package", "import", "default", "else", "not", "some", "every", "with", "as"}
)
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}
_OBJECT_GET_PARAMETERS: Final = re.compile(r'(\s*,\s*\[?\s*)"parameters"')
_OBJECT_GET_BEFORE: Final = re.compile(r"object\.get\(\s*$")
_INPUT_MEMBER: Final = re.compile(r"\.(parameters|review)(?![A-Za-z0-9_])")


class RegoCompileFailure(Exception):
    """rego-cpp refused the modules; the message is rego-cpp's, with line and column."""


class RegoRuntimeFailure(Exception):
    """Evaluation failed (a conflict between rule values, a strict builtin error).

    ``entry`` names the fused program's entry that failed, when one did."""

    entry: str | None = None


def package_of(source: str) -> str | None:
    """The package a module declares (``k8srequiredlabels``), or None without one."""
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PACKAGE.match(line)
        return match.group(1) if match else None
    return None


def _skip_string(source: str, start: int) -> int:
    """Index just past the string literal opening at ``start`` (``"…"`` or raw `` `…` ``)."""
    quote = source[start]
    i = start + 1
    while i < len(source):
        char = source[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if char == quote or (quote == '"' and char == "\n"):
            return i + 1
        i += 1
    return i


def _closing_bracket(source: str, start: int) -> int | None:
    """Index of the bracket closing the one at ``start``, skipping strings and comments."""
    stack = [_OPENERS[source[start]]]
    i = start + 1
    while i < len(source):
        char = source[i]
        if char in '"`':
            i = _skip_string(source, i)
            continue
        if char == "#":
            newline = source.find("\n", i)
            i = len(source) if newline < 0 else newline
            continue
        if char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in ")]}":
            if char != stack.pop():
                return None
            if not stack:
                return i
        i += 1
    return None


def _is_set_head_end(source: str, after: int) -> bool:
    """Whether the text after ``name[term]`` makes it a v0 multi-value (set) head."""
    rest = source[after:]
    line_end = rest.find("\n")
    same_line = (rest if line_end < 0 else rest[:line_end]).strip()
    if not same_line or same_line.startswith(("{", "#")):
        return True
    return re.match(r"if\b", same_line) is not None


def upgrade_v0_heads(source: str) -> str:
    """``name[term] {`` → ``name contains term {`` for each v0 multi-value rule head.

    Only heads at the top level of the module (outside every bracket, string and
    comment) are touched; ``name[key] = value`` and ``name[key] := value`` (partial
    objects) and function heads keep their meaning. A module that imports ``rego.v1``
    is returned unchanged.
    """
    if _REGO_V1_IMPORT.search(source):
        return source
    out: list[str] = []
    i = 0
    at_line_start = True
    while i < len(source):
        char = source[i]
        if char == "\n":
            at_line_start = True
            out.append(char)
            i += 1
            continue
        if char in " \t\r":
            out.append(char)
            i += 1
            continue
        if char == "#":
            newline = source.find("\n", i)
            end = len(source) if newline < 0 else newline
            out.append(source[i:end])
            i = end
            continue
        if at_line_start:
            at_line_start = False
            ident = _IDENT.match(source, i)
            if ident and ident.group(0) not in _NOT_RULE_NAMES and ident.end() < len(source):
                open_at = ident.end()
                if source[open_at] == "[":
                    close_at = _closing_bracket(source, open_at)
                    if close_at is not None and _is_set_head_end(source, close_at + 1):
                        term = source[open_at + 1 : close_at]
                        out.append(f"{ident.group(0)} contains {term}")
                        i = close_at + 1
                        continue
        # Not a head: copy through the end of this statement's brackets, so that
        # lines inside a body (depth > 0) are never taken for heads.
        if char in _OPENERS:
            close_at = _closing_bracket(source, i)
            end = len(source) if close_at is None else close_at + 1
            out.append(source[i:end])
            i = end
            continue
        if char in '"`':
            end = _skip_string(source, i)
            out.append(source[i:end])
            i = end
            continue
        out.append(char)
        i += 1
    return "".join(out)


_REF_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _ref_start(line: str, end: int) -> int:
    """Start of the reference ending at ``end`` (``a.b["c"].d``), walking backwards."""
    i = end
    while i > 0:
        char = line[i - 1]
        if char in _REF_CHARS:
            i -= 1
        elif char == "]":
            depth = 0
            j = i - 1
            while j >= 0:
                if line[j] == "]":
                    depth += 1
                elif line[j] == "[":
                    depth -= 1
                    if depth == 0:
                        break
                j -= 1
            if j < 0:
                return i
            i = j
        else:
            break
    return i


def _hoist_point(line: str, ref_start: int) -> int | None:
    """Where to bind an iteration found at ``ref_start`` in a call argument, or None.

    The line must hold whole statements (its brackets balance). The binding goes at the
    start of the innermost comprehension body (just after ``|``) holding the call, or
    else at the start of the statement. Negated statements are left alone: moving the
    iteration out of a ``not`` would change what it means.
    """
    stack: list[tuple[str, int]] = []
    bar_after: dict[int, int] = {}
    i = 0
    while i < ref_start:
        char = line[i]
        if char in '"`':
            i = _skip_string(line, i)
            continue
        if char in _OPENERS:
            stack.append((char, i))
        elif char in ")]}" and stack:
            bar_after.pop(len(stack), None)
            stack.pop()
        elif char == "|" and stack and stack[-1][0] in "[{":
            bar_after[len(stack)] = i + 1
        i += 1
    if not any(opener == "(" for opener, _ in stack):
        return None
    comprehension_levels = [level for level in bar_after if level <= len(stack)]
    if comprehension_levels:
        point = bar_after[max(comprehension_levels)]
    else:
        point = len(line) - len(line.lstrip())
    statement = line[point:ref_start].lstrip()
    if re.match(r"not\b", statement) or ("#" in line and line.index("#") < ref_start):
        return None
    return point


def hoist_call_iterations(source: str) -> str:
    """``f(x.y[_])`` → ``__stockade_iterN := x.y[_]; f(__stockade_iterN)``, same line.

    rego-cpp refuses an iteration (``[_]``) inside a call's arguments ("Invalid bracket
    argument"); OPA iterates it as if it were bound just before the statement, which is
    what the rewrite spells out. Lines whose brackets do not balance (a statement over
    several lines) and negated statements are left as written.
    """
    lines = source.split("\n")
    counter = 0
    for number, original in enumerate(lines):
        if "[_]" not in original or _closing_balance(original) != 0:
            continue
        line = original
        search_from = 0
        while (at := line.find("[_]", search_from)) >= 0:
            start = _ref_start(line, at)
            point = _hoist_point(line, start)
            if point is None or start == at:
                search_from = at + 3
                continue
            counter += 1
            var = f"__stockade_iter{counter}"
            binding = f"{var} := {line[start:at]}[_]; "
            line = line[:point] + binding + line[point:start] + var + line[at + 3 :]
            search_from = point + len(binding)
        lines[number] = line
    return "\n".join(lines)


def _closing_balance(line: str) -> int:
    """Openers minus closers on a line, outside strings and comments."""
    balance = 0
    i = 0
    while i < len(line):
        char = line[i]
        if char in '"`':
            i = _skip_string(line, i)
            continue
        if char == "#":
            break
        if char in _OPENERS:
            balance += 1
        elif char in ")]}":
            balance -= 1
        i += 1
    return balance


def end_statements_before_parenthesised_lines(source: str) -> str:
    """Put ``;`` at the end of a body line when the next line starts with ``(``.

    OPA ends an expression at a line break; rego-cpp reads ``a.b`` and ``(x - y) >= z``
    on the next line as a call of ``a.b`` ("Function not found"). Only lines directly
    inside a rule body (``{``), whose previous line ends a term (a name, ``]``, ``)``, a
    string or a number), are touched: a continued expression (ending with an operator or
    a comma) is left alone.
    """
    lines = source.split("\n")
    stack: list[str] = []
    previous: int | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("(") and previous is not None and stack and stack[-1] == "}":
            before = lines[previous].rstrip()
            # A line with a comment is left alone: the ";" would land inside it.
            ends_a_term = before[-1:].isalnum() or before[-1:] in ("_", "]", ")", '"', "`")
            if ends_a_term and "#" not in before:
                lines[previous] = before + ";"
        i = 0
        while i < len(line):
            char = line[i]
            if char in '"`':
                i = _skip_string(line, i)
                continue
            if char == "#":
                break
            if char in _OPENERS:
                stack.append(_OPENERS[char])
            elif char in ")]}" and stack:
                stack.pop()
            i += 1
        if stripped and not stripped.startswith("#"):
            previous = number
    return "\n".join(lines)


def _error_messages(node: int) -> list[str]:
    """The messages (and error codes) in a rego-cpp error node, depth first."""
    messages: list[str] = []
    kind = rego_node_type(node)
    if kind == NodeKind.ErrorMessage:
        messages.append(rego_node_value(node))
    elif kind == NodeKind.ErrorCode:
        code = rego_node_value(node)
        if code:
            messages.append(f"({code})")
    for index in range(rego_node_size(node)):
        messages.extend(_error_messages(rego_node_get(node, index)))
    return messages


def _string_value(escaped: str) -> str:
    """A String node's text is JSON-escaped, except where rego-cpp forgot to escape
    (strings built by some builtins carry raw quotes); those are taken as they are."""
    try:
        value = json.loads(f'"{escaped}"')
    except ValueError:
        return escaped
    return value if isinstance(value, str) else escaped


def _node_value(node: int) -> Any:
    """A rego-cpp value node as Python data (sets become lists), read node by node.

    Used when rego-cpp's JSON text of a result is not valid JSON (see _string_value).
    """
    kind = rego_node_type(node)
    size = rego_node_size(node)
    if kind in (NodeKind.Term, NodeKind.Scalar) and size == 1:
        return _node_value(rego_node_get(node, 0))
    if kind in (NodeKind.Array, NodeKind.Set, NodeKind.Terms):
        return [_node_value(rego_node_get(node, i)) for i in range(size)]
    if kind == NodeKind.Object:
        result: dict[str, Any] = {}
        for i in range(size):
            item = rego_node_get(node, i)
            key = _node_value(rego_node_get(item, 0))
            result[key if isinstance(key, str) else json.dumps(key)] = _node_value(
                rego_node_get(item, 1)
            )
        return result
    if kind == NodeKind.String:
        return _string_value(rego_node_value(node))
    if kind == NodeKind.Int:
        return int(rego_node_value(node))
    if kind == NodeKind.Float:
        return float(rego_node_value(node))
    if kind == NodeKind.Boolean:
        return rego_node_value(node) == "true"
    if kind == NodeKind.Null:
        return None
    if kind in (NodeKind.Error, NodeKind.ErrorSeq):
        raise RegoRuntimeFailure(" ".join(_error_messages(node)) or "evaluation failed")
    raise RegoRuntimeFailure(f"unexpected rego-cpp node kind {kind}")


def _results_from_nodes(node: int) -> list[Any]:
    """The expressions of every result under an output's Results node."""
    if rego_node_type(node) in (NodeKind.Error, NodeKind.ErrorSeq):
        # rego-cpp reports some evaluation errors (a call of an unknown function) as
        # an "ok" output whose text is the error; they must not pass for "no result".
        raise RegoRuntimeFailure(" ".join(_error_messages(node)) or "evaluation failed")
    results: list[Any] = []
    for r in range(rego_node_size(node)):
        result = rego_node_get(node, r)
        if rego_node_type(result) in (NodeKind.Error, NodeKind.ErrorSeq):
            raise RegoRuntimeFailure(" ".join(_error_messages(result)) or "evaluation failed")
        for t in range(rego_node_size(result)):
            terms = rego_node_get(result, t)
            if rego_node_type(terms) == NodeKind.Terms:
                results.append({"expressions": _node_value(terms)})
    return results


def _set_elements(value: Any) -> list[Any]:
    """The elements of a set as rego-cpp renders it: a JSON array, or (for a set that
    was built as a v1 partial object) an object whose keys are the elements' JSON text."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(v is True for v in value.values()):
        elements = []
        for key in value:
            try:
                elements.append(json.loads(key))
            except ValueError:
                elements.append(key)
        return elements
    raise RegoRuntimeFailure(f"violation is not a set but {type(value).__name__}")


class RegoProgram:
    """One template's modules compiled into a plan for ``data.<package>.violation``.

    Thread safety: a rego-cpp interpreter holds the input between setting it and the
    query, so evaluations of one program are serialised with a lock; different programs
    run in parallel. The webhook runs one engine per worker process, so the lock is only
    ever contended by threads within one process.
    """

    def __init__(
        self,
        modules: Sequence[tuple[str, str]],
        package: str,
        *,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.package = package
        self._lock = threading.Lock()
        self._interpreter = Interpreter()
        # Errors come back to us; rego-cpp must not also print them.
        self._interpreter.log_level = LogLevel.NONE
        try:
            for name, source in modules:
                self._interpreter.add_module(name, _rewrite(source))
            if data:
                self._interpreter.add_data_json(json.dumps(data))
            entrypoint = package.replace(".", "/") + "/violation"
            self._bundle = self._interpreter.build(f"data.{package}.violation", [entrypoint])
        except RegoError as exc:
            raise RegoCompileFailure(str(exc).strip()) from exc
        if not self._bundle.ok():
            detail = _error_messages(rego_bundle_node(self._bundle._impl))
            raise RegoCompileFailure("\n".join(detail) or "rego-cpp could not compile the modules")

    def evaluate(self, input_json: str) -> list[Any]:
        """The elements of the ``violation`` set for this input (JSON text)."""
        with self._lock:
            try:
                self._interpreter.set_input_term(input_json)
                # regopy's Output parses the text itself and fails on some error outputs;
                # the C calls underneath give the text and the error nodes as they are.
                output = rego_bundle_query(self._interpreter._impl, self._bundle._impl)
            except RegoError as exc:
                raise RegoRuntimeFailure(str(exc).strip()) from exc
            return _violation_elements(output)


def _violation_elements(output: Any) -> list[Any]:
    """The elements of the ``violation`` set in a rego-cpp output, which is freed."""
    try:
        if not rego_output_ok(output):
            detail = _error_messages(rego_output_node(output))
            raise RegoRuntimeFailure(" ".join(detail) or "evaluation failed")
        text = rego_output_string(output)
        if text == "undefined":
            return []
        try:
            result = json.loads(text)
        except ValueError:
            result = _results_from_nodes(rego_output_node(output))
    finally:
        rego_free_output(output)
    results = result if isinstance(result, list) else [result]
    elements: list[Any] = []
    for one in results:
        expressions = one.get("expressions", []) if isinstance(one, dict) else []
        for value in expressions:
            elements.extend(_set_elements(value))
    return elements


def _rewrite(source: str) -> str:
    return end_statements_before_parenthesised_lines(
        hoist_call_iterations(upgrade_v0_heads(source))
    )


def _identifier_spans(source: str, name: str) -> list[tuple[int, int]]:
    """Where the identifier ``name`` stands in Rego ``source`` as code (not in a string
    or comment, not part of a longer name or a field of something else)."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in '"`':
            i = _skip_string(source, i)
            continue
        if char == "#":
            newline = source.find("\n", i)
            i = len(source) if newline < 0 else newline
            continue
        if char.isalpha() or char == "_":
            end = i
            while end < len(source) and (source[end].isalnum() or source[end] == "_"):
                end += 1
            before = source[i - 1] if i else ""
            if source[i:end] == name and before != ".":
                spans.append((i, end))
            i = end
            continue
        i += 1
    return spans


def bind_parameters(source: str, path: str) -> str | None:
    """``source`` with the parameters read from ``path`` (``data.x.key``) instead of
    ``input.parameters``.

    Rewritten: ``input.parameters…``, and ``object.get(input, "parameters", …)`` /
    ``object.get(input, ["parameters", …], …)`` (the parent of ``path`` with its last
    key). None when the module uses ``input`` in any other way (passing ``input`` whole,
    ``input["parameters"]``): then it cannot share one input with other constraints and
    is evaluated on its own.
    """
    parent, _, key = path.rpartition(".")
    pieces: list[str] = []
    last = 0
    for start, end in _identifier_spans(source, "input"):
        member = _INPUT_MEMBER.match(source, end)
        if member is not None:
            if member.group(1) == "parameters":
                pieces += [source[last:start], path]
                last = member.end()
            continue
        lookup = _OBJECT_GET_PARAMETERS.match(source, end)
        if lookup is None or not _OBJECT_GET_BEFORE.search(source[:start]):
            return None
        pieces += [source[last:start], parent, lookup.group(1), f'"{key}"']
        last = lookup.end()
    pieces.append(source[last:])
    return "".join(pieces)


def constraint_modules(
    modules: Sequence[tuple[str, str]], entry: str
) -> list[tuple[str, str]] | None:
    """A template's modules (main first, then libraries) as one constraint's private copy.

    Every module moves under the package ``stockade.<entry>`` (``package lib.x`` becomes
    ``package stockade.<entry>.lib.x``), every reference to one of the template's own
    packages (``data.lib.x…``, also in imports) follows it, and ``input.parameters``
    becomes ``data.stockade.params.<entry>``. None when a module uses ``input`` any other
    way (see :func:`bind_parameters`) or declares no package.
    """
    packages = [package_of(source) for _, source in modules]
    if any(p is None for p in packages):
        return None
    own = sorted({p for p in packages if p}, key=len, reverse=True)
    reference = re.compile(
        r"\bdata\.(" + "|".join(re.escape(p) for p in own) + r")(?![A-Za-z0-9_])"
    )
    copies: list[tuple[str, str]] = []
    for (name, source), package in zip(modules, packages, strict=True):
        bound = bind_parameters(source, f"data.stockade.params.{entry}")
        if bound is None or package is None:
            return None
        moved = reference.sub(lambda m: f"data.stockade.{entry}.{m.group(1)}", bound)
        declared = _PACKAGE.search(moved)
        if declared is None:
            return None
        start, end = declared.span(1)
        moved = f"{moved[:start]}stockade.{entry}.{package}{moved[end:]}"
        copies.append((f"{entry}.{name}", moved))
    return copies


class FusedProgram:
    """Several constraints' templates in one rego-cpp interpreter, sharing one input.

    rego-cpp parses the input anew for every ``set_input_term``, and with one program
    per template a review paid that once per constraint (most of its cost). Here each
    constraint gets its own copy of its template's module, moved to the package
    ``stockade.c<N>.<package>`` (libraries too) and reading its parameters from
    ``data.stockade.params.c<N>`` instead of ``input.parameters``
    (:func:`constraint_modules`). One bundle holds every copy's ``violation`` as an entry point,
    the review is set as input once, and each selected constraint is one entry-point
    query. Thread safety as :class:`RegoProgram`.
    """

    def __init__(
        self,
        units: Sequence[tuple[str, Sequence[tuple[str, str]]]],
        data: Mapping[str, Any],
    ) -> None:
        """``units``: (entry id, the constraint's modules from :func:`constraint_modules`,
        main module first) per constraint."""
        self._lock = threading.Lock()
        self._interpreter = Interpreter()
        self._interpreter.log_level = LogLevel.NONE
        self._entries: dict[str, str] = {}
        try:
            for entry, modules in units:
                package = package_of(modules[0][1])
                if package is None:
                    raise RegoCompileFailure(f"{entry}: the module declares no package")
                for name, source in modules:
                    self._interpreter.add_module(name, _rewrite(source))
                self._entries[entry] = package.replace(".", "/") + "/violation"
            self._interpreter.add_data_json(json.dumps(data))
            self._bundle = self._interpreter.build(None, list(self._entries.values()))
        except RegoError as exc:
            raise RegoCompileFailure(str(exc).strip()) from exc
        if not self._bundle.ok():
            detail = _error_messages(rego_bundle_node(self._bundle._impl))
            raise RegoCompileFailure("\n".join(detail) or "rego-cpp could not compile")

    @property
    def entries(self) -> Sequence[str]:
        return tuple(self._entries)

    def evaluate(self, input_json: str, entries: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        """Each entry's ``violation`` elements for this input, in order; a failing entry
        raises :class:`RegoRuntimeFailure` when its turn comes (the caller names it)."""
        with self._lock:
            try:
                self._interpreter.set_input_term(input_json)
            except RegoError as exc:
                raise RegoRuntimeFailure(str(exc).strip()) from exc
            for entry in entries:
                try:
                    output = rego_bundle_query_entrypoint(
                        self._interpreter._impl, self._bundle._impl, self._entries[entry]
                    )
                    elements = _violation_elements(output)
                except RegoError as exc:
                    failure = RegoRuntimeFailure(str(exc).strip())
                    failure.entry = entry
                    raise failure from exc
                except RegoRuntimeFailure as failure:
                    failure.entry = entry
                    raise
                yield entry, elements
