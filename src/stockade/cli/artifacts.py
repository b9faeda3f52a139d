"""Options every command that reads an artifact shares, and reading it into an inventory."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stockade.artifact import ARTIFACT_TYPES, Limits, open_artifact
from stockade.artifact.interface import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_TOTAL_BYTES,
)
from stockade.cli.output import UI

if TYPE_CHECKING:
    from stockade.core.models import Inventory

_FILESYSTEM_KINDS = {"rootfs", "zip"}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ArtifactOptions:
    artifact_type: str | None
    max_size: int
    max_entries: int
    max_file_size: int
    workers: int | None
    platform: str | None
    insecure_registry: bool
    username: str | None
    password: str | None


_OPTIONS = (
    click.option(
        "--type",
        "artifact_type",
        type=click.Choice(ARTIFACT_TYPES),
        help="Force the artifact type instead of detecting it.",
    ),
    click.option(
        "--max-size",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_TOTAL_BYTES,
        show_default=True,
        help="Largest total uncompressed size accepted, in bytes (tar/zip bomb guard).",
    ),
    click.option(
        "--max-entries",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_ENTRIES,
        show_default=True,
        help="Most archive entries accepted (tar/zip bomb guard).",
    ),
    click.option(
        "--max-file-size",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_FILE_BYTES,
        show_default=True,
        help="Largest single file catalogued, in bytes (larger ones are skipped with a warning).",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Layers analysed in parallel (default: the CPU count).",
    ),
    click.option(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="Image to pick from a multi-platform image (default: linux/amd64).",
    ),
    click.option(
        "--insecure-registry",
        is_flag=True,
        help="Use plain HTTP for the registry (local registries only).",
    ),
    click.option(
        "--username",
        envvar="STOCKADE_REGISTRY_USERNAME",
        help="Registry user (or STOCKADE_REGISTRY_USERNAME).",
    ),
    click.option(
        "--password",
        envvar="STOCKADE_REGISTRY_PASSWORD",
        help="Registry password or token (or STOCKADE_REGISTRY_PASSWORD).",
    ),
)


def artifact_options(command: F) -> F:
    """Adds the artifact options; the command receives them as ``artifact: ArtifactOptions``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in ArtifactOptions.__slots__}
        return command(*args, artifact=ArtifactOptions(**fields), **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]  # click's decorators are untyped here


def source_options(ui: UI, options: ArtifactOptions) -> dict[str, object]:
    """The keyword arguments of :func:`open_artifact` that the options ask for."""
    extra: dict[str, object] = {}
    if options.platform:
        extra["platform"] = options.platform
    if options.insecure_registry:
        ui.warn("--insecure-registry: talking plain HTTP, nothing is protected in transit")
        extra["insecure"] = True
    if options.username or options.password:
        extra["username"] = options.username
        extra["password"] = options.password
    return extra


def read_inventory(ui: UI, target: str, options: ArtifactOptions) -> Inventory:
    """Open ``target`` and inventory it, with progress on a terminal."""
    # Imported here: `check` shares these options and never catalogues packages.
    from stockade.inventory.interface import CatalogContext, ScanMode
    from stockade.inventory.registry import default_catalogers

    limits = Limits(
        max_total_bytes=options.max_size,
        max_entries=options.max_entries,
        max_file_bytes=options.max_file_size,
    )
    with open_artifact(target, options.artifact_type, **source_options(ui, options)) as source:
        kind = source.info().kind
        ctx = CatalogContext(
            mode=ScanMode.FILESYSTEM if kind in _FILESYSTEM_KINDS else ScanMode.IMAGE
        )
        from stockade.inventory.engine import build_inventory  # loaded when used

        with ui.progress(f"cataloguing {target}") as progress:
            return build_inventory(
                source,
                default_catalogers(),
                ctx=ctx,
                limits=limits,
                workers=options.workers,
                progress=progress,
                warn=ui.warn if not ui.quiet else None,
            )


def output_option(formats: tuple[str, ...]) -> Callable[[F], F]:
    """``-f/--format`` and ``-o/--output``."""

    def decorate(command: F) -> F:
        command = click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write to FILE instead of standard output.",
        )(command)
        return click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(formats),
            help="Output format (default: table at a terminal, json otherwise).",
        )(command)

    return decorate
