"""``stockade scan TARGET``: the vulnerabilities of every package in an artifact, gated for CI."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from stockade.cli.artifacts import ArtifactOptions, artifact_options, output_option, read_inventory
from stockade.cli.output import (
    SEVERITY_NAMES,
    UI,
    gate_threshold,
    parse_severity,
    threshold_words,
    write_atomically,
)
from stockade.cli.publishing import ConsoleOptions, console_options
from stockade.core.advisory import Severity
from stockade.core.errors import PolicyFailure, UsageError
from stockade.core.finding import ScanResult
from stockade.core.models import Inventory
from stockade.inventory.cyclonedx_input import looks_like_cyclonedx, read_cyclonedx
from stockade.match.scan import scan_inventory
from stockade.policy.gate import failing_findings, filter_findings
from stockade.policy.ignore import (
    IGNORE_FILE_NAME,
    IgnoreEntry,
    apply_ignores,
    load_ignore_file,
)
from stockade.policy.vex import apply_vex, load_vex
from stockade.report.cyclonedx import image_purl
from stockade.report.interface import SCAN_FORMATS, scan_renderer
from stockade.vulndb.store import AdvisoryStore


def _severities(value: str | None) -> set[Severity] | None:
    if not value:
        return None
    return {parse_severity(part) for part in value.split(",") if part.strip()}


@click.command()
@click.argument("target")
@output_option(SCAN_FORMATS)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="STOCKADE_DB",
    help="Advisory store to use (or STOCKADE_DB; default: the user data directory, "
    "installed from the bundled data on first use).",
)
@click.option(
    "--severity",
    metavar="LIST",
    help=f"Report only these severities, comma-separated ({','.join(SEVERITY_NAMES)}).",
)
@click.option("--ignore-unfixed", is_flag=True, help="Report only findings a fix exists for.")
@click.option(
    "--fail-on",
    metavar="SEVERITY",
    help="Fail (exit 1, or --exit-code) when a finding at or above SEVERITY remains.",
)
@click.option(
    "--exit-code",
    type=click.IntRange(min=1, max=125),
    default=None,
    help="Exit status when the gate fails (default 1); alone, fail on any finding.",
)
@click.option(
    "--ignorefile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Ignore file (default: ./{IGNORE_FILE_NAME} when present).",
)
@click.option(
    "--vex",
    "vex_paths",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="OpenVEX or CycloneDX VEX document marking findings not affected (repeatable).",
)
@click.option("--include-dev", is_flag=True, help="Also match development-only packages.")
@console_options
@artifact_options
@click.pass_obj
def scan(
    ui: UI,
    target: str,
    fmt: str | None,
    output: Path | None,
    db_path: Path | None,
    severity: str | None,
    ignore_unfixed: bool,
    fail_on: str | None,
    exit_code: int | None,
    ignorefile: Path | None,
    vex_paths: Sequence[Path],
    include_dev: bool,
    console: ConsoleOptions,
    artifact: ArtifactOptions,
) -> None:
    """Find the known vulnerabilities of every package in TARGET.

    TARGET is anything `stockade sbom` reads (an image tarball, an OCI layout, a
    directory, a zip, a registry image) or a CycloneDX SBOM file. Exit status: 0 when
    the gate passes, 1 (or --exit-code) when it fails, 2 for bad input, 3 for a bug, 4
    when the Console could not be reached or refused (--publish, --policy-from).
    """
    severities = _severities(severity)
    threshold = gate_threshold(fail_on, exit_code)
    ignore_entries: tuple[IgnoreEntry, ...] = ()
    if ignorefile is not None:
        ignore_entries = load_ignore_file(ignorefile)
    elif Path(IGNORE_FILE_NAME).is_file():
        ignore_entries = load_ignore_file(IGNORE_FILE_NAME)
    vex_documents = [load_vex(path) for path in vex_paths]

    inventory = _inventory(ui, target, artifact)
    with _open_store(ui, db_path) as store:
        warn = ui.warn if not ui.quiet else None
        result = scan_inventory(
            inventory, store, include_dev=include_dev, advisories_age=_age(store), warn=warn
        )

    image = image_purl(inventory.artifact)
    findings = apply_vex(
        result.findings, vex_documents, artifact_purl=image.to_string() if image else None
    )
    findings, notices = apply_ignores(findings, ignore_entries, dt.date.today())
    for notice in notices:
        ui.warn(str(notice))
    shown = filter_findings(findings, severities, ignore_unfixed)
    result = ScanResult(
        inventory=result.inventory, findings=shown, advisories_age=result.advisories_age
    )

    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "json"
    renderer = scan_renderer(fmt)
    if output is None:
        renderer.render(result, sys.stdout)
        sys.stdout.flush()
    else:
        write_atomically(output, lambda fh: renderer.render(result, fh))
        ui.info(f"wrote {len(shown)} findings to {output}")

    failure: PolicyFailure | None = None
    failing = failing_findings(shown, threshold)
    if failing and threshold is not None:  # failing is empty without a threshold
        worst = max(f.severity for f in failing)
        bar = threshold_words(threshold)
        failure = PolicyFailure(
            f"policy failed: {len(failing)} finding(s) at {bar} or above (worst: {worst})",
            hint="fix or upgrade the packages, or record an accepted risk in "
            f"{IGNORE_FILE_NAME} with a reason and an expiry date",
            exit_code=exit_code or 1,
        )
    if console.wanted:
        full = ScanResult(
            inventory=result.inventory, findings=findings, advisories_age=result.advisories_age
        )
        _console(ui, console, full, failure, exit_code)
    elif failure is not None:
        raise failure


def _console(
    ui: UI,
    console: ConsoleOptions,
    result: ScanResult,
    failure: PolicyFailure | None,
    exit_code: int | None,
) -> None:
    """Publish the whole result (every finding, whatever --severity showed, and the
    packages) and gate on the Console's rule for this artifact, as the options ask."""
    from stockade.cli.publishing import Target, finish, image_references, talk_to_console
    from stockade.report.json import inventory_to_dict
    from stockade.report.scan_json import scan_to_dict

    document = scan_to_dict(result)
    document["packages"] = inventory_to_dict(result.inventory)["packages"]
    art = result.inventory.artifact
    target = Target(
        name=art.name,
        digest=art.digest,
        references=image_references(art.repo_tags, art.repo_digests, art.kind, art.name),
        host=console.host,
    )
    outcome = talk_to_console(ui, console, "vulnerabilities", document, target)
    finish(ui, outcome, failure, exit_code)


def _inventory(ui: UI, target: str, artifact: ArtifactOptions) -> Inventory:
    path = Path(target)
    if artifact.artifact_type is None and looks_like_cyclonedx(path):
        return read_cyclonedx(path)
    return read_inventory(ui, target, artifact)


def _open_store(ui: UI, db_path: Path | None) -> AdvisoryStore:
    if db_path is not None:
        if not db_path.is_file():
            raise UsageError(
                f"{db_path}: no advisory store there",
                hint="create one with `stockade db import PATH --db FILE`, or leave out "
                "--db to use the bundled data",
            )
        return AdvisoryStore.open(db_path, read_only=True)
    from stockade.vulndb.bundle import ensure_store

    return ensure_store(info=ui.info)


def _age(store: AdvisoryStore) -> str:
    """The age of the oldest source's data: what a reader should weigh the report by."""
    from stockade.vulndb.update import describe_store

    dates = sorted(r.as_of for r in describe_store(store.path) if r.advisories and r.as_of)
    if not dates:
        return "" if len(store) else "no advisory data"
    if dates[0].date() == dates[-1].date():
        return f"as of {dates[-1]:%Y-%m-%d}"
    return f"sources as of {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"
