"""End to end: real image tarballs through the engine, squashed as a container runtime would.

Each image format (docker-archive in both layouts, OCI layout as a directory and as a
tar) and each layer compression must give the same inventory, with one worker process
or several.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.artifact.imagebuilder import (
    OPAQUE,
    WHITEOUT,
    Compression,
    Hardlink,
    OCIImage,
    PkgListCataloger,
    Symlink,
    build_layers,
    docker_archive,
    oci_layout,
)

from stockade.artifact.detect import open_artifact
from stockade.artifact.interface import Source
from stockade.inventory.engine import build_inventory

LAYERS: list[dict[str, Any]] = [
    {
        "etc/test-pkgs": "a 1\nb 1\n",
        "opt/app/test-pkgs": "c 1\n",
        "var/lib/x/test-pkgs": "d 1\n",
        "keep/test-pkgs": "k 1\n",
    },
    {
        "etc/test-pkgs": "a 2\n",  # replaces layer 1's file
        "opt/app": WHITEOUT,  # deletes the whole directory
        "var/lib/x/": OPAQUE,  # hides layer 1's content below var/lib/x ...
        "var/lib/x/new/test-pkgs": "e 1\n",  # ... but not this layer's own
    },
    {
        "srv/test-pkgs": "h 1\n",
        "srv2/test-pkgs": Hardlink("srv/test-pkgs"),
        "link-to-etc": Symlink("/etc"),  # never followed: no second copy of etc/test-pkgs
    },
]
EXPECTED = {("a", "2"), ("k", "1"), ("e", "1"), ("h", "1")}

Builder = Callable[[Path, list[Compression]], Path]


def as_docker_legacy(tmp: Path, compression: list[Compression]) -> Path:
    return docker_archive(tmp / "legacy.tar", LAYERS, compression=compression, form="legacy")


def as_docker_blobs(tmp: Path, compression: list[Compression]) -> Path:
    return docker_archive(tmp / "blobs.tar", LAYERS, compression=compression, form="blobs")


def as_oci_dir(tmp: Path, compression: list[Compression]) -> Path:
    return oci_layout(tmp / "layout", [OCIImage(LAYERS, compression=compression)])


def as_oci_tar(tmp: Path, compression: list[Compression]) -> Path:
    return oci_layout(tmp / "layout.tar", [OCIImage(LAYERS, compression=compression)], as_tar=True)


BUILDERS = {
    "docker-legacy": as_docker_legacy,
    "docker-blobs": as_docker_blobs,
    "oci-dir": as_oci_dir,
    "oci-tar": as_oci_tar,
}


def inventory_of(source: Source, workers: int) -> set[tuple[str, str]]:
    inventory = build_inventory(source, [PkgListCataloger()], workers=workers)
    return {(p.name, p.version) for p in inventory.packages}


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
@pytest.mark.parametrize(
    "compression",
    [["plain"] * 3, ["gzip"] * 3, ["zstd"] * 3, ["gzip", "zstd", "plain"]],
    ids=["plain", "gzip", "zstd", "mixed"],
)
@pytest.mark.parametrize("workers", [1, 2])
def test_layers_squash_like_a_container_runtime(
    tmp_path: Path, builder: Builder, compression: list[Compression], workers: int
) -> None:
    path = builder(tmp_path, compression)
    with open_artifact(str(path)) as source:
        assert inventory_of(source, workers) == EXPECTED


def test_locations_name_the_layer_that_brought_the_package(tmp_path: Path) -> None:
    path = as_docker_blobs(tmp_path, ["gzip"] * 3)
    diff_ids = [layer.diff_id for layer in build_layers(LAYERS, "gzip")]
    with open_artifact(str(path)) as source:
        inventory = build_inventory(source, [PkgListCataloger()], workers=2)
    where = {p.name: {(loc.path, loc.layer) for loc in p.locations} for p in inventory.packages}
    assert where["a"] == {("etc/test-pkgs", diff_ids[1])}
    assert where["e"] == {("var/lib/x/new/test-pkgs", diff_ids[1])}
    assert where["h"] == {("srv/test-pkgs", diff_ids[2]), ("srv2/test-pkgs", diff_ids[2])}


def as_zip(tmp: Path, compression: list[Compression]) -> Path:
    """A function package holding the first layer's files (zips have no layers)."""
    path = tmp / "fn.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in LAYERS[0].items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize("builder", [*BUILDERS.values(), as_zip], ids=[*BUILDERS.keys(), "zip"])
def test_cli_sbom_reads_every_format(tmp_path: Path, builder: Builder) -> None:
    path = builder(tmp_path, ["gzip", "zstd", "plain"])
    stockade = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "stockade"
    if not stockade.exists():
        pytest.skip("the stockade command is not installed in .venv")
    result = subprocess.run(
        [str(stockade), "sbom", str(path), "-f", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    if builder is as_zip:
        assert document["artifact"]["type"] == "zip"
        assert len(document["artifact"]["layers"]) == 1
    else:
        assert document["artifact"]["type"] in ("docker-archive", "oci")
        assert len(document["artifact"]["layers"]) == 3
