"""``stockade check …``: misconfigurations and secrets, gated for CI like ``scan``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from stockade.cli.artifacts import ArtifactOptions, artifact_options, source_options
from stockade.cli.output import (
    SEVERITY_NAMES,
    UI,
    gate_threshold,
    threshold_words,
    write_atomically,
)
from stockade.compliance.interface import Result, SecretFinding, Status
from stockade.core.errors import PolicyFailure, StockadeError, UsageError
from stockade.report.compliance import render_json, render_table

FORMATS = ("table", "json")


def _gate_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "-f", "--format", "fmt", type=click.Choice(FORMATS), help="Output format."
            ),
            click.option(
                "-o",
                "--output",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write to FILE instead of standard output.",
            ),
            click.option(
                "--fail-on",
                metavar="SEVERITY",
                help="Fail (exit 1, or --exit-code) on a failed check or secret at or above "
                f"SEVERITY ({', '.join(SEVERITY_NAMES)}).",
            ),
            click.option(
                "--exit-code",
                type=click.IntRange(min=1, max=125),
                default=None,
                help="Exit status when the gate fails (default 1); alone, fail on any.",
            ),
            click.option("--show-passed", is_flag=True, help="List passed checks too."),
        )
    ):
        command = option(command)
    return command


def _finish(
    ui: UI,
    target: str,
    results: Sequence[Result],
    secrets: Sequence[SecretFinding],
    *,
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
) -> None:
    threshold = gate_threshold(fail_on, exit_code)
    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "json"

    def render(out: Any) -> None:
        if fmt == "json":
            render_json(out, target, results, secrets)
        else:
            render_table(out, target, results, secrets, show_passed=show_passed)

    if output is None:
        render(sys.stdout)
        sys.stdout.flush()
    else:
        write_atomically(output, render)
        ui.info(f"wrote {len(results)} results and {len(secrets)} secrets to {output}")
    if threshold is None:
        return
    failing = [r for r in results if r.status is Status.FAILED and r.check.severity >= threshold]
    leaks = [s for s in secrets if s.severity >= threshold]
    if failing or leaks:
        what = []
        if failing:
            what.append(f"{len(failing)} failed check(s)")
        if leaks:
            what.append(f"{len(leaks)} secret(s)")
        bar = threshold_words(threshold)
        raise PolicyFailure(
            f"policy failed: {' and '.join(what)} at {bar} or above",
            hint="fix what the report lists; each check says how",
            exit_code=exit_code or 1,
        )


@click.group()
def check() -> None:
    """Check configurations and artifacts for misconfigurations and secrets."""


@check.command("k8s")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_gate_options
@click.pass_obj
def check_k8s(
    ui: UI,
    paths: Sequence[Path],
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
) -> None:
    """Check Kubernetes manifests (YAML or JSON files, or directories of them)."""
    from stockade.compliance.kubernetes import check_manifests, load_manifests

    files = _files(paths, (".yaml", ".yml", ".json"))
    resources = []
    unreadable: list[StockadeError] = []
    for file in files:
        # A broken file is reported and skipped; the others are still checked.
        try:
            resources.extend(load_manifests(file))
        except StockadeError as exc:
            unreadable.append(exc)
            ui.warn(f"{exc.message}; skipped")
    if unreadable and len(unreadable) == len(files):
        raise unreadable[0]
    results = check_manifests(resources)
    _finish(
        ui,
        ", ".join(str(p) for p in paths),
        results,
        (),
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


@check.command("dockerfile")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_gate_options
@click.pass_obj
def check_dockerfile_command(
    ui: UI,
    paths: Sequence[Path],
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
) -> None:
    """Check Dockerfiles (files, or directories searched for Dockerfile*/*.Dockerfile)."""
    from stockade.compliance.dockerfile import check_dockerfile, read_dockerfile

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and (p.name.startswith("Dockerfile") or p.name.endswith(".Dockerfile"))
                )
            )
        else:
            files.append(path)
    if not files:
        raise UsageError(f"no Dockerfile in {', '.join(str(p) for p in paths)}")
    results = [r for file in files for r in check_dockerfile(read_dockerfile(file))]
    _finish(
        ui,
        ", ".join(str(p) for p in paths),
        results,
        (),
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


@check.command("image")
@click.argument("target")
@click.option(
    "--max-age",
    "max_age_days",
    type=click.IntRange(min=1),
    default=180,
    show_default=True,
    help="Fail the image-age check for images built more than this many days ago.",
)
@_gate_options
@artifact_options
@click.pass_obj
def check_image_command(
    ui: UI,
    target: str,
    max_age_days: int,
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
    artifact: ArtifactOptions,
) -> None:
    """Check an image (or a directory or zip) against the CIS Docker Benchmark's image items."""
    from stockade.artifact import open_artifact
    from stockade.compliance.image import check_image

    with open_artifact(target, artifact.artifact_type, **source_options(ui, artifact)) as source:
        results = check_image(source, max_age_days=max_age_days)
    _finish(
        ui,
        target,
        results,
        (),
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


@check.command("secrets")
@click.argument("target")
@click.option(
    "--config",
    "rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A gitleaks-format TOML rule file (default: gitleaks' rules, shipped with Stockade).",
)
@_gate_options
@artifact_options
@click.pass_obj
def check_secrets(
    ui: UI,
    target: str,
    rules: Path | None,
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
    artifact: ArtifactOptions,
) -> None:
    """Find secrets in TARGET: an image, a directory, a zip, a registry image."""
    from stockade.artifact import open_artifact
    from stockade.compliance.secrets import load_rules, scan_secrets

    rule_set = load_rules(rules)
    with open_artifact(target, artifact.artifact_type, **source_options(ui, artifact)) as source:
        found = scan_secrets(source, rule_set)
    _finish(
        ui,
        target,
        (),
        found,
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


@check.command("host")
@click.argument(
    "root",
    required=False,
    default="/",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--benchmark",
    "benchmark_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A kube-bench benchmark directory (its YAML is read as data).",
)
@click.option(
    "--run-audits",
    is_flag=True,
    help="Run the benchmark's audit commands on this machine (a shell runs each one).",
)
@_gate_options
@click.pass_obj
def check_host_command(
    ui: UI,
    root: Path,
    benchmark_dir: Path | None,
    run_audits: bool,
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
) -> None:
    """Check a host's files under ROOT (default /): sshd, account files, kubelet, API server."""
    from stockade.compliance.host import check_host, load_benchmark

    benchmark = load_benchmark(benchmark_dir) if benchmark_dir else ()
    if run_audits:
        ui.warn("--run-audits: running the benchmark's audit commands with /bin/sh")
    results = check_host(root, run_audits=run_audits, benchmark=benchmark)
    _finish(
        ui,
        str(root),
        results,
        (),
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


@check.command("serverless")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An IAM policy document attached to the function's role (repeatable).",
)
@_gate_options
@click.pass_obj
def check_serverless_command(
    ui: UI,
    document: Path,
    policies: Sequence[Path],
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    exit_code: int | None,
    show_passed: bool,
) -> None:
    """Check an ECS/Fargate task definition or a Lambda function configuration (AWS JSON)."""
    from stockade.compliance.serverless import (
        check_function_configuration,
        check_task_definition,
    )

    doc = _json_file(document)
    if "taskDefinition" in doc or "containerDefinitions" in doc:
        results = check_task_definition(doc, name=document.name)
    else:
        results = check_function_configuration(doc, policies=[_json_file(p) for p in policies])
    _finish(
        ui,
        str(document),
        results,
        (),
        fmt=fmt,
        output=output,
        fail_on=fail_on,
        exit_code=exit_code,
        show_passed=show_passed,
    )


def _json_file(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not a readable JSON document ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a JSON object was expected")
    return data


def _files(paths: Sequence[Path], suffixes: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes))
        else:
            files.append(path)
    if not files:
        raise UsageError(f"no {'/'.join(suffixes)} files in {', '.join(str(p) for p in paths)}")
    return files
