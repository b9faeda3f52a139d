"""``stockade sbom TARGET``: list every package in an artifact."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stockade.artifact import ARTIFACT_TYPES, Limits, open_artifact
from stockade.artifact.interface import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_TOTAL_BYTES,
)
from stockade.cli.output import UI, write_atomically
from stockade.inventory import ScanMode, build_inventory, default_catalogers
from stockade.inventory.interface import CatalogContext
from stockade.report import SBOM_FORMATS, sbom_renderer

_FILESYSTEM_KINDS = {"rootfs", "zip"}


@click.command()
@click.argument("target")
@click.option(
    "--type",
    "artifact_type",
    type=click.Choice(ARTIFACT_TYPES),
    help="Force the artifact type instead of detecting it.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(SBOM_FORMATS),
    help="Output format (default: table at a terminal, json otherwise).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--max-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_TOTAL_BYTES,
    show_default=True,
    help="Largest total uncompressed size accepted, in bytes (tar/zip bomb guard).",
)
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ENTRIES,
    show_default=True,
    help="Most archive entries accepted (tar/zip bomb guard).",
)
@click.option(
    "--max-file-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILE_BYTES,
    show_default=True,
    help="Largest single file catalogued, in bytes (larger ones are skipped with a warning).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Layers analysed in parallel (default: the CPU count).",
)
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Image to pick from a multi-platform image (default: linux/amd64).",
)
@click.option(
    "--insecure-registry",
    is_flag=True,
    help="Use plain HTTP for the registry (local registries only).",
)
@click.option(
    "--username",
    envvar="STOCKADE_REGISTRY_USERNAME",
    help="Registry user (or STOCKADE_REGISTRY_USERNAME).",
)
@click.option(
    "--password",
    envvar="STOCKADE_REGISTRY_PASSWORD",
    help="Registry password or token (or STOCKADE_REGISTRY_PASSWORD).",
)
@click.pass_obj
def sbom(
    ui: UI,
    target: str,
    artifact_type: str | None,
    fmt: str | None,
    output: Path | None,
    max_size: int,
    max_entries: int,
    max_file_size: int,
    workers: int | None,
    platform: str | None,
    insecure_registry: bool,
    username: str | None,
    password: str | None,
) -> None:
    """List every package in TARGET as an SBOM.

    TARGET is a docker-archive tarball, an OCI layout (directory or tar), a root
    filesystem directory (/ for this host), a zip (a serverless function package), or
    an image reference pulled from a registry.
    """
    limits = Limits(max_total_bytes=max_size, max_entries=max_entries, max_file_bytes=max_file_size)
    options: dict[str, object] = {}
    if platform:
        options["platform"] = platform
    if insecure_registry:
        ui.warn("--insecure-registry: talking plain HTTP, nothing is protected in transit")
        options["insecure"] = True
    if username or password:
        options["username"] = username
        options["password"] = password
    with open_artifact(target, artifact_type, **options) as source:
        kind = source.info().kind
        ctx = CatalogContext(
            mode=ScanMode.FILESYSTEM if kind in _FILESYSTEM_KINDS else ScanMode.IMAGE
        )
        with ui.progress(f"cataloguing {target}") as progress:
            inventory = build_inventory(
                source,
                default_catalogers(),
                ctx=ctx,
                limits=limits,
                workers=workers,
                progress=progress,
                warn=ui.warn if not ui.quiet else None,
            )
    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "json"
    renderer = sbom_renderer(fmt)
    if output is None:
        renderer.render(inventory, sys.stdout)
        return
    write_atomically(output, lambda fh: renderer.render(inventory, fh))
    ui.info(f"wrote {len(inventory.packages)} packages to {output}")
