"""API protection: requests checked against an OpenAPI 3.0 or 3.1 description.

:class:`OpenApiSpec` loads a description (YAML or JSON) once: paths become matchers
(concrete paths before templated ones), parameters and request bodies get a compiled
JSON Schema validator (``jsonschema``; Draft 4 rules for 3.0 with ``nullable`` and
read-only properties translated, Draft 2020-12 for 3.1). :class:`ApiProtection` then
reports, for each request under the API's base path (the servers' path, or the one the
policy gives; everything when that is ``/``): an unknown path or method, a missing
required parameter, a path/query/header/cookie parameter of the wrong type or out of its
range, enum, pattern or length, and a JSON or URL-encoded body that does not match its
schema.

Not checked: security requirements (authentication is the application's job), response
bodies, ``deepObject`` and other object-valued parameters, multipart bodies (only their
media type), external ``$ref`` s (refused at load time).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urlparse

import referencing
import referencing.jsonschema
import yaml
from jsonschema import (  # type: ignore[import-untyped]
    Draft4Validator,
    Draft202012Validator,
    FormatChecker,
)
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from stockade.waf.decision import Detection
from stockade.waf.errors import WafError
from stockade.waf.protections.interface import detection, redact, snippet
from stockade.waf.protections.view import RequestView, percent_decode

__all__ = ["ApiProtection", "OpenApiError", "OpenApiSpec", "Operation", "Parameter"]

SPEC_URI: Final = "urn:stockade:openapi"
METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
IGNORED_HEADERS: Final = frozenset({"accept", "content-type", "authorization"})
"""Header parameters OpenAPI says to ignore (they are described elsewhere)."""
MAX_REF_DEPTH: Final = 64
MAX_ISSUES: Final = 20
"""Detections reported per request at most (a request with 10,000 bad parameters)."""
_INTEGER: Final = re.compile(r"[-+]?[0-9]{1,400}\Z").match
_NUMBER: Final = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z").match
# ASCII digits, nothing around them: what int() and float() accept exactly (str.strip()
# would take away characters such as U+001F that int() refuses)


class OpenApiError(WafError):
    """An OpenAPI description cannot be loaded: says where and why."""


def _format_checker() -> Any:
    checker = FormatChecker()

    @checker.checks("int32")  # type: ignore[untyped-decorator]
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")  # type: ignore[untyped-decorator]
    def _int64(value: object) -> bool:
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    return checker


_FORMATS: Final[Any] = _format_checker()


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    """``path``, ``query``, ``header`` or ``cookie``."""
    required: bool
    types: tuple[str, ...]
    """JSON types the schema allows at the top (empty: any)."""
    item_types: tuple[str, ...]
    style: str
    explode: bool
    validator: Any = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BodyContent:
    media: str
    validator: Any = field(repr=False, compare=False)
    """``None`` when the schema is absent (anything goes)."""
    properties: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    """For URL-encoded bodies: property name to (types, item types), for coercion."""


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_required: bool
    body: tuple[BodyContent, ...]
    has_body: bool
    """Whether the operation describes a request body at all."""


@dataclass(slots=True)
class _PathEntry:
    template: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    templated: int
    literal: int
    operations: dict[str, Operation]


def _escape(segment: str) -> str:
    return quote(segment.replace("~", "~0").replace("/", "~1"), safe="~")


def _pointer(parts: Iterable[str]) -> str:
    return "".join("/" + _escape(part) for part in parts)


class _Document:
    """The description with internal ``$ref`` s followed on demand."""

    def __init__(self, document: dict[str, Any], source: str) -> None:
        self.root = document
        self.source = source

    def lookup(self, pointer: str) -> Any:
        node: Any = self.root
        for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise OpenApiError(f"{self.source}: $ref #{pointer} points nowhere")
        return node

    def resolve(self, node: Any, pointer: list[str]) -> tuple[Any, list[str]]:
        """``node`` with ``$ref`` s followed; the pointer where it really lives."""
        for _ in range(MAX_REF_DEPTH):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node, pointer
            ref = node["$ref"]
            if not ref.startswith("#"):
                raise OpenApiError(
                    f"{self.source}: external $ref {ref!r} is not supported",
                    hint="bundle the description into one file (for example with `redocly bundle`)",
                )
            target = unquote(ref[1:])
            node = self.lookup(target)
            pointer = [
                p.replace("~1", "/").replace("~0", "~") for p in target.lstrip("/").split("/")
            ]
        raise OpenApiError(f"{self.source}: $ref chain deeper than {MAX_REF_DEPTH}")


def _schema_types(schema: Any, document: _Document) -> tuple[str, ...]:
    """The JSON types a schema admits at its top (following ``$ref``, one level of
    ``anyOf``/``oneOf``/``allOf``)."""
    try:
        schema, _ = document.resolve(schema, [])
    except OpenApiError:
        return ()
    if not isinstance(schema, dict):
        return ()
    declared = schema.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(t for t in declared if isinstance(t, str))
    types: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []) or []:
            try:
                resolved, _ = document.resolve(branch, [])
            except OpenApiError:
                continue
            if isinstance(resolved, dict):
                value = resolved.get("type")
                if isinstance(value, str):
                    types.append(value)
                elif isinstance(value, list):
                    types.extend(t for t in value if isinstance(t, str))
    return tuple(dict.fromkeys(types))


def _item_types(schema: Any, document: _Document) -> tuple[str, ...]:
    try:
        schema, _ = document.resolve(schema, [])
    except OpenApiError:
        return ()
    if not isinstance(schema, dict):
        return ()
    if isinstance(schema.get("items"), dict):
        return _schema_types(schema["items"], document)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []) or []:
            try:
                resolved, _ = document.resolve(branch, [])
            except OpenApiError:
                continue
            if isinstance(resolved, dict) and isinstance(resolved.get("items"), dict):
                return _schema_types(resolved["items"], document)
    return ()


def _translate_30(document: dict[str, Any]) -> None:
    """OpenAPI 3.0 schema dialect to Draft 4: ``nullable`` becomes a ``null`` type, and
    read-only properties stop being required (clients do not send them)."""
    doc = _Document(document, "")
    stack: list[Any] = [document]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if node.get("nullable") is True:
            declared = node.get("type")
            if isinstance(declared, str):
                node["type"] = [declared, "null"]
                if isinstance(node.get("enum"), list) and None not in node["enum"]:
                    node["enum"] = [*node["enum"], None]
                del node["nullable"]
            elif declared is None:
                inner = {k: v for k, v in node.items() if k != "nullable"}
                node.clear()
                node["anyOf"] = [inner, {"type": "null"}]
                stack.append(inner)
        required = node.get("required")
        properties = node.get("properties")
        if isinstance(required, list) and isinstance(properties, dict):
            kept = []
            for name in required:
                prop = properties.get(name) if isinstance(name, str) else None
                try:
                    resolved, _ = doc.resolve(prop, [])
                except OpenApiError:
                    resolved = prop
                if not (isinstance(resolved, dict) and resolved.get("readOnly") is True):
                    kept.append(name)
            node["required"] = kept


class OpenApiSpec:
    """A loaded OpenAPI description: operations with compiled validators."""

    def __init__(self, document: Mapping[str, Any], *, source: str = "<openapi>") -> None:
        if not isinstance(document, Mapping):
            raise OpenApiError(f"{source}: an OpenAPI description is a mapping")
        version = str(document.get("openapi", ""))
        if not version:
            hint = "convert Swagger 2.0 with swagger2openapi" if "swagger" in document else None
            raise OpenApiError(f"{source}: no `openapi` version field", hint=hint)
        if not (version.startswith("3.0") or version.startswith("3.1")):
            raise OpenApiError(f"{source}: OpenAPI {version} is not supported (3.0, 3.1 are)")
        paths = document.get("paths")
        if not isinstance(paths, Mapping):
            raise OpenApiError(f"{source}: `paths` must be a mapping")
        # Our own copy: 3.0 schemas are translated in place, the caller's stays as given.
        copied = json.loads(json.dumps(document, default=str))
        self.version = version
        self.source = source
        self.title = str((document.get("info") or {}).get("title", ""))
        if version.startswith("3.0"):
            _translate_30(copied)
            self._validator_class: Any = Draft4Validator
            specification = referencing.jsonschema.DRAFT4
        else:
            self._validator_class = Draft202012Validator
            specification = referencing.jsonschema.DRAFT202012
        self._document = _Document(copied, source)
        self._registry: Any = referencing.Registry().with_resource(
            SPEC_URI, specification.create_resource(copied)
        )
        self.base_paths = _server_paths(copied.get("servers"))
        self._entries: list[_PathEntry] = []
        self._by_first: dict[str, list[_PathEntry]] = {}
        self._templated_first: list[_PathEntry] = []
        for template, item in copied["paths"].items():
            if not isinstance(template, str) or not template.startswith("/"):
                raise OpenApiError(f"{source}: path {template!r} must start with /")
            self._add_path(template, item)
        key = lambda e: (e.templated, -e.literal)  # noqa: E731
        for bucket in self._by_first.values():
            bucket.sort(key=key)
        self._templated_first.sort(key=key)

    # --- loading ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> OpenApiSpec:
        """Read a description from a ``.yaml``/``.yml``/``.json`` file."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise OpenApiError(f"cannot read OpenAPI description {file}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise OpenApiError(f"{file}: not UTF-8 text") from exc
        return cls.from_text(text, source=str(file))

    @classmethod
    def from_text(cls, text: str, *, source: str = "<openapi>") -> OpenApiSpec:
        try:
            document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise OpenApiError(f"{source}: not valid YAML or JSON: {exc}") from exc
        return cls(document, source=source)

    def _validator(self, pointer: list[str]) -> Any:
        schema = {"$ref": f"{SPEC_URI}#{_pointer(pointer)}"}
        return self._validator_class(schema, registry=self._registry, format_checker=_FORMATS)

    def _add_path(self, template: str, item: Any) -> None:
        item_pointer = ["paths", template]
        item, item_pointer = self._document.resolve(item, item_pointer)
        if not isinstance(item, dict):
            raise OpenApiError(f"{self.source}: path item {template} must be a mapping")
        regex, names = _template_regex(template)
        segments = template.strip("/").split("/")
        entry = _PathEntry(
            template=template,
            regex=regex,
            names=names,
            templated=sum(1 for s in segments if "{" in s),
            literal=len(re.sub(r"\{[^}]*\}", "", template)),
            operations={},
        )
        shared = self._parameters(item.get("parameters"), [*item_pointer, "parameters"])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if not isinstance(operation, dict):
                raise OpenApiError(f"{self.source}: {method} {template} must be a mapping")
            pointer = [*item_pointer, method]
            own = self._parameters(operation.get("parameters"), [*pointer, "parameters"])
            merged = {
                (p.location, p.name.lower() if p.location == "header" else p.name): p
                for p in shared
            }
            merged.update(
                {(p.location, p.name.lower() if p.location == "header" else p.name): p for p in own}
            )
            required, body, has_body = self._body(operation.get("requestBody"), pointer)
            entry.operations[method.upper()] = Operation(
                method=method.upper(),
                path=template,
                operation_id=str(operation.get("operationId", "")),
                parameters=tuple(merged.values()),
                body_required=required,
                body=body,
                has_body=has_body,
            )
        self._entries.append(entry)
        first = segments[0] if segments else ""
        if "{" in first:
            self._templated_first.append(entry)
        else:
            self._by_first.setdefault(first, []).append(entry)

    def _parameters(self, raw: Any, pointer: list[str]) -> list[Parameter]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise OpenApiError(f"{self.source}: parameters at #{_pointer(pointer)} is not a list")
        out: list[Parameter] = []
        for index, node in enumerate(raw):
            param, param_pointer = self._document.resolve(node, [*pointer, str(index)])
            if not isinstance(param, dict) or "name" not in param or "in" not in param:
                raise OpenApiError(
                    f"{self.source}: parameter #{_pointer(param_pointer)} needs name and in"
                )
            location = str(param["in"])
            name = str(param["name"])
            if location not in {"path", "query", "header", "cookie"}:
                raise OpenApiError(f"{self.source}: parameter {name}: unknown `in` {location!r}")
            if location == "header" and name.lower() in IGNORED_HEADERS:
                continue
            schema = param.get("schema")
            if schema is None and isinstance(param.get("content"), dict):
                # content-described parameters (JSON in a query string): not validated.
                schema = None
            style = str(
                param.get("style") or ("form" if location in {"query", "cookie"} else "simple")
            )
            explode = param.get("explode")
            out.append(
                Parameter(
                    name=name,
                    location=location,
                    required=bool(param.get("required")) or location == "path",
                    types=_schema_types(schema, self._document) if schema is not None else (),
                    item_types=_item_types(schema, self._document) if schema is not None else (),
                    style=style,
                    explode=bool(explode) if explode is not None else style == "form",
                    validator=(
                        self._validator([*param_pointer, "schema"]) if schema is not None else None
                    ),
                )
            )
        return out

    def _body(self, raw: Any, pointer: list[str]) -> tuple[bool, tuple[BodyContent, ...], bool]:
        if raw is None:
            return False, (), False
        body, body_pointer = self._document.resolve(raw, [*pointer, "requestBody"])
        if not isinstance(body, dict):
            raise OpenApiError(f"{self.source}: requestBody at #{_pointer(body_pointer)}")
        contents: list[BodyContent] = []
        for media, content in (body.get("content") or {}).items():
            has_schema = isinstance(content, dict) and "schema" in content
            content_pointer = [*body_pointer, "content", str(media), "schema"]
            properties: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
            if has_schema:
                try:
                    schema, _ = self._document.resolve(content["schema"], content_pointer)
                except OpenApiError:
                    schema = {}
                for name, prop in (
                    (schema.get("properties") or {}).items() if isinstance(schema, dict) else []
                ):
                    properties[str(name)] = (
                        _schema_types(prop, self._document),
                        _item_types(prop, self._document),
                    )
            contents.append(
                BodyContent(
                    media=str(media).lower(),
                    validator=self._validator(content_pointer) if has_schema else None,
                    properties=properties,
                )
            )
        return bool(body.get("required")), tuple(contents), True

    # --- matching -----------------------------------------------------------------------

    @property
    def operations(self) -> Iterator[Operation]:
        for entry in self._entries:
            yield from entry.operations.values()

    def find(self, path: str) -> tuple[_PathEntry, dict[str, str]] | None:
        """The path item matching ``path`` (percent-encoded, base path removed)."""
        segments = path.strip("/").split("/", 1)
        candidates = self._by_first.get(segments[0], [])
        for entry in (*candidates, *self._templated_first):
            match = entry.regex.match(path)
            if match:
                values = {name: match.group(f"p{index}") for index, name in enumerate(entry.names)}
                return entry, values
        return None


