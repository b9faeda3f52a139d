"""The engine squashes per-layer results as a container runtime applies layers."""

from __future__ import annotations

import pytest

from stockade.artifact.interface import Limits
from stockade.artifact.memory import OPAQUE, MemorySource
from stockade.core.errors import UnsafeArtifactError
from stockade.core.models import OSInfo, Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import (
    CatalogContext,
    Cataloger,
    CatalogResult,
    FileContent,
)


class LinesCataloger(Cataloger):
    """Test cataloger: each line `name version` of a `pkgs.txt` file is a pypi package."""

    name = "lines"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path.endswith("pkgs.txt")

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        pkgs = []
        for line in file.text().splitlines():
            name, version = line.split()
            pkgs.append(Package(name=name, version=version, type=PackageType.PYPI))
        return CatalogResult(packages=pkgs)


class OSCataloger(Cataloger):
    name = "os"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path == "etc/os-release"

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        fields = dict(line.split("=", 1) for line in file.text().splitlines() if "=" in line)
        return CatalogResult(os=OSInfo(family=fields["ID"], version=fields["VERSION_ID"]))


class DebCataloger(Cataloger):
    name = "deb"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return path == "var/lib/dpkg/status"

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        return CatalogResult(
            packages=[
                Package(name=n, version="1.0-1", type=PackageType.DEB, arch="amd64")
                for n in file.text().split()
            ]
        )


def names(source: MemorySource, workers: int = 1) -> set[tuple[str, str]]:
    inv = build_inventory(source, [LinesCataloger()], workers=workers)
    return {(p.name, p.version) for p in inv.packages}


@pytest.mark.parametrize("workers", [1, 2])
def test_later_layer_replaces_and_whiteout_deletes(workers: int) -> None:
    source = MemorySource(
        [
            {"app/pkgs.txt": "a 1\nb 1\n", "old/pkgs.txt": "gone 1\n"},
            {"app/pkgs.txt": "a 2\n", "old/pkgs.txt": None},
        ]
    )
    assert names(source, workers) == {("a", "2")}


@pytest.mark.parametrize("workers", [1, 2])
def test_whiteout_of_a_directory_removes_everything_below(workers: int) -> None:
    source = MemorySource(
        [{"opt/x/pkgs.txt": "x 1\n", "opt/xy/pkgs.txt": "xy 1\n"}, {"opt/x": None}]
    )
    # `opt/x` is deleted, `opt/xy` only shares a prefix and stays.
    assert names(source, workers) == {("xy", "1")}


def test_opaque_directory_hides_earlier_layers_only() -> None:
    source = MemorySource(
        [
            {"srv/pkgs.txt": "early 1\n", "keep/pkgs.txt": "keep 1\n"},
            {"srv": OPAQUE, "srv/sub/pkgs.txt": "late 1\n"},
        ]
    )
    assert names(source) == {("keep", "1"), ("late", "1")}


def test_whiteout_then_recreate_in_same_layer_keeps_new_file() -> None:
    source = MemorySource([{"d/pkgs.txt": "v 1\n"}, {"d/pkgs.txt": None}, {"d/pkgs.txt": "v 3\n"}])
    assert names(source) == {("v", "3")}


def test_locations_name_the_introducing_layer() -> None:
    source = MemorySource([{"a/pkgs.txt": "a 1\n"}, {"b/pkgs.txt": "b 1\n"}])
    inv = build_inventory(source, [LinesCataloger()], workers=1)
    layers = [layer.diff_id for layer in inv.artifact.layers]
    by_name = {p.name: p for p in inv.packages}
    assert by_name["a"].locations[0].path == "a/pkgs.txt"
    assert by_name["a"].locations[0].layer == layers[0]
    assert by_name["b"].locations[0].layer == layers[1]


def test_same_package_in_two_files_is_one_package_with_two_locations() -> None:
    source = MemorySource([{"a/pkgs.txt": "dup 1\n", "b/pkgs.txt": "dup 1\n"}])
    inv = build_inventory(source, [LinesCataloger()], workers=1)
    assert len(inv.packages) == 1
    assert [loc.path for loc in inv.packages[0].locations] == ["a/pkgs.txt", "b/pkgs.txt"]


def test_os_packages_get_distro_qualified_purls() -> None:
    source = MemorySource(
        [{"etc/os-release": "ID=debian\nVERSION_ID=12\n", "var/lib/dpkg/status": "bash zlib1g"}]
    )
    inv = build_inventory(source, [OSCataloger(), DebCataloger()], workers=1)
    assert inv.os == OSInfo(family="debian", version="12")
    assert {p.purl for p in inv.packages} == {
        "pkg:deb/debian/bash@1.0-1?arch=amd64&distro=debian-12",
        "pkg:deb/debian/zlib1g@1.0-1?arch=amd64&distro=debian-12",
    }


def test_two_catalogers_wanting_one_file_each_get_all_bytes() -> None:
    class Second(LinesCataloger):
        name = "second"

        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            res = super().parse(file, ctx)
            return CatalogResult(
                packages=[p.__class__(**{**_fields(p), "version": "9"}) for p in res.packages]
            )

    source = MemorySource([{"pkgs.txt": "a 1\n"}])
    inv = build_inventory(source, [LinesCataloger(), Second()], workers=1)
    assert {(p.name, p.version) for p in inv.packages} == {("a", "1"), ("a", "9")}


def _fields(p: Package) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__slots__}  # type: ignore[attr-defined]


def test_entry_limit_stops_a_bomb() -> None:
    source = MemorySource([{f"f{i}": b"" for i in range(50)}])
    with pytest.raises(UnsafeArtifactError, match="entries"):
        build_inventory(source, [LinesCataloger()], limits=Limits(max_entries=10), workers=1)


def test_size_limit_stops_a_bomb() -> None:
    source = MemorySource([{"big": b"x" * 1000}])
    with pytest.raises(UnsafeArtifactError, match="bytes"):
        build_inventory(source, [LinesCataloger()], limits=Limits(max_total_bytes=100), workers=1)


def test_malformed_file_is_a_warning_not_a_crash() -> None:
    class Strict(LinesCataloger):
        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            from stockade.core.errors import CatalogError

            raise CatalogError("bad lockfile")

    warnings: list[str] = []
    source = MemorySource([{"pkgs.txt": "a 1\n"}])
    inv = build_inventory(source, [Strict()], workers=1, warn=warnings.append)
    assert inv.packages == ()
    assert warnings == ["pkgs.txt: bad lockfile"]
