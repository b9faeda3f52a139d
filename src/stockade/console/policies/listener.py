"""Evaluating each published result: the verdict is stored, and an alert or a block is
told to the event listeners (alert channels) as a :class:`ConsoleEvent`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stockade.console.context import ConsoleContext
from stockade.console.events import ConsoleEvent, ResultPublished
from stockade.console.policies.model import MAX_REASONS, Outcome
from stockade.console.policies.storage import Evaluation, evaluate_scan
from stockade.core.advisory import Severity

__all__ = ["EVENT_REASONS", "PolicyEvaluator", "policy_event"]

EVENT_REASONS = 20
"""Reasons an event carries (the verdict at ``/api/v1/scans/{id}/verdict`` has them all)."""

_EVENT_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
}


def _subject_name(evaluation: Evaluation, fallback: str) -> str:
    subject = evaluation.subject
    if subject.references:
        return subject.references[0]
    return subject.host or subject.artifact or fallback


def policy_event(evaluation: Evaluation, published: ResultPublished) -> ConsoleEvent | None:
    """The event for a verdict that alerts or blocks; None for a pass."""
    verdict = evaluation.verdict
    if verdict.outcome is Outcome.PASS:
        return None
    subject = evaluation.subject
    name = _subject_name(evaluation, published.artifact_name)
    labels: dict[str, str] = {"kind": verdict.kind, "outcome": verdict.outcome.value}
    if verdict.rule is not None:
        labels["policy"] = verdict.rule
    if subject.references:
        labels["image"] = subject.references[0]
    if subject.host:
        labels["host"] = subject.host
    if subject.namespace:
        labels["namespace"] = subject.namespace
    labels.update({f"label.{k}": v for k, v in subject.labels})
    count = verdict.counts.get(verdict.outcome.value, 0)
    noun = "finding(s)" if verdict.kind == "vulnerabilities" else "failed check(s)"
    action = "blocked" if verdict.outcome is Outcome.BLOCK else "alert for"
    detail: dict[str, Any] = {
        "scanId": published.scan_id,
        "artifactKey": published.artifact_key,
        "rule": verdict.rule,
        "collection": verdict.collection,
        "outcome": verdict.outcome.value,
        "counts": dict(verdict.counts),
        "reasons": [r.to_json() for r in verdict.reasons[: min(EVENT_REASONS, MAX_REASONS)]],
        "verdict": f"/api/v1/scans/{published.scan_id}/verdict",
    }
    return ConsoleEvent(
        kind=f"policy.{verdict.kind}.{verdict.outcome.value}",
        severity=_EVENT_SEVERITY.get(verdict.severity or Severity.UNKNOWN, "info"),
        title=f"{verdict.kind} policy '{verdict.rule}' {action} {name}: {count} {noun}",
        subject=name,
        at=published.published_at,
        detail=detail,
        labels=labels,
    )


class PolicyEvaluator:
    """A :class:`PublishListener`: evaluates the result in the transaction that stores
    it (in a savepoint, so a publish never fails because of its verdict)."""

    def __init__(self, context: ConsoleContext) -> None:
        self.context = context

    def __call__(self, session: Session, event: ResultPublished) -> list[ConsoleEvent]:
        evaluation = evaluate_scan(session, event.scan_id, self.context.clock())
        alert = policy_event(evaluation, event)
        return [] if alert is None else [alert]
