"""ConstraintTemplates and Constraints as Gatekeeper defines them, validated where they enter.

Parsing takes a document already read (a mapping) and a ``source`` naming where it came
from; anything that Gatekeeper would refuse, or that we would silently misread, raises
:class:`PolicyLoadError` naming the source and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.admission.gatekeeper.errors import PolicyLoadError
from stockade.admission.gatekeeper.rego import package_of

__all__ = [
    "ENFORCEMENT_ACTIONS",
    "TARGET",
    "Constraint",
    "ConstraintTemplate",
    "KindMatcher",
    "LabelRequirement",
    "LabelSelector",
    "Match",
    "is_constraint",
    "is_template",
    "parse_constraint",
    "parse_template",
]

TARGET: Final = "admission.k8s.gatekeeper.sh"
TEMPLATE_GROUP: Final = "templates.gatekeeper.sh"
CONSTRAINT_GROUP: Final = "constraints.gatekeeper.sh"
ENFORCEMENT_ACTIONS: Final = ("deny", "warn", "dryrun")
_SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")
_SCOPES: Final = ("*", "Cluster", "Namespaced")


@dataclass(frozen=True, slots=True)
class ConstraintTemplate:
    """A template: the constraint kind it defines and its Rego (main module, then libs)."""

    name: str
    kind: str
    package: str
    rego: str
    libs: tuple[str, ...] = ()
    source: str = "<template>"


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One ``matchExpressions`` entry: ``key`` ``operator`` ``values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector; empty selects everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class KindMatcher:
    """One ``match.kinds`` entry; ``*`` in either list matches anything."""

    api_groups: tuple[str, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Match:
    """``spec.match`` of a constraint; every criterion given must hold."""

    kinds: tuple[KindMatcher, ...] = ()
    namespaces: tuple[str, ...] | None = None
    excluded_namespaces: tuple[str, ...] = ()
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    scope: str = "*"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Constraint:
    """An instance of a template's kind: where it applies, its parameters, its action."""

    kind: str
    name: str
    match: Match = field(default_factory=Match)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    enforcement_action: str = "deny"
    source: str = "<constraint>"

    @property
    def ref(self) -> str:
        """``Kind/name``, as errors and reports name the constraint."""
        return f"{self.kind}/{self.name}"


def _group_of(document: Mapping[str, Any]) -> str:
    api_version = document.get("apiVersion")
    if not isinstance(api_version, str):
        return ""
    return api_version.rpartition("/")[0]


def is_template(document: Mapping[str, Any]) -> bool:
    """Whether a document is a Gatekeeper ConstraintTemplate (any version)."""
    return document.get("kind") == "ConstraintTemplate" and _group_of(document) == TEMPLATE_GROUP


def is_constraint(document: Mapping[str, Any]) -> bool:
    """Whether a document is a constraint (``constraints.gatekeeper.sh/*``)."""
    return _group_of(document) == CONSTRAINT_GROUP


def _get(document: Any, path: Sequence[str], source: str, expected: type) -> Any:
    """The value at ``path``, None when absent; PolicyLoadError when of the wrong type."""
    value = document
    for step in path:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise PolicyLoadError(
                f"{'.'.join(path[: path.index(step)])} must be a mapping", source=source
            )
        value = value.get(step)
    if value is not None and not isinstance(value, expected):
        raise PolicyLoadError(
            f"{'.'.join(path)} must be a {_type_word(expected)}, not {_type_word(type(value))}",
            source=source,
        )
    return value


def _type_word(kind: type) -> str:
    words = {dict: "mapping", Mapping: "mapping", list: "list", str: "string", bool: "boolean"}
    return words.get(kind, kind.__name__)


