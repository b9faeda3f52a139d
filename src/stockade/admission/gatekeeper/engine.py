"""Gatekeeper's admission target, offline: ConstraintTemplates and Constraints, unchanged.

:class:`GatekeeperEngine` holds templates (each compiled once, see
:class:`~stockade.admission.gatekeeper.rego.RegoProgram`), constraints and an optional
inventory (Gatekeeper's synced cluster objects, ``data.inventory``). :meth:`review`
takes the ``request`` of an ``admission.k8s.io/v1`` AdmissionReview, picks the
constraints whose ``spec.match`` selects the object, and evaluates each one's template
with the input Gatekeeper builds::

    input.review      the request (object, oldObject, kind, operation, userInfo, …)
    input.parameters  the constraint's spec.parameters

Messages are exactly those the Rego produces. As Gatekeeper's webhook does, a DELETE
(whose request carries no ``object``) is reviewed with ``oldObject`` as the object.

Thread safety: ``add_*`` and ``set_inventory`` must not run while other threads review.
``review`` may be called from several threads; evaluations of one template are
serialised (rego-cpp interpreters keep the input between calls). The webhook builds one
engine per worker process with :meth:`GatekeeperEngine.from_paths`, which shares nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.admission.gatekeeper.errors import (
    InvalidReviewError,
    PolicyEvaluationError,
    PolicyLoadError,
)
from stockade.admission.gatekeeper.loader import load_file, policy_files
from stockade.admission.gatekeeper.match import matches
from stockade.admission.gatekeeper.model import (
    Constraint,
    ConstraintTemplate,
    is_constraint,
    is_template,
    parse_constraint,
    parse_template,
)
from stockade.admission.gatekeeper.rego import (
    FusedProgram,
    RegoCompileFailure,
    RegoProgram,
    RegoRuntimeFailure,
    constraint_modules,
)

__all__ = ["GatekeeperEngine", "GatekeeperViolation", "build_inventory", "request_for_object"]


@dataclass(frozen=True, slots=True)
class GatekeeperViolation:
    """One element of a constraint's ``violation`` set for a reviewed object."""

    constraint_kind: str
    constraint_name: str
    message: str
    enforcement_action: str  # "deny" | "warn" | "dryrun"
    details: Mapping[str, Any] | None = None


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _metadata(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = (obj or {}).get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def request_for_object(obj: Mapping[str, Any], *, operation: str = "CREATE") -> dict[str, Any]:
    """The admission request Gatekeeper's test tool (gator) reviews for an object read
    from a file: its group/version/kind, name and namespace, the object, ``CREATE``."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        raise InvalidReviewError("the object has no apiVersion and kind")
    group, version = _split_api_version(api_version)
    metadata = _metadata(obj)
    request: dict[str, Any] = {
        "uid": "",
        "kind": {"group": group, "version": version, "kind": kind},
        "name": metadata.get("name", ""),
        "operation": operation,
        "object": obj,
    }
    if metadata.get("namespace"):
        request["namespace"] = metadata["namespace"]
    return request


def build_inventory(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Gatekeeper's ``data.inventory``: ``cluster[apiVersion][kind][name]`` for
    cluster-scoped objects, ``namespace[ns][apiVersion][kind][name]`` for the others."""
    cluster: dict[str, Any] = {}
    namespaced: dict[str, Any] = {}
    for obj in objects:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        metadata = _metadata(obj)
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not (isinstance(api_version, str) and isinstance(kind, str) and name):
            raise InvalidReviewError("an inventory object lacks apiVersion, kind or name")
        root = namespaced.setdefault(namespace, {}) if namespace else cluster
        root.setdefault(api_version, {}).setdefault(kind, {})[name] = obj
    return {"cluster": cluster, "namespace": namespaced}


def _uses_inventory(template: ConstraintTemplate) -> bool:
    return any("inventory" in source for source in (template.rego, *template.libs))


class GatekeeperEngine:
    """Templates, constraints and inventory; reviews admission requests against them."""

    def __init__(self, *, share_input: bool = True) -> None:
        """``share_input=False`` evaluates every constraint with its template's own
        program (the slower reference path; results are the same)."""
        self._share_input = share_input
        self._templates: dict[str, ConstraintTemplate] = {}
        self._programs: dict[str, RegoProgram] = {}
        self._constraints: list[Constraint] = []
        self._parameters_json: dict[str, str] = {}
        self._inventory: dict[str, Any] = {}
        # Constraints whose templates can share one input (see FusedProgram), built on
        # the first review after a change; None until then or when it cannot be built.
        self._fused: FusedProgram | None = None
        self._fused_entry: dict[str, str] = {}
        self._fused_stale = True

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> GatekeeperEngine:
        """An engine with every ConstraintTemplate and Constraint in the files named and
        under the directories named (``*.yaml``, ``*.yml``, ``*.json``; several documents
        a file). Templates are added before constraints, whatever the order of files;
        other documents are ignored."""
        templates: list[tuple[Mapping[str, Any], str]] = []
        constraints: list[tuple[Mapping[str, Any], str]] = []
        for file in policy_files(paths):
            for document in load_file(file):
                if is_template(document):
                    templates.append((document, str(file)))
                elif is_constraint(document):
                    constraints.append((document, str(file)))
        engine = cls()
        for document, source in templates:
            engine.add_template(document, source=source)
        for document, source in constraints:
            engine.add_constraint(document, source=source)
        return engine

    @property
    def templates(self) -> Sequence[ConstraintTemplate]:
        return tuple(self._templates.values())

    @property
    def constraints(self) -> Sequence[Constraint]:
        return tuple(self._constraints)

    def add_template(self, template: Mapping[str, Any], *, source: str = "<template>") -> None:
        """Parse and compile a ConstraintTemplate; one of the same kind is replaced."""
        parsed = parse_template(template, source=source)
        self._programs[parsed.kind] = self._compile(parsed)
        self._templates[parsed.kind] = parsed
        self._fused_stale = True

    def add_constraint(
        self, constraint: Mapping[str, Any], *, source: str = "<constraint>"
    ) -> None:
        """Add a constraint of a template's kind; one of the same kind and name is replaced."""
        parsed = parse_constraint(constraint, source=source)
        if parsed.kind not in self._templates:
            raise PolicyLoadError(
                f"no ConstraintTemplate defines the kind {parsed.kind!r}",
                source=source,
                hint="load the template together with its constraints",
            )
        self._constraints = [c for c in self._constraints if c.ref != parsed.ref]
        self._constraints.append(parsed)
        self._parameters_json[parsed.ref] = json.dumps(parsed.parameters)
        self._fused_stale = True

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace ``data.inventory`` (the cluster objects templates may look up).

        The inventory is compiled into each template that mentions it, so this costs a
        recompile of those templates: call it when the inventory changes, not per review.
        """
        inventory = build_inventory(objects)
        if inventory == self._inventory:
            return
        programs = dict(self._programs)
        previous, self._inventory = self._inventory, inventory
        try:
            for kind, template in self._templates.items():
                if _uses_inventory(template):
                    programs[kind] = self._compile(template)
        except PolicyLoadError:
            self._inventory = previous
            raise
        self._programs = programs
        self._fused_stale = True

    def _fuse(self) -> None:
        """Build the shared-input program for every constraint whose template allows it.

        A template that uses ``input`` other than through ``input.review`` and
        ``input.parameters``, or names its own package absolutely, keeps its own program;
        so do all when the fused program does not compile (two templates' libraries in
        one package, say). Results are the same either way; only the cost differs.
        """
        self._fused, self._fused_entry, self._fused_stale = None, {}, False
        if not self._share_input:
            return
        units: list[tuple[str, list[tuple[str, str]]]] = []
        params: dict[str, Any] = {}
        entry_of: dict[str, str] = {}
        for number, constraint in enumerate(self._constraints):
            template = self._templates[constraint.kind]
            entry = f"c{number}"
            sources = [(f"{template.kind}.rego", template.rego)]
            sources += [
                (f"{template.kind}.lib{i}.rego", lib) for i, lib in enumerate(template.libs)
            ]
            modules = constraint_modules(sources, entry)
            if modules is None:
                continue
            units.append((entry, modules))
            params[entry] = constraint.parameters
            entry_of[constraint.ref] = entry
        if not units:
            return
        data: dict[str, Any] = {"stockade": {"params": params}}
        if self._inventory:
            data["inventory"] = self._inventory
        try:
            self._fused = FusedProgram(units, data)
        except RegoCompileFailure:
            return  # every constraint keeps its own program
        self._fused_entry = entry_of

    def _compile(self, template: ConstraintTemplate) -> RegoProgram:
        modules = [(f"{template.kind}.rego", template.rego)]
        modules += [(f"{template.kind}.lib{i}.rego", lib) for i, lib in enumerate(template.libs)]
        data = {"inventory": self._inventory} if _uses_inventory(template) else None
        try:
            return RegoProgram(modules, template.package, data=data)
        except RegoCompileFailure as exc:
            raise PolicyLoadError(
                f"the Rego of {template.kind} does not compile:\n{exc}",
                source=template.source,
            ) from exc

    def _namespace_object(self, namespace: str) -> Mapping[str, Any] | None:
        found = self._inventory.get("cluster", {}).get("v1", {}).get("Namespace", {})
        obj = found.get(namespace)
        return obj if isinstance(obj, Mapping) else None

    def review(
        self, request: Mapping[str, Any], *, namespace: Mapping[str, Any] | None = None
    ) -> list[GatekeeperViolation]:
        """Violations of every matching constraint, in the order constraints were added.

        ``request`` is an AdmissionReview's ``request``; ``namespace`` the Namespace
        object of the request's namespace when the caller has it (for
        ``namespaceSelector``), else it is looked up in the inventory.
        """
        review = dict(request)
        kind_info = review.get("kind")
        if not isinstance(kind_info, Mapping) or not isinstance(kind_info.get("kind"), str):
            raise InvalidReviewError("the request has no kind.kind")
        if review.get("operation") == "DELETE" and not review.get("object"):
            review["object"] = review.get("oldObject")
        obj = review.get("object")
        if obj is not None and not isinstance(obj, Mapping):
            raise InvalidReviewError("the request's object is not a mapping")
        group = kind_info.get("group") or ""
        kind = kind_info["kind"]
        metadata = _metadata(obj)
        name = review.get("name") or metadata.get("name") or ""
        ns_name = review.get("namespace") or metadata.get("namespace") or ""
        namespace_object = namespace
        if namespace_object is None and ns_name:
            namespace_object = self._namespace_object(ns_name)
        if namespace_object is not None and "_unstable" not in review:
            review["_unstable"] = {"namespace": namespace_object}
        selected = [
            c
            for c in self._constraints
            if matches(
                c.match,
                group=group,
                kind=kind,
                name=name,
                namespace=ns_name,
                obj=obj,
                namespace_object=namespace_object,
            )
        ]
        if not selected:
            return []
        try:
            review_json = json.dumps(review)
        except (TypeError, ValueError) as exc:
            raise InvalidReviewError(f"the request is not JSON data: {exc}") from exc
        if self._fused_stale:
            self._fuse()
        fused: dict[str, list[GatekeeperViolation]] = {}
        shared = [c for c in selected if c.ref in self._fused_entry]
        if shared and self._fused is not None:
            by_entry = {self._fused_entry[c.ref]: c for c in shared}
            try:
                for entry, results in self._fused.evaluate(
                    f'{{"review":{review_json}}}', list(by_entry)
                ):
                    constraint = by_entry[entry]
                    fused[constraint.ref] = self._violations(constraint, results)
            except RegoRuntimeFailure as exc:
                failed = by_entry.get(str(getattr(exc, "entry", "")), shared[0])
                raise PolicyEvaluationError(str(exc), constraint=failed.ref) from exc
        violations: list[GatekeeperViolation] = []
        for constraint in selected:
            if constraint.ref in fused:
                violations.extend(fused[constraint.ref])
            else:
                violations.extend(self._evaluate(constraint, review_json))
        return violations

    def _evaluate(self, constraint: Constraint, review_json: str) -> list[GatekeeperViolation]:
        program = self._programs[constraint.kind]
        input_json = (
            f'{{"review":{review_json},"parameters":{self._parameters_json[constraint.ref]}}}'
        )
        try:
            results = program.evaluate(input_json)
        except RegoRuntimeFailure as exc:
            raise PolicyEvaluationError(str(exc), constraint=constraint.ref) from exc
        return self._violations(constraint, results)

    def _violations(
        self, constraint: Constraint, results: Sequence[Any]
    ) -> list[GatekeeperViolation]:
        violations = []
        for result in results:
            message = result.get("msg") if isinstance(result, Mapping) else None
            if not isinstance(message, str):
                raise PolicyEvaluationError(
                    f"a violation has no string msg: {json.dumps(result)[:200]}",
                    constraint=constraint.ref,
                )
            details = result.get("details")
            violations.append(
                GatekeeperViolation(
                    constraint_kind=constraint.kind,
                    constraint_name=constraint.name,
                    message=message,
                    enforcement_action=constraint.enforcement_action,
                    details=details if isinstance(details, Mapping) else None,
                )
            )
        violations.sort(key=lambda v: v.message)
        return violations
