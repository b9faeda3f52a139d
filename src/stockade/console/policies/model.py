"""Policies as data, and their evaluation: pure functions, no database, no network.

The Console evaluates each published result with these functions, and ``stockade scan
--policy-from`` evaluates its own result with the same ones, so CI and the Console reach
the same verdict from the same rule.

* A :class:`Collection` names a set of artifacts: image reference globs, host name globs,
  namespace globs and ``key=value`` label patterns. Within a dimension any pattern may
  match; every dimension that lists patterns must match; a dimension with no patterns
  does not constrain. The built-in collection ``all`` matches everything.
* A :class:`Rule` is one entry of the ordered vulnerability or compliance policy. For an
  artifact, the first enabled rule (by position) one of whose collections matches is the
  rule that applies; later rules are not consulted (as Prisma Cloud orders its rules).
* :func:`evaluate_vulnerabilities` and :func:`evaluate_compliance` turn a rule and a
  result's items into a :class:`Verdict`: ``block`` when an item reaches the rule's
  block threshold, else ``alert`` when one reaches its alert threshold, else ``pass``.

Grace period (vulnerability rules, ``grace_days`` > 0): a finding counts toward *block*
only once a fix for it has been known for ``grace_days`` days. "Known" is the first time
any published scan showed that vulnerability in that package (by advisory id, package
type and name) with a fixed version: the Console records it, fleet-wide, so rebuilding an
image does not restart the clock. Until then, and for findings without a fix at all, a
finding that reaches the block threshold alerts instead.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Final, Literal

from stockade.core.advisory import Severity
from stockade.policy.images import normalise_reference

__all__ = [
    "ALL",
    "ALL_COLLECTION",
    "KINDS",
    "MAX_REASONS",
    "Collection",
    "ComplianceItem",
    "FixKey",
    "Kind",
    "Outcome",
    "PolicyException",
    "Reason",
    "Rule",
    "Subject",
    "Verdict",
    "VulnerabilityItem",
    "compliance_items",
    "evaluate",
    "evaluate_compliance",
    "evaluate_vulnerabilities",
    "first_matching_rule",
    "parse_severity",
    "rule_from_json",
    "rule_to_json",
    "severity_word",
    "vulnerability_items",
]

Kind = Literal["vulnerabilities", "compliance"]
KINDS: Final[tuple[Kind, ...]] = ("vulnerabilities", "compliance")
ALL_COLLECTION: Final = "all"
MAX_REASONS: Final = 200
"""Most reasons a verdict lists (its counts cover every item)."""

FixKey = tuple[str, str, str]
"""(advisory id, package type, package name): what a grace period's clock is kept for."""


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105  # an outcome, not a password
    ALERT = "alert"
    BLOCK = "block"


