"""Suppressions: where a team records that a failed check is accepted, and why.

Three places, each where users of the peer tools already look:

* **Kubernetes annotations** on the object (or its pod template)::

      metadata:
        annotations:
          stockade.io/skip: "STK-K8S-005, CKV_K8S_20=sidecar needs it"

  A comma-separated list of check ids, each optionally followed by ``=reason``.
  Checkov's ``checkov.io/skip1: CKV_K8S_20=reason`` annotations (any ``checkov.io/skipN``)
  are honoured too, so manifests written for Checkov need no second annotation.
* **Inline Dockerfile comments**: ``# stockade:skip=STK-DF-002,CKV_DOCKER_3 reason``
  anywhere in the file, or Checkov's ``#checkov:skip=CKV_DOCKER_2:reason``. The
  suppression covers that check for the whole file, as in Checkov.
* **The ignore file** (``.stockadeignore.yaml``, shared with ``stockade scan``): entries
  whose ``id`` names a check or a secret rule, optionally narrowed by ``resource`` (a
  glob over ``Kind/namespace/name``) and ``file`` (a glob over the path), with a required
  reason and an optional expiry date; see :mod:`stockade.policy.ignore`.

A check is named by Stockade's id (``STK-K8S-001``) or by any id it references
(``CKV_K8S_16``, kube-score's ``container-security-context-privileged``, kubesec's
``Privileged``), case-insensitively. A suppressed result keeps its place in the report
as ``SKIPPED`` with a message saying what suppressed it, so a reviewer can still see it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from stockade.compliance.interface import CheckMeta, Result, SecretFinding, Status, Suppression

if TYPE_CHECKING:  # the ignore file's reader is loaded only when an ignore file is used
    from stockade.policy.ignore import IgnoreEntry, IgnoreNotice

SKIP_ANNOTATION: Final = "stockade.io/skip"
_CHECKOV_ANNOTATION: Final = re.compile(r"checkov\.io/skip\d*")
_DOCKERFILE_SKIP: Final = re.compile(
    r"^\s*#\s*(?:stockade:skip=(?P<ours>\S+)(?:\s+(?P<reason>.*))?"
    r"|checkov:skip=(?P<theirs>[^:\s]+)(?::(?P<why>.*))?)\s*$",
    re.IGNORECASE,
)
_NO_REASON: Final = "no reason given"


def check_names(meta: CheckMeta) -> frozenset[str]:
    """Every name a user may suppress ``meta`` by, upper-cased."""
    return frozenset({meta.id.upper(), *(ref.upper() for ref in meta.references.values())})


def parse_skip_list(text: str) -> dict[str, str]:
    """``"ID1, ID2=reason"`` → ``{"ID1": "no reason given", "ID2": "reason"}`` (ids upper-cased)."""
    skips: dict[str, str] = {}
    for item in text.split(","):
        name, _, reason = item.partition("=")
        name = name.strip()
        if name:
            skips[name.upper()] = reason.strip() or _NO_REASON
    return skips


def annotation_skips(metadatas: Iterable[Mapping[str, Any]]) -> dict[str, Suppression]:
    """The checks the annotations of these ``metadata`` mappings suppress, and why.

    Values that are not text (a malformed manifest) suppress nothing.
    """
    skips: dict[str, Suppression] = {}
    for metadata in metadatas:
        annotations = metadata.get("annotations")
        if not isinstance(annotations, Mapping):
            continue
        for key, value in annotations.items():
            if not isinstance(key, str) or not isinstance(value, str):
                continue
            if key == SKIP_ANNOTATION or _CHECKOV_ANNOTATION.fullmatch(key):
                for name, reason in parse_skip_list(value).items():
                    skips.setdefault(name, Suppression(reason, f"annotation {key}", True))
    return skips


def dockerfile_skips(lines: Iterable[str]) -> dict[str, Suppression]:
    """The checks a Dockerfile's ``stockade:skip`` / ``checkov:skip`` comments suppress."""
    skips: dict[str, Suppression] = {}
    for number, line in enumerate(lines, start=1):
        if "skip=" not in line:
            continue
        found = _DOCKERFILE_SKIP.match(line)
        if found is None:
            continue
        names = found["ours"] or found["theirs"] or ""
        reason = (found["reason"] or found["why"] or "").strip() or _NO_REASON
        for name in names.split(","):
            if name.strip():
                where = f"comment, line {number}"
                skips.setdefault(name.strip().upper(), Suppression(reason, where, True))
    return skips


