"""``stockade check …``: misconfigurations and secrets, gated for CI like ``scan``."""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stockade.cli.artifacts import ArtifactOptions, artifact_options, source_options
from stockade.cli.output import (
    SEVERITY_NAMES,
    UI,
    gate_threshold,
    threshold_words,
    write_atomically,
)
from stockade.cli.publishing import ConsoleOptions, Target, console_options, image_references
from stockade.compliance.interface import Result, SecretFinding, Status
from stockade.core.errors import PolicyFailure, StockadeError, UsageError
from stockade.report.compliance import render_json, render_table

if TYPE_CHECKING:
    from stockade.core.advisory import Severity
    from stockade.core.models import ArtifactInfo

FORMATS = ("table", "json", "sarif")
_IGNORE_FILE = ".stockadeignore.yaml"
"""``stockade.policy.ignore.IGNORE_FILE_NAME``, not imported: a check run without an
ignore file does not load the vulnerability policy code (a test keeps the two equal)."""


@dataclass(frozen=True, slots=True)
class GateOptions:
    """The output and gate options every ``check`` command takes."""

    fmt: str | None
    output: Path | None
    fail_on: str | None
    exit_code: int | None
    show_passed: bool
    ignorefile: Path | None
    console: ConsoleOptions


_GATE_FIELDS = ("fmt", "output", "fail_on", "exit_code", "show_passed", "ignorefile")
_GATE_OPTIONS = (
    click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Output format."),
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
    click.option(
        "--ignorefile",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"Accepted results, with reasons and expiry (default: ./{_IGNORE_FILE} if present).",
    ),
)


