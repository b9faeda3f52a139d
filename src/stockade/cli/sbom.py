"""``stockade sbom TARGET``: list every package in an artifact."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stockade.cli.artifacts import ArtifactOptions, artifact_options, output_option, read_inventory
from stockade.cli.output import UI, write_atomically
from stockade.report import SBOM_FORMATS, sbom_renderer


@click.command()
@click.argument("target")
@output_option(SBOM_FORMATS)
@artifact_options
@click.pass_obj
def sbom(
    ui: UI,
    target: str,
    fmt: str | None,
    output: Path | None,
    artifact: ArtifactOptions,
) -> None:
    """List every package in TARGET as an SBOM.

    TARGET is a docker-archive tarball, an OCI layout (directory or tar), a root
    filesystem directory (/ for this host), a zip (a serverless function package), or
    an image reference pulled from a registry.
    """
    inventory = read_inventory(ui, target, artifact)
    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "json"
    renderer = sbom_renderer(fmt)
    if output is None:
        renderer.render(inventory, sys.stdout)
        return
    write_atomically(output, lambda fh: renderer.render(inventory, fh))
    ui.info(f"wrote {len(inventory.packages)} packages to {output}")