def _server_paths(servers: Any) -> tuple[str, ...]:
    paths: list[str] = []
    for server in servers if isinstance(servers, list) else []:
        if not isinstance(server, dict):
            continue
        url = str(server.get("url", ""))
        for name, variable in (server.get("variables") or {}).items():
            if isinstance(variable, dict):
                url = url.replace("{" + str(name) + "}", str(variable.get("default", "")))
        path = urlparse(url).path if "://" in url else url
        paths.append("/" + path.strip("/") if path.strip("/") else "")
    unique = sorted(set(paths), key=len, reverse=True)
    return tuple(unique) if unique and unique != [""] else ()


def _template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    pattern = ""
    for part in re.split(r"(\{[^{}/]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            pattern += f"(?P<p{len(names)}>[^/]+)"
            names.append(part[1:-1])
        else:
            pattern += re.escape(part)
    return re.compile(pattern + r"/?\Z"), tuple(names)


def _text(value: str) -> str:
    """A Latin-1 held value as the Unicode text the client meant (UTF-8)."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


def _scalar(raw: str, types: tuple[str, ...]) -> list[object]:
    """Candidate JSON values for a parameter's text, in the order its types allow."""
    candidates: list[object] = []
    for kind in types or ("string",):
        if kind == "integer" and _INTEGER(raw):
            candidates.append(int(raw))
        elif kind == "number" and _NUMBER(raw):
            number = float(raw)
            if math.isfinite(number):
                candidates.append(int(number) if _INTEGER(raw) else number)
        elif kind == "boolean" and raw in {"true", "false"}:
            candidates.append(raw == "true")
        elif kind == "null" and raw in {"", "null"}:
            candidates.append(None)
        elif kind == "string":
            candidates.append(raw)
    if not candidates:
        candidates.append(raw)
    return candidates


def _first_error(validator: Any, candidates: list[object]) -> Any:
    errors = None
    for candidate in candidates:
        if validator.is_valid(candidate):
            return None
        if errors is None:
            errors = best_match(validator.iter_errors(candidate))
    return errors


def _describe(error: Any) -> str:
    keyword = str(error.validator)
    value = error.validator_value
    if keyword == "type":
        return f"expected {value if isinstance(value, str) else ' or '.join(map(str, value))}"
    if keyword in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"outside the range ({keyword} {value})"
    if keyword == "enum":
        shown = ", ".join(json.dumps(v) for v in list(value)[:8])
        return f"not one of the allowed values ({shown}{', …' if len(value) > 8 else ''})"
    if keyword == "pattern":
        return f"does not match the pattern {value}"
    if keyword in {"minLength", "maxLength", "minItems", "maxItems"}:
        return f"wrong length ({keyword} {value})"
    if keyword == "format":
        return f"not a valid {value}"
    if keyword in {"required", "additionalProperties", "const", "multipleOf", "uniqueItems"}:
        return str(error.message)[:200]
    return f"does not match the schema ({keyword})"


class ApiProtection:
    """Refuses requests an OpenAPI description does not allow."""

    name = "openapi"

    def __init__(
        self,
        spec: OpenApiSpec,
        *,
        base_path: str | None = None,
        reject_unknown_parameters: bool = False,
        allow_cors_preflight: bool = True,
    ) -> None:
        self.spec = spec
        if base_path is not None:
            self.base_paths: tuple[str, ...] = (
                ("/" + base_path.strip("/"),) if base_path.strip("/") else ()
            )
        else:
            self.base_paths = spec.base_paths
        self.reject_unknown_parameters = reject_unknown_parameters
        self.allow_cors_preflight = allow_cors_preflight

    def inspect(self, view: RequestView) -> list[Detection]:
        path = view.raw_path or "/"
        if self.base_paths:
            for base in self.base_paths:
                if path == base or path.startswith(base + "/"):
                    path = path[len(base) :] or "/"
                    break
            else:
                # Outside the API's base path: not an API request, nothing to check.
                return []
        found = self.spec.find(path)
        if found is None:
            return [self._unknown_path(view)]
        entry, path_values = found
        method = view.method.upper()
        operation = entry.operations.get(method)
        if operation is None and method == "HEAD":
            operation = entry.operations.get("GET")
        if operation is None and method == "OPTIONS" and self.allow_cors_preflight:
            wanted = view.header("access-control-request-method").upper()
            if view.header("origin") and wanted in entry.operations:
                return []
        if operation is None:
            return [
                detection(
                    self.name,
                    "openapi.unknown-method",
                    f"method {method[:20]} is not described for {entry.template}",
                    location="REQUEST_METHOD",
                    matched=snippet(view.method),
                    severity="error",
                )
            ]
        issues: list[Detection] = []
        self._parameters(view, operation, path_values, issues)
        if len(issues) < MAX_ISSUES:
            self._body(view, operation, issues)
        return issues[:MAX_ISSUES]

    def _unknown_path(self, view: RequestView) -> Detection:
        return detection(
            self.name,
            "openapi.unknown-path",
            "path is not described by the API",
            location="REQUEST_FILENAME",
            matched=snippet(view.raw_path),
            severity="error",
        )

    def _parameters(
        self,
        view: RequestView,
        operation: Operation,
        path_values: dict[str, str],
        issues: list[Detection],
    ) -> None:
        query: dict[str, list[str]] = {}
        for name, value in view.query_args:
            query.setdefault(name, []).append(value)
        cookies: dict[str, list[str]] = {}
        for name, value in view.cookies:
            cookies.setdefault(name, []).append(value)
        for parameter in operation.parameters:
            if len(issues) >= MAX_ISSUES:
                return
            raw_values, location = self._raw(parameter, view, query, cookies, path_values)
            if not raw_values:
                if parameter.required:
                    issues.append(
                        detection(
                            self.name,
                            "openapi.missing-parameter",
                            f"required {parameter.location} parameter {parameter.name} is missing",
                            location=location,
                            severity="error",
                        )
                    )
                continue
            if parameter.validator is None:
                continue
            candidates = self._candidates(parameter, raw_values)
            error = _first_error(parameter.validator, candidates)
            if error is not None:
                shown = ", ".join(raw_values)
                issues.append(
                    detection(
                        self.name,
                        "openapi.invalid-parameter",
                        f"{parameter.location} parameter {parameter.name}: {_describe(error)}",
                        location=location,
                        matched=redact(parameter.name, snippet(shown)),
                        severity="error",
                    )
                )
        if self.reject_unknown_parameters:
            known = {p.name for p in operation.parameters if p.location == "query"}
            for name in query:
                if name not in known and len(issues) < MAX_ISSUES:
                    issues.append(
                        detection(
                            self.name,
                            "openapi.unknown-parameter",
                            f"query parameter {name[:60]} is not described",
                            location="ARGS_NAMES:" + name,
                            matched=snippet(name),
                            severity="error",
                        )
                    )

    @staticmethod
    def _raw(
        parameter: Parameter,
        view: RequestView,
        query: dict[str, list[str]],
        cookies: dict[str, list[str]],
        path_values: dict[str, str],
    ) -> tuple[list[str], str]:
        name = parameter.name
        if parameter.location == "path":
            raw = path_values.get(name)
            return ([_text(percent_decode(raw))] if raw is not None else []), "REQUEST_FILENAME"
        if parameter.location == "query":
            return [_text(v) for v in query.get(name, [])], "ARGS:" + name
        if parameter.location == "header":
            return [_text(v) for v in view.headers.get(name.lower(), [])], (
                "REQUEST_HEADERS:" + name
            )
        return [_text(v) for v in cookies.get(name, [])], "REQUEST_COOKIES:" + name

    @staticmethod
    def _candidates(parameter: Parameter, raw_values: list[str]) -> list[object]:
        if "array" in parameter.types:
            if parameter.location in {"query", "cookie"} and parameter.explode:
                items = raw_values
            else:
                separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(parameter.style, ",")
                items = raw_values[0].split(separator)
            return [[_scalar(item, parameter.item_types)[0] for item in items]]
        return _scalar(raw_values[-1], parameter.types)

    def _body(self, view: RequestView, operation: Operation, issues: list[Detection]) -> None:
        body = view.request.body
        if not body:
            if operation.body_required:
                issues.append(
                    detection(
                        self.name,
                        "openapi.missing-body",
                        "request body is required",
                        location="REQUEST_BODY",
                        severity="error",
                    )
                )
            return
        if not operation.has_body:
            issues.append(
                detection(
                    self.name,
                    "openapi.unexpected-body",
                    "operation takes no request body",
                    location="REQUEST_BODY",
                    severity="error",
                )
            )
            return
        content = _content_for(view.media_type, operation.body)
        if content is None:
            issues.append(
                detection(
                    self.name,
                    "openapi.content-type",
                    f"body media type {view.media_type[:60] or '(none)'} is not described",
                    location="REQUEST_HEADERS:Content-Type",
                    matched=snippet(view.header("content-type")),
                    severity="error",
                )
            )
            return
        if content.validator is None or view.body_truncated:
            return
        media = view.media_type
        document: object
        prefix = "ARGS:json"
        if media == "application/json" or (media.startswith("application/") and "+json" in media):
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                issues.append(
                    detection(
                        self.name,
                        "openapi.invalid-json",
                        "request body is not valid JSON",
                        location="REQUEST_BODY",
                        severity="error",
                    )
                )
                return
        elif media == "application/x-www-form-urlencoded":
            document = _form_document(view.body_args, content)
            prefix = "ARGS:"
        else:
            return
        error = _first_error(content.validator, [document])
        if error is not None:
            path = "".join(f".{part}" for part in error.absolute_path)
            issues.append(
                detection(
                    self.name,
                    "openapi.invalid-body",
                    f"request body{' field ' + path[1:] if path else ''}: {_describe(error)}",
                    location=(prefix + path).replace("ARGS:.", "ARGS:") if path else "REQUEST_BODY",
                    matched=redact(path, snippet(_shown(error.instance))),
                    severity="error",
                )
            )


def _shown(instance: object) -> str:
    if isinstance(instance, (dict, list)):
        return f"({type(instance).__name__})"
    return str(instance)


def _content_for(media: str, contents: tuple[BodyContent, ...]) -> BodyContent | None:
    exact = [c for c in contents if c.media == media]
    if exact:
        return exact[0]
    major = media.split("/", 1)[0] + "/*"
    for content in contents:
        if content.media in {major, "*/*"}:
            return content
    return None


def _form_document(args: list[tuple[str, str]], content: BodyContent) -> dict[str, object]:
    values: dict[str, list[str]] = {}
    for name, value in args:
        values.setdefault(_text(name), []).append(_text(value))
    document: dict[str, object] = {}
    for name, raw in values.items():
        types, item_types = content.properties.get(name, ((), ()))
        if "array" in types:
            document[name] = [_scalar(item, item_types)[0] for item in raw]
        else:
            document[name] = _scalar(raw[-1], types)[0]
    return document