def parse_severity(word: str) -> Severity:
    """A severity word (``critical`` … ``unknown``); ValueError for anything else."""
    try:
        return Severity[word.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown severity {word!r}") from None


def severity_word(severity: Severity) -> str:
    return str(severity)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a result is about, as collections see it."""

    references: tuple[str, ...] = ()
    """Image references: repo tags and digests, the reference pulled, tags seen before."""
    artifact: str | None = None
    """The artifact's own name: a directory, a zip, a tarball, a check's target."""
    host: str | None = None
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def image_candidates(self) -> tuple[str, ...]:
        """Every name an image pattern is tried against: each reference as published and
        in full form (``nginx:1`` is also ``docker.io/library/nginx:1``), and the name."""
        names: dict[str, None] = {}
        for reference in self.references:
            names[reference] = None
            names[normalise_reference(reference)] = None
        if self.artifact:
            names[self.artifact] = None
        return tuple(names)

    def to_json(self) -> dict[str, Any]:
        return {
            "references": list(self.references),
            "artifact": self.artifact,
            "host": self.host,
            "namespace": self.namespace,
            "labels": dict(self.labels),
        }


def _label_pattern(pattern: str) -> tuple[str, str]:
    key, _, value = pattern.partition("=")
    return key, value


@dataclass(frozen=True, slots=True)
class Collection:
    name: str
    images: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    """``key=value`` with a glob for the value (``team=*``)."""
    description: str = ""

    def matches(self, subject: Subject) -> bool:
        if self.images:
            candidates = subject.image_candidates()
            if not any(fnmatchcase(c, p) for p in self.images for c in candidates):
                return False
        if self.hosts:
            if subject.host is None:
                return False
            host = subject.host.lower()
            if not any(fnmatchcase(host, p.lower()) for p in self.hosts):
                return False
        if self.namespaces:
            namespace = subject.namespace
            if namespace is None or not any(fnmatchcase(namespace, p) for p in self.namespaces):
                return False
        if self.labels:
            wanted = [_label_pattern(p) for p in self.labels]
            if not any(
                key == k and fnmatchcase(value, v)
                for key, value in subject.labels
                for k, v in wanted
            ):
                return False
        return True


ALL: Final = Collection(ALL_COLLECTION, description="Every artifact (built in).")


@dataclass(frozen=True, slots=True)
class PolicyException:
    """A vulnerability (id, CVE or alias) or a check id the rule does not count."""

    id: str
    """Matched case-insensitively; ``*`` and ``?`` are globs (``secret:*``)."""
    reason: str
    expires: dt.date | None = None
    """From this day on the exception no longer applies."""

    def names(self, ids: Iterable[str]) -> bool:
        pattern = self.id.lower()
        return any(fnmatchcase(i.lower(), pattern) for i in ids)

    def active_on(self, day: dt.date) -> bool:
        return self.expires is None or day < self.expires


@dataclass(frozen=True, slots=True)
class Rule:
    kind: Kind
    name: str
    collections: tuple[str, ...] = (ALL_COLLECTION,)
    alert: Severity | None = None
    """Items at or above this severity alert; None: never."""
    block: Severity | None = None
    """Items at or above this severity block; None: never."""
    only_fixed: bool = False
    """Vulnerabilities: count only findings a fix exists for."""
    grace_days: int = 0
    """Vulnerabilities: see the module documentation."""
    count_suppressed: bool = False
    """Count items the publisher suppressed (its ignore file, VEX, in-source skips)."""
    checks: tuple[str, ...] = ()
    """Compliance: only these check ids (globs) count; empty: every check."""
    exceptions: tuple[PolicyException, ...] = ()
    disabled: bool = False
    position: int = 0
    description: str = ""


def first_matching_rule(
    rules: Sequence[Rule], collections: Mapping[str, Collection], subject: Subject
) -> tuple[Rule, str] | None:
    """The rule that applies to ``subject`` and the collection that matched, or None.

    ``rules`` are tried in position order; a collection name that is not defined matches
    nothing (the API refuses such names, but a rule may outlive a collection).
    """
    for rule in sorted(rules, key=lambda r: r.position):
        if rule.disabled:
            continue
        for name in rule.collections or (ALL_COLLECTION,):
            collection = ALL if name == ALL_COLLECTION else collections.get(name)
            if collection is not None and collection.matches(subject):
                return rule, name
    return None


@dataclass(frozen=True, slots=True)
class VulnerabilityItem:
    id: str
    package: str
    package_type: str
    version: str
    severity: Severity
    fixable: bool
    suppressed: bool
    aliases: tuple[str, ...] = ()

    @property
    def fix_key(self) -> FixKey:
        return (self.id, self.package_type, self.package)


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """A failed check (or a secret, as ``secret:RULE``)."""

    check_id: str
    severity: Severity
    resource: str
    suppressed: bool
    title: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """One item that crossed a threshold."""

    threshold: Literal["block", "alert"]
    id: str
    severity: Severity
    target: str
    """``package@version`` for a finding, the resource for a check."""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "id": self.id,
            "severity": str(self.severity),
            "target": self.target,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    outcome: Outcome
    rule: str | None
    collection: str | None
    severity: Severity | None
    """The worst severity among the items that crossed a threshold."""
    counts: Mapping[str, int] = field(default_factory=dict)
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for a person: the rule, the outcome and why."""
        if self.rule is None:
            return f"no {self.kind} rule applies: pass"
        why = ""
        if self.outcome is not Outcome.PASS:
            worst = f", worst {self.severity}" if self.severity is not None else ""
            count = self.counts.get(self.outcome.value, 0)
            noun = "finding(s)" if self.kind == "vulnerabilities" else "failed check(s)"
            why = f" ({count} {noun} at the {self.outcome.value} threshold{worst})"
        return (
            f"{self.kind} rule '{self.rule}' (collection '{self.collection}'): {self.outcome}{why}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outcome": self.outcome.value,
            "rule": self.rule,
            "collection": self.collection,
            "severity": None if self.severity is None else str(self.severity),
            "counts": dict(self.counts),
            "reasons": [r.to_json() for r in self.reasons[:MAX_REASONS]],
            "truncated": len(self.reasons) > MAX_REASONS,
            "notes": list(self.notes),
        }


def _exception_for(
    rule: Rule, ids: Sequence[str], today: dt.date, notes: dict[str, None]
) -> PolicyException | None:
    for exception in rule.exceptions:
        if exception.names(ids):
            if exception.active_on(today):
                return exception
            notes[f"the exception for {exception.id} expired on {exception.expires}"] = None
    return None


def _verdict(
    rule: Rule,
    collection: str,
    reasons: list[Reason],
    counts: Counter[str],
    notes: dict[str, None],
) -> Verdict:
    reasons.sort(key=lambda r: (r.threshold != "block", -int(r.severity), r.id, r.target))
    outcome = (
        Outcome.BLOCK if counts["block"] else Outcome.ALERT if counts["alert"] else Outcome.PASS
    )
    worst = max((r.severity for r in reasons), default=None)
    for key in ("block", "alert"):
        counts.setdefault(key, 0)
    return Verdict(
        kind=rule.kind,
        outcome=outcome,
        rule=rule.name,
        collection=collection,
        severity=worst,
        counts=dict(counts),
        reasons=tuple(reasons),
        notes=tuple(notes),
    )


def _no_rule(kind: Kind) -> Verdict:
    return Verdict(
        kind=kind,
        outcome=Outcome.PASS,
        rule=None,
        collection=None,
        severity=None,
        counts={"block": 0, "alert": 0},
        notes=(f"no {kind} rule applies to this artifact",),
    )


def evaluate_vulnerabilities(
    rule: Rule,
    collection: str,
    items: Iterable[VulnerabilityItem],
    *,
    now: dt.datetime,
    fix_seen: Mapping[FixKey, dt.datetime],
) -> Verdict:
    """The verdict of a vulnerability ``rule`` on a scan's findings.

    ``fix_seen`` says when a fix was first seen for each finding's :attr:`fix_key`; a
    fixable finding missing from it is taken as seen ``now`` (its grace starts today).
    """
    today = now.date()
    counts: Counter[str] = Counter()
    reasons: list[Reason] = []
    notes: dict[str, None] = {}
    grace = dt.timedelta(days=rule.grace_days)
    for item in items:
        if item.suppressed and not rule.count_suppressed:
            counts["suppressed"] += 1
            continue
        if _exception_for(rule, (item.id, *item.aliases), today, notes) is not None:
            counts["excepted"] += 1
            continue
        if rule.only_fixed and not item.fixable:
            counts["unfixed"] += 1
            continue
        counts["considered"] += 1
        level: Literal["block", "alert"] | None = None
        note = ""
        if rule.block is not None and item.severity >= rule.block:
            level = "block"
            if rule.grace_days > 0:
                if not item.fixable:
                    level, note = "alert", "no fix yet: blocks once a fix is past the grace period"
                else:
                    ends = fix_seen.get(item.fix_key, now) + grace
                    if now < ends:
                        level, note = "alert", f"in the grace period until {ends:%Y-%m-%d}"
                if level == "alert":
                    counts["inGrace"] += 1
        if level is None and rule.alert is not None and item.severity >= rule.alert:
            level = "alert"
        if level is not None:
            counts[level] += 1
            target = f"{item.package}@{item.version}"
            reasons.append(Reason(level, item.id, item.severity, target, note))
    return _verdict(rule, collection, reasons, counts, notes)


def evaluate_compliance(
    rule: Rule, collection: str, items: Iterable[ComplianceItem], *, now: dt.datetime
) -> Verdict:
    """The verdict of a compliance ``rule`` on a check result's failed checks and secrets."""
    today = now.date()
    counts: Counter[str] = Counter()
    reasons: list[Reason] = []
    notes: dict[str, None] = {}
    for item in items:
        if rule.checks and not any(fnmatchcase(item.check_id, p) for p in rule.checks):
            continue
        if item.suppressed and not rule.count_suppressed:
            counts["suppressed"] += 1
            continue
        if _exception_for(rule, (item.check_id,), today, notes) is not None:
            counts["excepted"] += 1
            continue
        counts["considered"] += 1
        level: Literal["block", "alert"] | None = None
        if rule.block is not None and item.severity >= rule.block:
            level = "block"
        elif rule.alert is not None and item.severity >= rule.alert:
            level = "alert"
        if level is not None:
            counts[level] += 1
            reasons.append(Reason(level, item.check_id, item.severity, item.resource))
    return _verdict(rule, collection, reasons, counts, notes)


def evaluate(
    kind: Kind,
    rules: Sequence[Rule],
    collections: Mapping[str, Collection],
    subject: Subject,
    items: Iterable[VulnerabilityItem] | Iterable[ComplianceItem],
    *,
    now: dt.datetime,
    fix_seen: Mapping[FixKey, dt.datetime] | None = None,
) -> Verdict:
    """Find the rule that applies to ``subject`` and evaluate ``items`` with it."""
    found = first_matching_rule([r for r in rules if r.kind == kind], collections, subject)
    if found is None:
        return _no_rule(kind)
    rule, collection = found
    if kind == "vulnerabilities":
        vulns = [i for i in items if isinstance(i, VulnerabilityItem)]
        return evaluate_vulnerabilities(rule, collection, vulns, now=now, fix_seen=fix_seen or {})
    checks = [i for i in items if isinstance(i, ComplianceItem)]
    return evaluate_compliance(rule, collection, checks, now=now)


def _severity_of(word: object) -> Severity:
    if not isinstance(word, str):
        return Severity.UNKNOWN
    try:
        return parse_severity(word)
    except ValueError:
        return Severity.UNKNOWN


def vulnerability_items(document: Mapping[str, Any]) -> list[VulnerabilityItem]:
    """The findings of a ``stockade scan -f json`` document, as the policy sees them."""
    items = []
    for finding in document.get("findings") or ():
        package = finding.get("package") or {}
        fixed = finding.get("fixedVersions") or ()
        items.append(
            VulnerabilityItem(
                id=str(finding.get("id", "")),
                aliases=tuple(str(a) for a in finding.get("aliases") or ()),
                package=str(package.get("name", "")),
                package_type=str(package.get("type", "")),
                version=str(package.get("version", "")),
                severity=_severity_of(finding.get("severity")),
                fixable=bool(fixed) or finding.get("fixState") == "fixed",
                suppressed=bool(finding.get("suppressed")),
            )
        )
    return items


def compliance_items(document: Mapping[str, Any]) -> list[ComplianceItem]:
    """The failed (and suppressed) checks and the secrets of a ``stockade check -f json``
    document, as the Console stores them (a secret is the failed check ``secret:RULE``)."""
    items = [
        ComplianceItem(
            check_id=str((result.get("check") or {}).get("id", "")),
            title=str((result.get("check") or {}).get("title", "")),
            severity=_severity_of((result.get("check") or {}).get("severity")),
            resource=str(result.get("resource") or ""),
            suppressed=result.get("suppression") is not None,
        )
        for result in document.get("results") or ()
        # A suppressed failure is reported as skipped, with its suppression.
        if result.get("status") == "failed" or result.get("suppression") is not None
    ]
    items.extend(
        ComplianceItem(
            check_id=f"secret:{secret.get('ruleId', '')}",
            title=str(secret.get("description") or ""),
            severity=_severity_of(secret.get("severity", "high")),
            resource=str(secret.get("file") or ""),
            suppressed=False,
        )
        for secret in document.get("secrets") or ()
    )
    return items


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """A rule as the API writes it (camelCase keys, severities as words)."""
    return {
        "kind": rule.kind,
        "name": rule.name,
        "position": rule.position,
        "description": rule.description,
        "disabled": rule.disabled,
        "collections": list(rule.collections),
        "alertThreshold": None if rule.alert is None else str(rule.alert),
        "blockThreshold": None if rule.block is None else str(rule.block),
        "onlyFixed": rule.only_fixed,
        "graceDays": rule.grace_days,
        "countSuppressed": rule.count_suppressed,
        "checks": list(rule.checks),
        "exceptions": [
            {
                "id": e.id,
                "reason": e.reason,
                "expires": None if e.expires is None else e.expires.isoformat(),
            }
            for e in rule.exceptions
        ],
    }


def _words(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of strings")
    return tuple(value)


def rule_from_json(data: Mapping[str, Any]) -> Rule:
    """A rule from the API's JSON (what ``--policy-from`` receives); ValueError if malformed."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("the rule has no name")
    thresholds: list[Severity | None] = []
    for key in ("alertThreshold", "blockThreshold"):
        word = data.get(key)
        if word is not None and not isinstance(word, str):
            raise ValueError(f"{key} is not a severity")
        thresholds.append(None if word is None else parse_severity(word))
    grace = data.get("graceDays", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        raise ValueError("graceDays is not a number of days")
    raw_exceptions = data.get("exceptions") or []
    if not isinstance(raw_exceptions, list):
        raise ValueError("exceptions is not a list")
    exceptions = []
    for entry in raw_exceptions:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError("an exception has no id")
        expires = entry.get("expires")
        exceptions.append(
            PolicyException(
                id=entry["id"],
                reason=str(entry.get("reason") or ""),
                expires=None if expires is None else dt.date.fromisoformat(str(expires)),
            )
        )
    position = data.get("position", 0)
    return Rule(
        kind=kind,
        name=name,
        collections=_words(data.get("collections") or [ALL_COLLECTION], "collections"),
        alert=thresholds[0],
        block=thresholds[1],
        only_fixed=bool(data.get("onlyFixed", False)),
        grace_days=grace,
        count_suppressed=bool(data.get("countSuppressed", False)),
        checks=_words(data.get("checks") or [], "checks"),
        exceptions=tuple(exceptions),
        disabled=bool(data.get("disabled", False)),
        position=position if isinstance(position, int) else 0,
        description=str(data.get("description") or ""),
    )
