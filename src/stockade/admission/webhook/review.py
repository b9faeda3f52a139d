"""AdmissionReview in and out: parsing, validating and answering, with no I/O.

:func:`parse_review` takes the raw body the API server sent and returns an
:class:`AdmissionRequest` or raises :class:`~.errors.InvalidReview`, and nothing else:
the body is bounded in size by the caller and in nesting depth here, so hostile input
costs at most one linear pass. :func:`review_response` builds the answer document.

The shape is ``admission.k8s.io/v1`` as
https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
describes it; ``v1beta1`` is refused (the manifest asks for ``v1`` only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stockade.admission.webhook.errors import InvalidReview

__all__ = [
    "API_VERSION",
    "MAX_AUDIT_ANNOTATION_VALUE",
    "MAX_DEPTH",
    "MAX_WARNINGS",
    "MAX_WARNING_LENGTH",
    "OPERATIONS",
    "AdmissionRequest",
    "GroupVersionKind",
    "parse_review",
    "read_uid",
    "review_response",
]

API_VERSION: Final = "admission.k8s.io/v1"
OPERATIONS: Final = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
MAX_DEPTH: Final = 64
"""Deepest nesting accepted. Kubernetes objects stay under ~20 levels; a pod with every
field set is about 15. Anything deeper is refused before a check walks it."""
MAX_WARNINGS: Final = 20
MAX_WARNING_LENGTH: Final = 256
"""The API server may truncate longer warnings; we cut them ourselves, visibly."""
MAX_AUDIT_ANNOTATION_VALUE: Final = 1024


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    def __str__(self) -> str:
        prefix = f"{self.group}/" if self.group else ""
        return f"{prefix}{self.version}/{self.kind}"


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of ``request`` the webhook reads; ``raw`` keeps all of it for Gatekeeper."""

    uid: str
    kind: GroupVersionKind
    operation: str
    namespace: str
    """Empty for cluster-scoped objects."""
    name: str
    """Empty on CREATE when the object has only ``generateName``."""
    resource: str = ""
    sub_resource: str = ""
    username: str = ""
    dry_run: bool = False
    object: Mapping[str, Any] | None = field(default=None, repr=False)
    old_object: Mapping[str, Any] | None = field(default=None, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """``Kind namespace/name`` for messages and logs (the name may be empty)."""
        name = self.name or _generated_name(self.object)
        where = f"{self.namespace}/{name}" if self.namespace else name
        return f"{self.kind.kind} {where}".rstrip()


def _generated_name(obj: Mapping[str, Any] | None) -> str:
    metadata = obj.get("metadata") if obj is not None else None
    generate = metadata.get("generateName") if isinstance(metadata, Mapping) else None
    return f"{generate}*" if isinstance(generate, str) else ""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load(body: bytes | str) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidReview(
            "the body is nested too deeply", f"objects deeper than {MAX_DEPTH} are refused"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        # JSONDecodeError is a ValueError; the message names the position, never the text.
        raise InvalidReview(f"the body is not JSON: {exc}") from None


def _check_depth(value: Any, limit: int, uid: str | None) -> None:
    """Raise InvalidReview when ``value`` nests deeper than ``limit`` (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            raise InvalidReview(
                f"the body is nested more than {limit} levels deep",
                "no Kubernetes object nests that deep; this looks like hostile input",
                uid=uid,
            )
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values() if _is_container(child))
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current if _is_container(child))


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def read_uid(document: Any) -> str | None:
    """``request.uid`` when it is there and a non-empty string, else None."""
    if not isinstance(document, Mapping):
        return None
    request = document.get("request")
    uid = request.get("uid") if isinstance(request, Mapping) else None
    return uid if isinstance(uid, str) and uid and len(uid) <= 128 else None


def parse_review(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> AdmissionRequest:
    """The request of an ``admission.k8s.io/v1`` AdmissionReview; InvalidReview otherwise."""
    document = _load(body)
    uid = read_uid(document)  # reads two levels: safe before the depth is known
    _check_depth(document, max_depth, uid)
    if not isinstance(document, dict):
        raise InvalidReview("the body is not a JSON object")

    def invalid(message: str) -> InvalidReview:
        return InvalidReview(
            message,
            "send an admission.k8s.io/v1 AdmissionReview (admissionReviewVersions: [v1])",
            uid=uid,
        )

    if document.get("kind") != "AdmissionReview":
        raise invalid(f"kind is {_shown(document.get('kind'))}, not AdmissionReview")
    if document.get("apiVersion") != API_VERSION:
        raise invalid(f"apiVersion is {_shown(document.get('apiVersion'))}, not {API_VERSION}")
    request = document.get("request")
    if not isinstance(request, dict):
        raise invalid("request is missing or not an object")
    if uid is None:
        raise invalid("request.uid is missing, empty, too long or not a string")
    operation = request.get("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise invalid(f"request.operation is {_shown(operation)}, not one of {sorted(OPERATIONS)}")
    kind = request.get("kind")
    if not isinstance(kind, dict) or not all(
        isinstance(kind.get(key), str) for key in ("group", "version", "kind")
    ):
        raise invalid("request.kind must be an object with string group, version and kind")
    if not kind["kind"]:
        raise invalid("request.kind.kind is empty")
    obj = _optional_object(request, "object", invalid)
    old = _optional_object(request, "oldObject", invalid)
    if obj is None and operation in ("CREATE", "UPDATE"):
        raise invalid(f"request.object is required for {operation}")
    namespace = _optional_string(request, "namespace", invalid)
    name = _optional_string(request, "name", invalid)
    dry_run = request.get("dryRun", False)
    if dry_run is None:
        dry_run = False
    if not isinstance(dry_run, bool):
        raise invalid("request.dryRun is not a boolean")
    user = request.get("userInfo")
    username = user.get("username") if isinstance(user, Mapping) else None
    resource = request.get("resource")
    resource_name = resource.get("resource") if isinstance(resource, Mapping) else None
    return AdmissionRequest(
        uid=uid,
        kind=GroupVersionKind(kind["group"], kind["version"], kind["kind"]),
        operation=operation,
        namespace=namespace,
        name=name,
        resource=resource_name if isinstance(resource_name, str) else "",
        sub_resource=_optional_string(request, "subResource", invalid),
        username=username if isinstance(username, str) else "",
        dry_run=dry_run,
        object=obj,
        old_object=old,
        raw=request,
    )


def _optional_object(request: Mapping[str, Any], key: str, invalid: Any) -> dict[str, Any] | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"request.{key} is not an object")
    return value


def _optional_string(request: Mapping[str, Any], key: str, invalid: Any) -> str:
    value = request.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"request.{key} is not a string")
    return value


def _shown(value: Any) -> str:
    """A field's value for an error message: short, and never a whole object."""
    if value is None:
        return "missing"
    if isinstance(value, str):
        return repr(value[:60])
    return f"a JSON {type(value).__name__}"


def review_response(
    uid: str,
    *,
    allowed: bool,
    code: int | None = None,
    message: str = "",
    reason: str = "",
    warnings: Sequence[str] = (),
    audit_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AdmissionReview document answering request ``uid``.

    Warnings are cut to :data:`MAX_WARNING_LENGTH` characters and :data:`MAX_WARNINGS`
    entries (the last one says how many were left out), annotation values to
    :data:`MAX_AUDIT_ANNOTATION_VALUE`.
    """
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if code is not None or message:
        status: dict[str, Any] = {}
        if code is not None:
            status["code"] = code
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        response["status"] = status
    if warnings:
        response["warnings"] = _bounded_warnings(warnings)
    if audit_annotations:
        response["auditAnnotations"] = {
            key: _cut(value, MAX_AUDIT_ANNOTATION_VALUE) for key, value in audit_annotations.items()
        }
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _bounded_warnings(warnings: Sequence[str]) -> list[str]:
    cut = [_cut(w, MAX_WARNING_LENGTH) for w in warnings]
    if len(cut) <= MAX_WARNINGS:
        return cut
    kept = cut[: MAX_WARNINGS - 1]
    kept.append(f"stockade: {len(cut) - len(kept)} more warning(s) not shown")
    return kept


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