def suppress(result: Result, suppression: Suppression) -> Result:
    """``result`` as suppressed: ``SKIPPED``, its message saying why and by what."""
    return replace(
        result,
        status=Status.SKIPPED,
        message=f"suppressed ({suppression.where}): {suppression.reason}",
        suppression=suppression,
    )


def apply_skips(results: Iterable[Result], skips: Mapping[str, Suppression]) -> list[Result]:
    """Suppress the results of the checks ``skips`` names (passed ones too: the user
    said the check does not apply here)."""
    if not skips:
        return list(results)
    out: list[Result] = []
    for result in results:
        reason = next((skips[n] for n in check_names(result.check) if n in skips), None)
        out.append(result if reason is None else suppress(result, reason))
    return out


@dataclass(frozen=True, slots=True)
class Suppressed:
    """What the ignore file did to a report."""

    results: tuple[Result, ...]
    secrets: tuple[SecretFinding, ...]
    """The secrets still reported."""
    hidden_secrets: int
    notices: tuple[IgnoreNotice, ...]


def entry_matches_result(entry: IgnoreEntry, result: Result) -> bool:
    if entry.package is not None or entry.id.upper() not in check_names(result.check):
        return False
    return _scoped(entry, result.resource, result.file)


def entry_matches_secret(entry: IgnoreEntry, secret: SecretFinding) -> bool:
    if entry.package is not None or entry.id.upper() != secret.rule_id.upper():
        return False
    return _scoped(entry, None, secret.file)


def _scoped(entry: IgnoreEntry, resource: str | None, file: str) -> bool:
    if entry.resource is not None and (
        resource is None or not fnmatchcase(resource, entry.resource)
    ):
        return False
    return entry.file is None or fnmatchcase(file, entry.file)


def apply_ignore_entries(
    results: Sequence[Result],
    secrets: Sequence[SecretFinding],
    entries: Sequence[IgnoreEntry],
    today: date,
) -> Suppressed:
    """Suppress the failed checks and secrets the ignore file's entries name.

    Only failed results are touched (suppressing a pass changes nothing a gate sees).
    Expired entries suppress nothing and yield a notice saying how many results they
    would have hidden, as for vulnerabilities.
    """
    from stockade.policy.ignore import expired_notice

    active = [e for e in entries if not e.is_expired(today)]
    expired = [e for e in entries if e.is_expired(today)]
    revived = [0] * len(expired)
    kept: list[Result] = []
    for result in results:
        if result.status is not Status.FAILED:
            kept.append(result)
            continue
        entry = next((e for e in active if entry_matches_result(e, result)), None)
        if entry is not None:
            where = f"{entry.source}, entry {entry.index + 1}"
            kept.append(suppress(result, Suppression(entry.reason, where, False)))
            continue
        for number, old in enumerate(expired):
            revived[number] += entry_matches_result(old, result)
        kept.append(result)
    shown: list[SecretFinding] = []
    hidden = 0
    for secret in secrets:
        if any(entry_matches_secret(e, secret) for e in active):
            hidden += 1
            continue
        for number, old in enumerate(expired):
            revived[number] += entry_matches_secret(old, secret)
        shown.append(secret)
    notices = tuple(
        expired_notice(old, revived[number], noun="result")
        for number, old in enumerate(expired)
        # An expired vulnerability entry is `stockade scan`'s to report, not ours.
        if revived[number] or old.resource is not None or old.file is not None
    )
    return Suppressed(tuple(kept), tuple(shown), hidden, notices)
