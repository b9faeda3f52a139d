"""``stockade defender …``: runtime protection. For now, ``defender rules check``.

Exit codes of ``rules check``: 0 every file loads (warnings and disabled rules are
reported, not failures), 1 a file has errors, 2 a usage error or an unreadable path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from stockade.cli.output import UI
from stockade.core.errors import PolicyFailure

FORMATS = ("table", "json")


@click.group()
def defender() -> None:
    """Runtime protection of running containers (the Defender)."""


@defender.group()
def rules() -> None:
    """Falco rules files for the Defender."""


@rules.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", help="Output format."
)
@click.pass_obj
def rules_check(ui: UI, paths: Sequence[Path], fmt: str) -> None:
    """Validate Falco rules FILES offline (loaded together, in order; a directory stands
    for its YAML files): what loads, what is disabled and why, warnings and errors."""
    from stockade.runtime.rules import load_rules

    loaded = load_rules(paths)
    if fmt == "json":
        click.echo(json.dumps(_report(loaded), indent=2))
    else:
        _print_table(loaded)
    if loaded.errors:
        raise PolicyFailure(
            f"{len(loaded.errors)} error(s) in the rules files",
            "fix the errors above; warnings and disabled rules do not fail the check",
        )
    del ui


def _report(loaded: object) -> dict[str, object]:
    from stockade.runtime.rules import LoadedRules

    assert isinstance(loaded, LoadedRules)  # noqa: S101 - narrowing for the type checker
    return {
        "ok": loaded.ok,
        "files": [
            {
                "file": summary.file,
                "rules": summary.rules,
                "loaded": summary.loaded,
                "disabled": dict(summary.disabled),
                "errors": summary.errors,
                "warnings": summary.warnings,
            }
            for summary in loaded.files
        ],
        "loaded": [
            {"rule": rule.name, "priority": rule.priority.label, "event_types": _types(rule)}
            for rule in loaded.ruleset
        ],
        "disabled": [
            {
                "rule": d.name,
                "kind": d.kind,
                "reason": d.reason,
                "missing_fields": list(d.missing_fields),
                "file": d.file,
                "line": d.line,
            }
            for d in loaded.disabled
        ],
        "diagnostics": [
            {
                "severity": d.severity,
                "code": d.code,
                "item_type": d.item_type,
                "item_name": d.item_name,
                "message": d.message,
                "file": d.file,
                "line": d.line,
            }
            for d in loaded.diagnostics
        ],
    }


def _types(rule: object) -> list[str] | None:
    types = getattr(rule, "event_types", None)
    return None if types is None else sorted(types)


def _print_table(loaded: object) -> None:
    from stockade.runtime.rules import LoadedRules

    assert isinstance(loaded, LoadedRules)  # noqa: S101 - narrowing for the type checker
    for diagnostic in loaded.diagnostics:
        click.echo(str(diagnostic))
    for disabled in loaded.disabled:
        where = f"{disabled.file}:{disabled.line}" if disabled.line else disabled.file
        click.echo(f"{where}: disabled: rule {disabled.name!r}: {disabled.reason}")
    for summary in loaded.files:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.disabled.items()))
        click.echo(
            f"{summary.file}: {summary.rules} rules, {summary.loaded} loaded, "
            f"{sum(summary.disabled.values())} disabled{f' ({kinds})' if kinds else ''}, "
            f"{summary.errors} errors, {summary.warnings} warnings"
        )
    click.echo(
        f"{len(loaded.ruleset)} rules loaded, {len(loaded.disabled)} disabled, "
        f"{len(loaded.errors)} errors, {len(loaded.warnings)} warnings"
    )