def _gate_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the gate and Console options; the command receives them as ``gate: GateOptions``."""

    @functools.wraps(command)
    def wrapper(*args: Any, console: ConsoleOptions, **kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in _GATE_FIELDS}
        return command(*args, gate=GateOptions(**fields, console=console), **kwargs)

    decorated: Any = console_options(wrapper)
    for option in reversed(_GATE_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]  # click's decorators are untyped here


def _finish(
    ui: UI,
    target: str,
    results: Sequence[Result],
    secrets: Sequence[SecretFinding],
    gate: GateOptions,
    *,
    image: ArtifactInfo | None = None,
    host: str | None = None,
) -> None:
    """Apply the ignore file, write the report, publish it and fail the gate if the report
    (or the Console's policy) says so. ``image`` is the image checked, when the result is
    one image's; ``host`` the host's name, when it is a host's."""
    threshold = gate_threshold(gate.fail_on, gate.exit_code)
    results, secrets = _apply_ignore_file(ui, results, secrets, gate.ignorefile)
    fmt = gate.fmt
    if fmt is None:
        fmt = "table" if gate.output is None and sys.stdout.isatty() else "json"

    def render(out: Any) -> None:
        if fmt == "json":
            render_json(out, target, results, secrets)
        elif fmt == "sarif":
            from stockade.report.compliance_sarif import render_sarif

            render_sarif(out, target, results, secrets)
        else:
            render_table(out, target, results, secrets, show_passed=gate.show_passed)

    if gate.output is None:
        render(sys.stdout)
        sys.stdout.flush()
    else:
        write_atomically(gate.output, render)
        ui.info(f"wrote {len(results)} results and {len(secrets)} secrets to {gate.output}")
    failure = _gate_failure(results, secrets, threshold, gate.exit_code)
    if not gate.console.wanted:
        if failure is not None:
            raise failure
        return
    from stockade.cli.publishing import finish, talk_to_console
    from stockade.report.compliance import results_to_dict

    subject = Target(name=target, host=gate.console.host or host)
    if image is not None and subject.host is None:
        subject = Target(
            name=target,
            digest=image.digest,
            references=image_references(
                image.repo_tags, image.repo_digests, image.kind, image.name
            ),
        )
    document = results_to_dict(target, results, secrets)
    outcome = talk_to_console(ui, gate.console, "compliance", document, subject)
    finish(ui, outcome, failure, gate.exit_code)


def _gate_failure(
    results: Sequence[Result],
    secrets: Sequence[SecretFinding],
    threshold: Severity | None,
    exit_code: int | None,
) -> PolicyFailure | None:
    if threshold is None:
        return None
    failing = [r for r in results if r.status is Status.FAILED and r.check.severity >= threshold]
    leaks = [s for s in secrets if s.severity >= threshold]
    if not failing and not leaks:
        return None
    what = []
    if failing:
        what.append(f"{len(failing)} failed check(s)")
    if leaks:
        what.append(f"{len(leaks)} secret(s)")
    bar = threshold_words(threshold)
    return PolicyFailure(
        f"policy failed: {' and '.join(what)} at {bar} or above",
        hint="fix what the report lists; each check says how",
        exit_code=exit_code or 1,
    )


def _apply_ignore_file(
    ui: UI,
    results: Sequence[Result],
    secrets: Sequence[SecretFinding],
    ignorefile: Path | None,
) -> tuple[Sequence[Result], Sequence[SecretFinding]]:
    if ignorefile is None:
        if not Path(_IGNORE_FILE).is_file():
            return results, secrets
        ignorefile = Path(_IGNORE_FILE)
    from stockade.compliance.suppress import apply_ignore_entries
    from stockade.policy.ignore import load_ignore_file

    done = apply_ignore_entries(results, secrets, load_ignore_file(ignorefile), date.today())
    for notice in done.notices:
        ui.warn(str(notice))
    if done.hidden_secrets:
        ui.info(f"{done.hidden_secrets} secret(s) suppressed by {ignorefile}")
    return done.results, done.secrets


class _CheckGroup(click.Group):
    """``stockade check TARGET…`` runs the checks TARGET calls for; ``stockade check KIND
    …`` runs one kind. A first argument that is not a kind is a target."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [_AUTO, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] TARGET... | KIND [ARGS]...")


_AUTO = "auto"


@click.group(cls=_CheckGroup)
def check() -> None:
    """Check configurations and artifacts for misconfigurations and secrets.

    \b
    stockade check TARGET...   detect what each TARGET is and run its checks:
      a directory or file of Kubernetes manifests, Dockerfiles, ECS task definitions
      and Lambda configurations; an image (tarball, OCI layout, zip, registry
      reference). Options: see `stockade check auto --help`.
    stockade check KIND ...    one kind of check, with its own options (below).
    """


@check.command(_AUTO)
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--secrets",
    "with_secrets",
    is_flag=True,
    help="Also look for secrets in every target (gitleaks' rules).",
)
@click.option(
    "--max-age",
    "max_age_days",
    type=click.IntRange(min=1),
    default=180,
    show_default=True,
    help="For images: fail the image-age check past this many days.",
)
@click.option(
    "--trusted-registry",
    "trusted_registries",
    multiple=True,
    metavar="PREFIX",
    help="For images: a registry (or registry/namespace) images and their base images "
    "may come from (repeatable; STK-IMG-009).",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Gatekeeper ConstraintTemplates and Constraints (files or directories) to review "
    "Kubernetes objects with, beside the built-in checks (repeatable).",
)
@_gate_options
@artifact_options
@click.pass_obj
def check_auto(
    ui: UI,
    targets: Sequence[str],
    with_secrets: bool,
    max_age_days: int,
    trusted_registries: Sequence[str],
    policies: Sequence[Path],
    gate: GateOptions,
    artifact: ArtifactOptions,
) -> None:
    """Detect what each TARGET is and run the checks it calls for."""
    from stockade.compliance.targets import ConfigKind, find_config_files, is_image_target

    results: list[Result] = []
    secrets: list[SecretFinding] = []
    config_paths: list[Path] = []
    images: list[ArtifactInfo] = []
    for target in targets:
        if artifact.artifact_type is not None or is_image_target(target):
            found_results, info = _image_results(
                ui, target, artifact, max_age_days, trusted_registries
            )
            results.extend(found_results)
            images.append(info)
        else:
            config_paths.append(Path(target))
        if with_secrets:
            secrets.extend(_secret_findings(ui, target, artifact, None))
    if config_paths:
        found = find_config_files(config_paths)
        if not found and not with_secrets:
            raise UsageError(
                f"nothing to check in {', '.join(str(p) for p in config_paths)}",
                hint="give Kubernetes manifests, Dockerfiles, task definitions, function "
                "configurations or an image",
            )
        results.extend(_manifest_results(ui, found.of(ConfigKind.KUBERNETES), policies=policies))
        results.extend(_dockerfile_results(ui, found.of(ConfigKind.DOCKERFILE)))
        for path in found.of(ConfigKind.TASK_DEFINITION) + found.of(ConfigKind.FUNCTION):
            results.extend(_serverless_results(path, ()))
    # One image alone is that image's result; anything more is filed under its targets.
    image = images[0] if len(targets) == 1 and images else None
    _finish(ui, ", ".join(targets), results, secrets, gate, image=image)


def _image_results(
    ui: UI,
    target: str,
    artifact: ArtifactOptions,
    max_age_days: int,
    trusted_registries: Sequence[str],
) -> tuple[list[Result], ArtifactInfo]:
    from stockade.artifact import open_artifact
    from stockade.compliance.image import check_image

    with open_artifact(target, artifact.artifact_type, **source_options(ui, artifact)) as source:
        results = check_image(
            source, max_age_days=max_age_days, trusted_registries=trusted_registries
        )
        return results, source.info()


def _secret_findings(
    ui: UI, target: str, artifact: ArtifactOptions, rules: Path | None, *, profile: str = "default"
) -> list[SecretFinding]:
    from stockade.artifact import open_artifact
    from stockade.compliance.secrets import builtin_rules, load_rules, scan_secrets

    rule_set = load_rules(rules) if rules is not None else builtin_rules(profile)
    with open_artifact(target, artifact.artifact_type, **source_options(ui, artifact)) as source:
        return list(scan_secrets(source, rule_set))


def _manifest_results(
    ui: UI, files: Sequence[Path], *, strict: bool = False, policies: Sequence[Path] = ()
) -> list[Result]:
    """Every check (and the Gatekeeper constraints in ``policies``) over the objects in
    ``files``. A file that cannot be loaded is reported and skipped; with ``strict``, none
    loading at all is an error."""
    from stockade.compliance.kubernetes import check_manifests, load_manifests

    resources = []
    unreadable: list[StockadeError] = []
    for file in files:
        try:
            resources.extend(load_manifests(file))
        except StockadeError as exc:
            unreadable.append(exc)
            ui.warn(f"{exc.message}; skipped")
    if strict and unreadable and len(unreadable) == len(files):
        raise unreadable[0]
    results = check_manifests(resources)
    if policies:
        from stockade.admission.gatekeeper import GatekeeperEngine
        from stockade.admission.gatekeeper.checks import gatekeeper_results

        results.extend(gatekeeper_results(GatekeeperEngine.from_paths(policies), resources))
    return results


def _dockerfile_results(ui: UI, files: Sequence[Path]) -> list[Result]:
    from stockade.compliance.dockerfile import check_dockerfile, read_dockerfile

    results: list[Result] = []
    for file in files:
        try:
            results.extend(check_dockerfile(read_dockerfile(file)))
        except StockadeError as exc:
            if len(files) == 1:
                raise
            ui.warn(f"{exc.message}; skipped")
    return results


def _serverless_results(document: Path, policies: Sequence[Path]) -> list[Result]:
    from stockade.compliance.serverless import (
        check_function_configuration,
        check_task_definition,
    )
    from stockade.compliance.targets import ConfigKind, json_document_kind

    doc = _json_file(document)
    if json_document_kind(doc) is ConfigKind.TASK_DEFINITION:
        return check_task_definition(doc, name=document.name)
    return check_function_configuration(doc, policies=[_json_file(p) for p in policies])


@check.command("k8s")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Gatekeeper ConstraintTemplates and Constraints (files or directories) to review "
    "Kubernetes objects with, beside the built-in checks (repeatable).",
)
@_gate_options
@click.pass_obj
def check_k8s(
    ui: UI,
    paths: Sequence[Path],
    policies: Sequence[Path],
    gate: GateOptions,
) -> None:
    """Check Kubernetes manifests (YAML or JSON files, or directories of them)."""
    files = _files(paths, (".yaml", ".yml", ".json"))
    results = _manifest_results(ui, files, strict=True, policies=policies)
    _finish(ui, ", ".join(str(p) for p in paths), results, (), gate)


@check.command("dockerfile")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_gate_options
@click.pass_obj
def check_dockerfile_command(
    ui: UI,
    paths: Sequence[Path],
    gate: GateOptions,
) -> None:
    """Check Dockerfiles (files, or directories searched for Dockerfile*/*.Dockerfile)."""
    from stockade.compliance.targets import ConfigKind, find_config_files

    files = [
        file
        for path in paths
        for file in (
            find_config_files([path]).of(ConfigKind.DOCKERFILE) if path.is_dir() else [path]
        )
    ]
    if not files:
        raise UsageError(f"no Dockerfile in {', '.join(str(p) for p in paths)}")
    _finish(ui, ", ".join(str(p) for p in paths), _dockerfile_results(ui, files), (), gate)


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
@click.option(
    "--trusted-registry",
    "trusted_registries",
    multiple=True,
    metavar="PREFIX",
    help="For images: a registry (or registry/namespace) images and their base images "
    "may come from (repeatable; STK-IMG-009).",
)
@_gate_options
@artifact_options
@click.pass_obj
def check_image_command(
    ui: UI,
    target: str,
    max_age_days: int,
    trusted_registries: Sequence[str],
    gate: GateOptions,
    artifact: ArtifactOptions,
) -> None:
    """Check an image (or a directory or zip) against the CIS Docker Benchmark's image items."""
    results, info = _image_results(ui, target, artifact, max_age_days, trusted_registries)
    _finish(ui, target, results, (), gate, image=info)


@check.command("secrets")
@click.argument("target")
@click.option(
    "--config",
    "rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A gitleaks-format TOML rule file (default: gitleaks' rules, shipped with Stockade).",
)
@click.option(
    "--profile",
    type=click.Choice(("default", "thorough")),
    default="default",
    show_default=True,
    help="Built-in rules: gitleaks' (default), or those plus keyword and high-entropy "
    "rules for detect-secrets-like recall (thorough; noisier).",
)
@_gate_options
@artifact_options
@click.pass_obj
def check_secrets(
    ui: UI,
    target: str,
    rules: Path | None,
    profile: str,
    gate: GateOptions,
    artifact: ArtifactOptions,
) -> None:
    """Find secrets in TARGET: an image, a directory, a zip, a registry image."""
    if rules is not None and profile != "default":
        raise UsageError("give --config or --profile, not both")
    found = _secret_findings(ui, target, artifact, rules, profile=profile)
    _finish(ui, target, (), found, gate)


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
    gate: GateOptions,
) -> None:
    """Check a host's files under ROOT (default /): sshd, account files, kubelet, API server."""
    from stockade.compliance.host import check_host, load_benchmark

    benchmark = load_benchmark(benchmark_dir) if benchmark_dir else ()
    if run_audits:
        ui.warn("--run-audits: running the benchmark's audit commands with /bin/sh")
    results = check_host(root, run_audits=run_audits, benchmark=benchmark)
    # Publishing this machine's own check files it under this machine's name.
    host = socket.gethostname() if root.resolve() == Path("/") else None
    _finish(ui, str(root), results, (), gate, host=host)


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
    gate: GateOptions,
) -> None:
    """Check an ECS/Fargate task definition or a Lambda function configuration (AWS JSON)."""
    _finish(ui, str(document), _serverless_results(document, policies), (), gate)


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
