"""The webhook's policy: what denies, what warns, per namespace. Parsing is pure.

:func:`parse_policy` turns the mapping of a YAML policy file into a
:class:`WebhookPolicy`; :func:`load_policy` reads the file (the only I/O here). Unknown
keys are errors, not ignored: a misspelt ``deny`` in a security policy must not pass
silently. docs/admission.md documents the format; in short::

    audit: false                      # decide and log, never deny (everywhere)
    exemptNamespaces: [kube-system]   # never evaluated (fnmatch patterns)
    scanResults: scans/               # `stockade scan -f json` results, relative to this file
    default:                          # every namespace without a section of its own
      deny: {pss: baseline, severity: critical, checks: [STK-K8S-031]}
      warn: {pss: restricted}
      exemptChecks: [STK-K8S-032]
      images: {trustedRegistries: [registry.example.com/], requireDigest: true, action: deny}
      vulnerabilities: {deny: critical, warn: high, unscanned: warn}
    namespaces:
      payments: {deny: {pss: restricted}}   # keys not given are taken from default
      "dev-*": {audit: true}
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stockade.admission.webhook.errors import WebhookConfigError
from stockade.compliance.interface import CheckMeta
from stockade.core.advisory import Severity

__all__ = [
    "DEFAULT_POLICY",
    "PSS_LEVELS",
    "Action",
    "CheckRule",
    "ImagePolicy",
    "NamespacePolicy",
    "VulnerabilityPolicy",
    "WebhookPolicy",
    "load_policy",
    "parse_policy",
]

PSS_LEVELS: Final = ("baseline", "restricted")
MAX_POLICY_BYTES: Final = 1024 * 1024


class Action(enum.StrEnum):
    """What a failed check (or image, or vulnerability) does to the request."""

    DENY = "deny"
    WARN = "warn"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class CheckRule:
    """Selects checks: by id, by severity at or above a bar, or by Pod Security level.

    ``pss: baseline`` selects the checks of the baseline policy; ``pss: restricted``
    selects those and the restricted ones (restricted includes baseline).
    """

    checks: frozenset[str] = frozenset()
    severity: Severity | None = None
    pss: str | None = None

    def selects(self, meta: CheckMeta) -> bool:
        if meta.id in self.checks:
            return True
        if self.severity is not None and meta.severity >= self.severity:
            return True
        level = meta.references.get("pss")
        if self.pss is None or level is None:
            return False
        return level == "baseline" or (level == "restricted" and self.pss == "restricted")

    @property
    def empty(self) -> bool:
        return not self.checks and self.severity is None and self.pss is None


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    trusted_registries: tuple[str, ...] = ()
    """Prefixes an image must start with (after normalising ``nginx`` to
    ``docker.io/library/nginx``); empty: any registry."""
    require_digest: bool = False
    action: Action = Action.DENY


@dataclass(frozen=True, slots=True)
class VulnerabilityPolicy:
    deny: Severity | None = None
    """Deny an image with an active finding at or above this severity."""
    warn: Severity | None = None
    unscanned: Action = Action.IGNORE
    """What to do with an image that has no scan result."""

    @property
    def enabled(self) -> bool:
        return self.deny is not None or self.warn is not None or self.unscanned != Action.IGNORE


@dataclass(frozen=True, slots=True)
class NamespacePolicy:
    deny: CheckRule = field(default_factory=lambda: CheckRule(pss="baseline"))
    warn: CheckRule = field(default_factory=lambda: CheckRule(pss="restricted"))
    exempt_checks: frozenset[str] = frozenset()
    images: ImagePolicy = field(default_factory=ImagePolicy)
    vulnerabilities: VulnerabilityPolicy = field(default_factory=VulnerabilityPolicy)
    audit: bool = False

    def action_for(self, meta: CheckMeta) -> Action:
        if meta.id in self.exempt_checks:
            return Action.IGNORE
        if self.deny.selects(meta):
            return Action.DENY
        if self.warn.selects(meta):
            return Action.WARN
        return Action.IGNORE


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    default: NamespacePolicy = field(default_factory=NamespacePolicy)
    namespaces: tuple[tuple[str, NamespacePolicy], ...] = ()
    """(name or fnmatch pattern, policy) in file order; an exact name wins over patterns."""
    exempt_namespaces: tuple[str, ...] = ()
    scan_results: Path | None = None
    audit: bool = False

    def is_exempt(self, namespace: str) -> bool:
        return bool(namespace) and any(
            fnmatch.fnmatchcase(namespace, pattern) for pattern in self.exempt_namespaces
        )

    def for_namespace(self, namespace: str) -> NamespacePolicy:
        """The policy of ``namespace`` (cluster-scoped objects, ``""``, get the default)."""
        chosen = self.default
        for pattern, policy in self.namespaces:
            if pattern == namespace:
                chosen = policy
                break
        else:
            for pattern, policy in self.namespaces:
                if namespace and fnmatch.fnmatchcase(namespace, pattern):
                    chosen = policy
                    break
        if self.audit and not chosen.audit:
            chosen = dataclasses.replace(chosen, audit=True)
        return chosen


DEFAULT_POLICY: Final = WebhookPolicy()
"""With no policy file: deny what the Pod Security Standards baseline forbids, warn on
what restricted forbids (as the PodSecurity admission controller's common
``enforce: baseline``, ``warn: restricted`` set-up does)."""


def load_policy(path: Path) -> WebhookPolicy:
    """Read and parse a policy file; a relative ``scanResults`` is taken from its folder."""
    from stockade.compliance.yamlload import YamlLimits, YamlLoadError, load_documents

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WebhookConfigError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    try:
        documents = load_documents(
            data, name=str(path), limits=YamlLimits(max_bytes=MAX_POLICY_BYTES)
        )
    except YamlLoadError as exc:
        raise WebhookConfigError(f"policy file {path}: {exc.message}", exc.hint) from exc
    if len(documents) != 1:
        raise WebhookConfigError(f"policy file {path} must hold one YAML document")
    policy = parse_policy(documents[0].data, where=str(path))
    if policy.scan_results is not None and not policy.scan_results.is_absolute():
        policy = dataclasses.replace(policy, scan_results=path.parent / policy.scan_results)
    return policy


_TOP_KEYS: Final = {
    "apiVersion",
    "kind",
    "audit",
    "exemptNamespaces",
    "scanResults",
    "default",
    "namespaces",
}
_NAMESPACE_KEYS: Final = {"deny", "warn", "exemptChecks", "images", "vulnerabilities", "audit"}


def parse_policy(data: Any, *, where: str = "policy") -> WebhookPolicy:
    """A :class:`WebhookPolicy` from the mapping of a policy file; WebhookConfigError if wrong."""
    if data is None:
        return WebhookPolicy()
    top = _mapping(data, where, _TOP_KEYS)
    default = _namespace_policy(top.get("default"), f"{where}: default", NamespacePolicy())
    sections = _mapping(top.get("namespaces") or {}, f"{where}: namespaces", None)
    namespaces = tuple(
        (
            _string(name, f"{where}: namespaces"),
            _namespace_policy(section, f"{where}: namespaces.{name}", default),
        )
        for name, section in sections.items()
    )
    scan_results = top.get("scanResults")
    return WebhookPolicy(
        default=default,
        namespaces=namespaces,
        exempt_namespaces=_strings(top.get("exemptNamespaces"), f"{where}: exemptNamespaces"),
        scan_results=Path(_string(scan_results, f"{where}: scanResults"))
        if scan_results is not None
        else None,
        audit=_bool(top.get("audit", False), f"{where}: audit"),
    )


def _namespace_policy(data: Any, where: str, base: NamespacePolicy) -> NamespacePolicy:
    if data is None:
        return base
    section = _mapping(data, where, _NAMESPACE_KEYS)
    policy = base
    if "deny" in section:
        policy = dataclasses.replace(policy, deny=_rule(section["deny"], f"{where}.deny"))
    if "warn" in section:
        policy = dataclasses.replace(policy, warn=_rule(section["warn"], f"{where}.warn"))
    if "exemptChecks" in section:
        checks = frozenset(_strings(section["exemptChecks"], f"{where}.exemptChecks"))
        policy = dataclasses.replace(policy, exempt_checks=checks)
    if "images" in section:
        policy = dataclasses.replace(policy, images=_images(section["images"], f"{where}.images"))
    if "vulnerabilities" in section:
        vulnerabilities = _vulnerabilities(section["vulnerabilities"], f"{where}.vulnerabilities")
        policy = dataclasses.replace(policy, vulnerabilities=vulnerabilities)
    if "audit" in section:
        policy = dataclasses.replace(policy, audit=_bool(section["audit"], f"{where}.audit"))
    return policy


def _rule(data: Any, where: str) -> CheckRule:
    if data is None:
        return CheckRule()
    section = _mapping(data, where, {"checks", "severity", "pss"})
    pss = section.get("pss")
    if pss is not None and pss not in PSS_LEVELS:
        raise WebhookConfigError(
            f"{where}.pss is {pss!r}", hint=f"choose one of: {', '.join(PSS_LEVELS)}"
        )
    known = _known_check_ids()
    checks = frozenset(_strings(section.get("checks"), f"{where}.checks"))
    unknown = sorted(checks - known)
    if unknown:
        raise WebhookConfigError(
            f"{where}.checks names unknown check(s): {', '.join(unknown)}",
            hint="`stockade check k8s -f json` lists the ids (STK-K8S-…)",
        )
    severity = _severity(section.get("severity"), f"{where}.severity")
    return CheckRule(checks=checks, severity=severity, pss=pss)


def _images(data: Any, where: str) -> ImagePolicy:
    section = _mapping(data, where, {"trustedRegistries", "requireDigest", "action"})
    registries = _strings(section.get("trustedRegistries"), f"{where}.trustedRegistries")
    if any(not r.strip() for r in registries):
        raise WebhookConfigError(f"{where}.trustedRegistries holds an empty prefix")
    return ImagePolicy(
        trusted_registries=registries,
        require_digest=_bool(section.get("requireDigest", False), f"{where}.requireDigest"),
        action=_action(section.get("action", "deny"), f"{where}.action"),
    )


def _vulnerabilities(data: Any, where: str) -> VulnerabilityPolicy:
    section = _mapping(data, where, {"deny", "warn", "unscanned"})
    return VulnerabilityPolicy(
        deny=_severity(section.get("deny"), f"{where}.deny"),
        warn=_severity(section.get("warn"), f"{where}.warn"),
        unscanned=_action(section.get("unscanned", "ignore"), f"{where}.unscanned"),
    )


def _known_check_ids() -> frozenset[str]:
    from stockade.compliance.kubernetes.registry import KUBERNETES_CHECKS_BY_ID

    return frozenset(KUBERNETES_CHECKS_BY_ID)


def _mapping(data: Any, where: str, keys: set[str] | None) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise WebhookConfigError(f"{where} must be a mapping")
    if keys is not None:
        unknown = sorted(str(k) for k in data if k not in keys)
        if unknown:
            raise WebhookConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}",
                hint=f"known keys: {', '.join(sorted(keys))}",
            )
    return data


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebhookConfigError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WebhookConfigError(f"{where} must be a list of strings")
    return tuple(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise WebhookConfigError(f"{where} must be true or false")
    return value


def _severity(value: Any, where: str) -> Severity | None:
    if value is None:
        return None
    names = [s.name.lower() for s in Severity if s is not Severity.UNKNOWN]
    if not isinstance(value, str) or value.strip().lower() not in names:
        raise WebhookConfigError(
            f"{where} is {value!r}, not a severity", hint=f"choose one of: {', '.join(names)}"
        )
    return Severity[value.strip().upper()]


def _action(value: Any, where: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        raise WebhookConfigError(
            f"{where} is {value!r}", hint=f"choose one of: {', '.join(a.value for a in Action)}"
        ) from None
