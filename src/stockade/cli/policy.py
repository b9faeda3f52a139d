"""``stockade policy …``: admission policies; ``policy test`` runs Gatekeeper test suites.

Exit codes: 0 every case passed (or was skipped), 1 a case failed, 2 nothing to run or a
suite file that cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from stockade.cli.output import UI
from stockade.core.errors import PolicyFailure, UsageError

FORMATS = ("table", "json")


@click.group()
def policy() -> None:
    """Admission policies (OPA Gatekeeper ConstraintTemplates and Constraints)."""


@policy.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", help="Output format."
)
@click.pass_obj
def policy_test(ui: UI, paths: Sequence[Path], fmt: str) -> None:
    """Run Gatekeeper test suites (gator's suite.yaml) found under PATHS, offline."""
    from stockade.admission.gatekeeper import find_suites, load_suite, run_suite

    suite_files = find_suites(paths)
    if not suite_files:
        raise UsageError(
            f"no suite.yaml under {', '.join(str(p) for p in paths)}",
            hint="a suite is Gatekeeper's gator format (kind: Suite)",
        )
    suites = [load_suite(path) for path in suite_files]  # a bad suite stops the run: exit 2
    results = []
    for suite in suites:
        results.extend(run_suite(suite, name=str(suite.path)))
    counts = Counter(r.status for r in results)
    if fmt == "json":
        document = {
            "cases": [
                {
                    "suite": r.suite,
                    "test": r.test,
                    "case": r.case,
                    "status": r.status,
                    "reason": r.reason,
                    "violations": list(r.messages),
                }
                for r in results
            ],
            "summary": {
                "total": len(results),
                "passed": counts["pass"],
                "failed": counts["fail"],
                "skipped": counts["skip"],
            },
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for r in results:
            line = f"{r.status.upper():<4}  {r.suite}  {r.test} / {r.case}"
            if r.reason and r.status == "fail":
                line += f"\n      {r.reason}"
            click.echo(line)
        click.echo(
            f"\n{len(results)} cases: {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['skip']} skipped"
        )
    sys.stdout.flush()
    if counts["fail"]:
        raise PolicyFailure(
            f"{counts['fail']} of {len(results)} policy test cases failed",
            hint="each FAIL line says what was expected and what the policy produced",
        )
    ui.info(f"{len(suites)} suite(s) passed")
