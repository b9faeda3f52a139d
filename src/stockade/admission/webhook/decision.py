"""Deciding on one admission request: issues in, allow / deny / warn out. No I/O.

The webhook finds :class:`Issue` objects in three places, each action chosen by the
namespace's :class:`~.config.NamespacePolicy`:

* :func:`builtin_issues`: the Kubernetes checks of :mod:`stockade.compliance.kubernetes`
  run over the request's object, the image policy (trusted registries, digests) and
  vulnerability thresholds from scan results;
* :func:`gatekeeper_issues`: violations of Gatekeeper constraints, each with its own
  enforcement action (``deny``, ``warn``, ``dryrun``);

and :func:`decide` combines them: any ``deny`` issue denies (unless the namespace is in
audit mode, which allows and says what it would have denied), ``warn`` issues become
warnings shown by ``kubectl``, everything is summarised in audit annotations (``violations``
counts the issues of each check or constraint, ``ID=N,…``, for tools that judge answers).
:func:`failure_decision` is the answer when evaluation could not finish, by the
fail-open/fail-closed setting. :func:`early_decision` answers the requests no policy
applies to (DELETE, CONNECT, exempt namespaces).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from stockade.admission.webhook.config import Action, NamespacePolicy, WebhookPolicy
from stockade.admission.webhook.images import (
    VulnerabilityIndex,
    has_digest,
    is_trusted,
    normalise_image,
)
from stockade.admission.webhook.review import AdmissionRequest, review_response
from stockade.compliance.interface import Status
from stockade.compliance.kubernetes.check import KubernetesCheck, NotApplicable, Unverifiable
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import CLUSTER_SCOPED_KINDS, Resource
from stockade.compliance.yamlload import format_path

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "Decision",
    "Issue",
    "Outcome",
    "Violation",
    "builtin_issues",
    "decide",
    "early_decision",
    "failure_decision",
    "gatekeeper_issues",
    "resource_of",
]

MAX_MESSAGE_LENGTH: Final = 4000
"""A denial names every issue up to this length, then says how many more there are."""


class Outcome(enum.StrEnum):
    """What happened to a request, as the metrics and the decision log count it."""

    ALLOWED = "allowed"
    WARNED = "warned"
    """Allowed, with warnings."""
    DENIED = "denied"
    AUDITED = "audited"
    """Would have been denied; allowed because of audit mode."""
    ERROR = "error"
    """Evaluation failed or timed out; answered by the failure policy."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason to deny or warn: a failed check, an image rule, a constraint."""

    source: str
    """``check``, ``image``, ``vulnerability`` or ``gatekeeper``."""
    id: str
    """``STK-K8S-001``, ``image-registry``, ``image-digest``, ``vulnerabilities``,
    ``K8sRequiredLabels/must-have-owner``."""
    action: Action
    message: str
    path: str = ""
    remediation: str = ""

    def describe(self, *, with_fix: bool = True) -> str:
        text = f"[{self.id}] {self.message}"
        if self.path:
            text += f" (at {self.path})"
        if with_fix and self.remediation:
            text += f"; fix: {self.remediation.rstrip('.')}"
        return text


