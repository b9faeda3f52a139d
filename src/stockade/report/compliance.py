"""Compliance results and secret findings: a table for people, JSON for scripts.

JSON shape (``schemaVersion`` 1)::

    {
      "schemaVersion": 1,
      "target": "…",
      "summary": {"passed": 10, "failed": 3, "skipped": 1, "secrets": 0,
                  "failedBySeverity": {"high": 2, …}},
      "results": [{"check": {"id", "title", "severity", "target", "rationale",
                             "remediation", "references": {…}},
                   "status": "failed", "resource", "file", "line", "path",
                   "message", "layer",
                   "suppression": null | {"reason", "where", "inSource"}}],
      "secrets": [{"ruleId", "description", "file", "line", "redacted", "severity",
                   "layer", "entropy", "tags"}]
    }

Untrusted text (paths, resource names, messages quoting manifests) is escaped in the
table, as in every other table Stockade prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table

from stockade.compliance.interface import Result, SecretFinding, Status
from stockade.core.advisory import Severity
from stockade.report.jsontext import dumps
from stockade.report.table import printable, wants_color

SCHEMA_VERSION = 1


def results_to_dict(
    target: str, results: Sequence[Result], secrets: Sequence[SecretFinding] = ()
) -> dict[str, Any]:
    statuses = Counter(r.status for r in results)
    failed = Counter(str(r.check.severity) for r in results if r.status is Status.FAILED)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "target": target,
        "summary": {
            "passed": statuses[Status.PASSED],
            "failed": statuses[Status.FAILED],
            "skipped": statuses[Status.SKIPPED],
            "secrets": len(secrets),
            "failedBySeverity": dict(sorted(failed.items())),
        },
        "results": [_result(r) for r in results],
        "secrets": [_secret(s) for s in secrets],
    }


def _result(result: Result) -> dict[str, Any]:
    check = result.check
    return {
        "check": {
            "id": check.id,
            "title": check.title,
            "severity": str(check.severity),
            "target": check.target.value,
            "rationale": check.rationale,
            "remediation": check.remediation,
            "references": dict(check.references),
        },
        "status": result.status.value,
        "resource": result.resource,
        "file": result.file,
        "line": result.line,
        "path": result.path,
        "message": result.message,
        "layer": result.layer,
        "suppression": None
        if result.suppression is None
        else {
            "reason": result.suppression.reason,
            "where": result.suppression.where,
            "inSource": result.suppression.in_source,
        },
    }


def _secret(secret: SecretFinding) -> dict[str, Any]:
    return {
        "ruleId": secret.rule_id,
        "description": secret.description,
        "file": secret.file,
        "line": secret.line,
        "redacted": secret.redacted,
        "severity": str(secret.severity),
        "layer": secret.layer,
        "entropy": secret.entropy,
        "tags": list(secret.tags),
    }


def render_json(
    out: IO[str], target: str, results: Sequence[Result], secrets: Sequence[SecretFinding] = ()
) -> None:
    out.write(dumps(results_to_dict(target, results, secrets)) + "\n")
    out.write("\n")


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}


def render_table(
    out: IO[str],
    target: str,
    results: Sequence[Result],
    secrets: Sequence[SecretFinding] = (),
    *,
    show_passed: bool = False,
) -> None:
    color = wants_color(out)
    console = Console(file=out, color_system="auto" if color else None, highlight=False)
    console.print(printable(target), markup=False)
    shown = [r for r in results if show_passed or r.status is Status.FAILED]
    if results:
        counts = Counter(r.status for r in results)
        console.print(
            f"{counts[Status.FAILED]} failed, {counts[Status.PASSED]} passed, "
            f"{counts[Status.SKIPPED]} skipped",
            markup=False,
        )
    if shown:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("CHECK", "SEVERITY", "STATUS", "RESOURCE", "WHERE", "MESSAGE"):
            table.add_column(column, overflow="fold")
        ordered = sorted(shown, key=lambda r: (-r.check.severity, r.check.id, r.resource))
        for r in ordered:
            where = r.path or ""
            if r.file:
                where = f"{r.file}:{r.line}" if r.line else r.file
                if r.path:
                    where += f" {r.path}"
            table.add_row(
                printable(r.check.id),
                str(r.check.severity).upper(),
                r.status.value,
                printable(r.resource),
                printable(where),
                printable(r.message or r.check.title),
                style=_SEVERITY_STYLE.get(r.check.severity) if color else None,
            )
        console.print(table)
    if secrets:
        console.print(f"{len(secrets)} secrets", markup=False)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("RULE", "SEVERITY", "FILE", "LINE", "MATCH"):
            table.add_column(column, overflow="fold")
        for s in sorted(secrets, key=lambda s: (s.file, s.line, s.rule_id)):
            table.add_row(
                printable(s.rule_id),
                str(s.severity).upper(),
                printable(s.file),
                str(s.line),
                printable(s.redacted),
            )
        console.print(table)
    if not shown and not secrets:
        console.print("no failed checks", markup=False)