def _strings(value: Any, where: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyLoadError(f"{where} must be a list of strings", source=source)
    return tuple(value)


def parse_template(document: Mapping[str, Any], *, source: str) -> ConstraintTemplate:
    """A ConstraintTemplate (``templates.gatekeeper.sh/v1``, ``v1beta1``, ``v1alpha1``)."""
    if not is_template(document):
        raise PolicyLoadError("not a ConstraintTemplate", source=source)
    name = _get(document, ("metadata", "name"), source, str)
    kind = _get(document, ("spec", "crd", "spec", "names", "kind"), source, str)
    if not name:
        raise PolicyLoadError("metadata.name is missing", source=source)
    if not kind:
        raise PolicyLoadError("spec.crd.spec.names.kind is missing", source=source)
    if name != kind.lower():
        raise PolicyLoadError(
            f"metadata.name {name!r} must be the lowercase of the kind {kind!r}",
            source=source,
            hint="Gatekeeper refuses such a template; rename one of them",
        )
    targets = _get(document, ("spec", "targets"), source, list)
    if not targets:
        raise PolicyLoadError("spec.targets is missing or empty", source=source)
    ours = [t for t in targets if isinstance(t, Mapping) and t.get("target") == TARGET]
    if len(ours) != 1:
        raise PolicyLoadError(
            f"spec.targets must hold exactly one target {TARGET!r}", source=source
        )
    rego, libs = _target_rego(ours[0], source)
    package = package_of(rego)
    if package is None:
        raise PolicyLoadError("the Rego has no package declaration", source=source)
    return ConstraintTemplate(
        name=name, kind=kind, package=package, rego=rego, libs=libs, source=source
    )


def _target_rego(target: Mapping[str, Any], source: str) -> tuple[str, tuple[str, ...]]:
    """The Rego of a target: ``rego``/``libs`` or, in newer templates, the ``code`` entry
    whose engine is ``Rego`` (a ``K8sNativeValidation`` (CEL) entry beside it is not run)."""
    rego = target.get("rego")
    libs: Any = target.get("libs")
    if rego is None:
        code = target.get("code")
        entries = [c for c in code or () if isinstance(c, Mapping) and c.get("engine") == "Rego"]
        if not entries:
            raise PolicyLoadError(
                "the target has no Rego (neither rego nor a code entry with engine Rego)",
                source=source,
                hint="templates with only K8sNativeValidation (CEL) code are not supported",
            )
        code_source = entries[0].get("source")
        if not isinstance(code_source, Mapping):
            raise PolicyLoadError("code[engine=Rego].source must be a mapping", source=source)
        rego = code_source.get("rego")
        libs = code_source.get("libs")
    if not isinstance(rego, str) or not rego.strip():
        raise PolicyLoadError("the target's rego must be a non-empty string", source=source)
    return rego, _strings(libs, "libs", source)


def parse_constraint(document: Mapping[str, Any], *, source: str) -> Constraint:
    """A constraint: ``kind`` (a template's kind), name, ``spec.match``, parameters, action."""
    kind = document.get("kind")
    if not isinstance(kind, str) or not kind:
        raise PolicyLoadError("kind is missing", source=source)
    name = _get(document, ("metadata", "name"), source, str)
    if not name:
        raise PolicyLoadError("metadata.name is missing", source=source)
    spec = _get(document, ("spec",), source, Mapping) or {}
    parameters = _get(spec, ("parameters",), source, Mapping) or {}
    action = _get(spec, ("enforcementAction",), source, str) or "deny"
    if action not in ENFORCEMENT_ACTIONS:
        raise PolicyLoadError(
            f"spec.enforcementAction {action!r} is not one of {', '.join(ENFORCEMENT_ACTIONS)}",
            source=source,
        )
    match = _parse_match(_get(spec, ("match",), source, Mapping) or {}, source)
    return Constraint(
        kind=kind,
        name=name,
        match=match,
        parameters=dict(parameters),
        enforcement_action=action,
        source=source,
    )


def _parse_match(match: Mapping[str, Any], source: str) -> Match:
    kinds: list[KindMatcher] = []
    for index, entry in enumerate(_get(match, ("kinds",), source, list) or ()):
        if not isinstance(entry, Mapping):
            raise PolicyLoadError(f"spec.match.kinds[{index}] must be a mapping", source=source)
        kinds.append(
            KindMatcher(
                api_groups=_strings(
                    entry.get("apiGroups"), f"spec.match.kinds[{index}].apiGroups", source
                ),
                kinds=_strings(entry.get("kinds"), f"spec.match.kinds[{index}].kinds", source),
            )
        )
    namespaces = match.get("namespaces")
    scope = _get(match, ("scope",), source, str) or "*"
    if scope not in _SCOPES:
        raise PolicyLoadError(
            f"spec.match.scope {scope!r} is not one of {', '.join(_SCOPES)}", source=source
        )
    return Match(
        kinds=tuple(kinds),
        namespaces=None
        if namespaces is None
        else _strings(namespaces, "spec.match.namespaces", source),
        excluded_namespaces=_strings(
            match.get("excludedNamespaces"), "spec.match.excludedNamespaces", source
        ),
        label_selector=_parse_selector(match.get("labelSelector"), "labelSelector", source),
        namespace_selector=_parse_selector(
            match.get("namespaceSelector"), "namespaceSelector", source
        ),
        scope=scope,
        name=_get(match, ("name",), source, str),
    )


def _parse_selector(selector: Any, where: str, source: str) -> LabelSelector | None:
    if selector is None:
        return None
    where = f"spec.match.{where}"
    if not isinstance(selector, Mapping):
        raise PolicyLoadError(f"{where} must be a mapping", source=source)
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise PolicyLoadError(f"{where}.matchLabels must map strings to strings", source=source)
    requirements = []
    for index, expression in enumerate(selector.get("matchExpressions") or ()):
        at = f"{where}.matchExpressions[{index}]"
        if not isinstance(expression, Mapping):
            raise PolicyLoadError(f"{at} must be a mapping", source=source)
        key, operator = expression.get("key"), expression.get("operator")
        if not isinstance(key, str) or not key:
            raise PolicyLoadError(f"{at}.key is missing", source=source)
        if operator not in _SELECTOR_OPERATORS:
            raise PolicyLoadError(
                f"{at}.operator {operator!r} is not one of {', '.join(_SELECTOR_OPERATORS)}",
                source=source,
            )
        values = _strings(expression.get("values"), f"{at}.values", source)
        if operator in ("In", "NotIn") and not values:
            raise PolicyLoadError(f"{at}: {operator} needs values", source=source)
        if operator in ("Exists", "DoesNotExist") and values:
            raise PolicyLoadError(f"{at}: {operator} takes no values", source=source)
        requirements.append(LabelRequirement(key=key, operator=operator, values=values))
    return LabelSelector(match_labels=dict(labels), match_expressions=tuple(requirements))