class Violation(Protocol):
    """What a Gatekeeper engine reports (``stockade.admission.gatekeeper``)."""

    @property
    def constraint_kind(self) -> str: ...
    @property
    def constraint_name(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def enforcement_action(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    outcome: Outcome
    message: str = ""
    code: int | None = None
    warnings: tuple[str, ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=dict)
    issues: tuple[Issue, ...] = ()
    reason: str = ""
    """Why, in a few words, for the decision log (``namespace exempt``, ``DELETE``)."""

    def response(self, uid: str) -> dict[str, Any]:
        """The AdmissionReview answering request ``uid`` with this decision."""
        return review_response(
            uid,
            allowed=self.allowed,
            code=self.code,
            message=self.message,
            reason="Forbidden" if self.code == 403 else "",
            warnings=self.warnings,
            audit_annotations=self.audit_annotations,
        )


def resource_of(request: AdmissionRequest) -> Resource | None:
    """The request's object as the checks see it, or None when there is none to check."""
    obj = request.object
    if obj is None:
        return None
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        kind = request.kind.kind
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = request.name or metadata.get("name")
    if not isinstance(name, str) or not name:
        generate = metadata.get("generateName")
        name = f"{generate}*" if isinstance(generate, str) else ""
    # The request's namespace is the one the object lands in, written or not.
    namespace = request.namespace or metadata.get("namespace")
    if kind in CLUSTER_SCOPED_KINDS or not isinstance(namespace, str) or not namespace:
        namespace = None
    api_version = obj.get("apiVersion")
    return Resource(
        kind=kind,
        name=name,
        namespace=namespace,
        body=obj,
        api_version=api_version if isinstance(api_version, str) else "",
        file=f"admission:{request.uid}",
    )


def early_decision(request: AdmissionRequest, policy: WebhookPolicy) -> Decision | None:
    """The answer for requests no policy applies to, or None when they must be evaluated."""
    if request.operation in ("DELETE", "CONNECT"):
        return Decision(True, Outcome.ALLOWED, reason=request.operation)
    if policy.is_exempt(request.namespace):
        return Decision(
            True,
            Outcome.ALLOWED,
            audit_annotations={"decision": "allowed", "exempt": "namespace"},
            reason="namespace exempt",
        )
    return None


def builtin_issues(
    request: AdmissionRequest,
    policy: NamespacePolicy,
    *,
    vulnerabilities: VulnerabilityIndex | None = None,
    checks: Sequence[KubernetesCheck] | None = None,
) -> list[Issue]:
    """Issues from Stockade's own checks, image policy and vulnerability thresholds."""
    from stockade.compliance.kubernetes.check import check_manifests

    resource = resource_of(request)
    if resource is None:
        return []
    issues: list[Issue] = []
    # `deny: {}` and `warn: {}` select no check: then none need run (Gatekeeper only).
    selected = not (policy.deny.empty and policy.warn.empty)
    for result in check_manifests([resource], checks) if selected else ():
        if result.status is not Status.FAILED:
            continue
        action = policy.action_for(result.check)
        if action is Action.IGNORE:
            continue
        issues.append(
            Issue(
                source="check",
                id=result.check.id,
                action=action,
                message=result.message or result.check.title,
                path=result.path,
                remediation=result.check.remediation,
            )
        )
    issues.extend(_image_issues(resource, policy, vulnerabilities))
    return issues


def _images(resource: Resource) -> list[tuple[str, str, str]]:
    """(container name, image, JSON path) of every container that names an image."""
    if not resource.is_workload:
        return []
    try:
        spec = pod_spec(resource, need_containers=False)
    except (NotApplicable, Unverifiable):
        return []  # the checks already failed what they could not read
    return [(c.name, c.image, format_path(c.at("image"))) for c in spec.containers if c.image]


def _image_issues(
    resource: Resource, policy: NamespacePolicy, index: VulnerabilityIndex | None
) -> Iterable[Issue]:
    rules = policy.images
    seen: set[str] = set()
    for name, image, path in _images(resource):
        if rules.trusted_registries and not is_trusted(image, rules.trusted_registries):
            yield Issue(
                "image",
                "image-registry",
                rules.action,
                f"container {name} uses image {image} from an untrusted registry",
                path,
                f"use an image from {', '.join(rules.trusted_registries)}",
            )
        if rules.require_digest and not has_digest(image):
            yield Issue(
                "image",
                "image-digest",
                rules.action,
                f"container {name} names image {image} by tag, not by digest",
                path,
                "pin the image as name@sha256:<digest> (crane digest or skopeo inspect gives it)",
            )
        if image not in seen and policy.vulnerabilities.enabled:
            seen.add(image)
            issue = _vulnerability_issue(name, image, path, policy, index)
            if issue is not None:
                yield issue


def _vulnerability_issue(
    name: str, image: str, path: str, policy: NamespacePolicy, index: VulnerabilityIndex | None
) -> Issue | None:
    thresholds = policy.vulnerabilities
    found = index.lookup(image) if index is not None else None
    if found is None:
        if thresholds.unscanned is Action.IGNORE:
            return None
        return Issue(
            "vulnerability",
            "image-unscanned",
            thresholds.unscanned,
            f"container {name} uses image {normalise_image(image)}, which has no scan result",
            path,
            "scan it with `stockade scan IMAGE -f json` into the scan results folder",
        )
    for action, bar in ((Action.DENY, thresholds.deny), (Action.WARN, thresholds.warn)):
        if bar is None:
            continue
        count = found.at_or_above(bar)
        if count:
            ids = ", ".join(found.worst_ids)
            return Issue(
                "vulnerability",
                "vulnerabilities",
                action,
                f"container {name} image {image} has {count} known vulnerabilit"
                f"{'y' if count == 1 else 'ies'} of severity {bar} or above ({ids})",
                path,
                "rebuild on a patched base image or upgrade the packages, then rescan",
            )
    return None


_GATEKEEPER_ACTIONS: Final = {"deny": Action.DENY, "warn": Action.WARN, "dryrun": Action.IGNORE}


def gatekeeper_issues(violations: Iterable[Violation]) -> list[Issue]:
    """Issues from Gatekeeper violations; ``dryrun`` ones are kept, with action IGNORE,
    so that they are logged and annotated but never warn or deny."""
    issues: list[Issue] = []
    for v in violations:
        action = _GATEKEEPER_ACTIONS.get(str(v.enforcement_action).lower(), Action.DENY)
        issues.append(
            Issue(
                "gatekeeper",
                f"{v.constraint_kind}/{v.constraint_name}",
                action,
                str(v.message),
            )
        )
    return issues


def decide(request: AdmissionRequest, policy: NamespacePolicy, issues: Sequence[Issue]) -> Decision:
    """Allow, deny or warn on ``request`` given every issue found for it."""
    denying = [i for i in issues if i.action is Action.DENY]
    warning = [i for i in issues if i.action is Action.WARN]
    dryrun = [i for i in issues if i.action is Action.IGNORE]
    annotations: dict[str, str] = {}
    if issues:
        annotations["violations"] = _counts(issues)
    if denying:
        annotations["denied-by" if not policy.audit else "would-deny"] = _ids(denying)
    if warning:
        annotations["warned-by"] = _ids(warning)
    if dryrun:
        annotations["dryrun-violations"] = _ids(dryrun)
    warnings = [i.describe(with_fix=False) for i in warning]
    if denying and not policy.audit:
        annotations["decision"] = Outcome.DENIED.value
        return Decision(
            allowed=False,
            outcome=Outcome.DENIED,
            code=403,
            message=_denial(request, denying),
            warnings=tuple(warnings),
            audit_annotations=annotations,
            issues=tuple(issues),
        )
    if denying:
        annotations["decision"] = Outcome.AUDITED.value
        audit_warnings = [f"audit mode, would deny: {i.describe(with_fix=False)}" for i in denying]
        return Decision(
            allowed=True,
            outcome=Outcome.AUDITED,
            warnings=(*audit_warnings, *warnings),
            audit_annotations=annotations,
            issues=tuple(issues),
            reason="audit mode",
        )
    outcome = Outcome.WARNED if warning else Outcome.ALLOWED
    annotations["decision"] = outcome.value
    return Decision(
        allowed=True,
        outcome=outcome,
        warnings=tuple(warnings),
        audit_annotations=annotations,
        issues=tuple(issues),
    )


def failure_decision(reason: str, *, fail_open: bool, audit: bool = False) -> Decision:
    """The answer when evaluation failed or ran out of time.

    Fail closed (the default, as Kubernetes' ``failurePolicy: Fail``) denies with a
    message saying why; fail open, or audit mode, allows with a warning.
    """
    annotations = {"decision": Outcome.ERROR.value, "error": reason}
    if fail_open or audit:
        why = "the webhook fails open" if fail_open else "audit mode"
        return Decision(
            allowed=True,
            outcome=Outcome.ERROR,
            warnings=(f"stockade could not evaluate this request ({reason}); allowed: {why}",),
            audit_annotations=annotations,
            reason=reason,
        )
    return Decision(
        allowed=False,
        outcome=Outcome.ERROR,
        code=500,
        message=f"stockade could not evaluate this request ({reason}); denied because the "
        "webhook fails closed",
        audit_annotations=annotations,
        reason=reason,
    )


def _counts(issues: Sequence[Issue]) -> str:
    """``ID=N,…``: how many issues each check or constraint raised, whatever its action
    (a constraint can report several violations, each its own issue)."""
    counted = Counter(i.id for i in issues)
    return ",".join(f"{issue_id}={count}" for issue_id, count in counted.items())


def _ids(issues: Sequence[Issue]) -> str:
    return ",".join(dict.fromkeys(i.id for i in issues))


def _denial(request: AdmissionRequest, issues: Sequence[Issue]) -> str:
    head = f"stockade denied {request.ref}: {len(issues)} violation(s): "
    parts: list[str] = []
    length = len(head)
    for index, issue in enumerate(issues):
        text = issue.describe()
        if length + len(text) + 2 > MAX_MESSAGE_LENGTH:
            shown = index
            if not parts:  # one huge message (a constraint's): keep its start
                parts.append(text[: MAX_MESSAGE_LENGTH - length - 40] + "…")
                shown += 1
            if shown < len(issues):
                parts.append(f"… and {len(issues) - shown} more")
            break
        parts.append(text)
        length += len(text) + 2
    return head + "; ".join(parts)
