"""The engine squashes per-layer results as a container runtime applies layers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import pytest

from stockade.artifact.interface import Limits
from stockade.artifact.memory import OPAQUE, MemorySource
from stockade.core.errors import UnsafeArtifactError
from stockade.core.models import Location, OSInfo, Package, PackageType
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


class DevLinesCataloger(LinesCataloger):
    """``name version [dev]`` lines; files named ``*.toml`` only give facts: names to drop."""

    name = "devlines"

    def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
        return super().wants(path, size, mode, ctx) or path.endswith("drop.toml")

    def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
        if file.path.endswith("drop.toml"):
            return CatalogResult(facts={"drop": frozenset(file.text().split())})
        pkgs = []
        warnings = []
        for line in file.text().splitlines():
            fields = line.split()
            if len(fields) < 2:
                warnings.append(f"line {line!r} skipped")
                continue
            pkgs.append(
                Package(
                    name=fields[0],
                    version=fields[1],
                    type=PackageType.PYPI,
                    dev=fields[2:] == ["dev"],
                )
            )
        return CatalogResult(packages=pkgs, warnings=warnings)

    def finalize(
        self, results: Mapping[str, CatalogResult], ctx: CatalogContext
    ) -> Mapping[str, CatalogResult]:
        drop: set[str] = set()
        for result in results.values():
            drop |= cast(frozenset[str], result.facts.get("drop", frozenset()))
        return {
            path: replace(result, packages=[p for p in result.packages if p.name not in drop])
            for path, result in results.items()
        }


def test_a_cataloger_warning_reaches_the_user_with_its_path() -> None:
    warnings: list[str] = []
    source = MemorySource([{"app/pkgs.txt": "a 1\nbroken\n"}])
    inv = build_inventory(source, [DevLinesCataloger()], workers=1, warn=warnings.append)
    assert [p.name for p in inv.packages] == ["a"]
    assert warnings == ["app/pkgs.txt: line 'broken' skipped"]


@pytest.mark.parametrize("workers", [1, 2])
def test_finalize_sees_facts_of_every_layer_still_present(workers: int) -> None:
    source = MemorySource(
        [
            {"app/pkgs.txt": "a 1\nb 1\nc 1\n", "app/drop.toml": "c"},
            {"app/more-drop.toml": "b"},
            {"app/drop.toml": None},  # the first drop list is deleted again
        ]
    )
    inv = build_inventory(source, [DevLinesCataloger()], workers=workers)
    assert {(p.name, p.version) for p in inv.packages} == {("a", "1"), ("c", "1")}


def test_a_package_is_dev_only_if_every_sighting_is_dev() -> None:
    source = MemorySource([{"one/pkgs.txt": "a 1 dev\nb 1 dev\n", "two/pkgs.txt": "a 1\n"}])
    inv = build_inventory(source, [DevLinesCataloger()], workers=1)
    assert {p.name: p.dev for p in inv.packages} == {"a": False, "b": True}


def test_python_names_are_one_package_whatever_their_spelling() -> None:
    source = MemorySource([{"one/pkgs.txt": "PyYAML 6.0\n", "two/pkgs.txt": "pyyaml 6.0\n"}])
    inv = build_inventory(source, [LinesCataloger()], workers=1)
    (package,) = inv.packages
    assert package.purl == "pkg:pypi/pyyaml@6.0"
    assert len(package.locations) == 2


def test_a_preset_location_gets_its_layer() -> None:
    class Nested(LinesCataloger):
        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            res = super().parse(file, ctx)
            where = (Location(file.path + "!/inner"),)
            return CatalogResult(packages=[replace(p, locations=where) for p in res.packages])

    source = MemorySource([{}, {"lib/pkgs.txt": "a 1\n"}])
    inv = build_inventory(source, [Nested()], workers=1)
    (package,) = inv.packages
    assert package.locations == (Location("lib/pkgs.txt!/inner", inv.artifact.layers[1].diff_id),)


def test_a_package_that_cannot_have_a_purl_is_dropped_with_a_warning() -> None:
    class Blank(LinesCataloger):
        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            return CatalogResult(
                packages=[
                    Package(name=" ", version="1", type=PackageType.PYPI),
                    Package(name="ok", version="1", type=PackageType.PYPI),
                ]
            )

    warnings: list[str] = []
    inv = build_inventory(
        MemorySource([{"pkgs.txt": ""}]), [Blank()], workers=1, warn=warnings.append
    )
    assert [p.name for p in inv.packages] == ["ok"]
    assert warnings == ["pkgs.txt: a pypi package with a blank name was dropped"]


def test_catalogers_sharing_a_large_file_can_seek_in_it() -> None:
    big = b"\x7fELF" + bytes(range(256)) * (80 << 10)  # 20 MiB: spills past the memory spool

    class Tail(Cataloger):
        name = "tail"

        def wants(self, path: str, size: int, mode: int, ctx: CatalogContext) -> bool:
            return path == "bin/app"

        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            assert file.stream.seekable()
            file.stream.seek(-4, 2)
            tail = file.stream.read().hex()
            file.stream.seek(0)
            head = file.stream.read(4)
            assert head == b"\x7fELF"
            return CatalogResult(
                packages=[Package(name=self.name, version=tail, type=PackageType.GOLANG)]
            )

    class Tail2(Tail):
        name = "tail2"

    source = MemorySource([{"bin/app": big}])
    inv = build_inventory(source, [Tail(), Tail2()], workers=1)
    assert {(p.name, p.version) for p in inv.packages} == {
        ("tail", "fcfdfeff"),
        ("tail2", "fcfdfeff"),
    }


def test_multiarch_os_packages_stay_two_packages() -> None:
    class MultiArch(DebCataloger):
        def parse(self, file: FileContent, ctx: CatalogContext) -> CatalogResult:
            return CatalogResult(
                packages=[
                    Package(name="libc6", version="2.36-9", type=PackageType.DEB, arch=arch)
                    for arch in ("amd64", "i386")
                ]
            )

    source = MemorySource([{"var/lib/dpkg/status": "x"}])
    inv = build_inventory(source, [MultiArch()], workers=1)
    assert sorted(p.arch or "" for p in inv.packages) == ["amd64", "i386"]


def test_warnings_from_finalize_reach_the_user() -> None:
    class Complaining(DevLinesCataloger):
        def finalize(
            self, results: Mapping[str, CatalogResult], ctx: CatalogContext
        ) -> Mapping[str, CatalogResult]:
            return {
                path: replace(result, warnings=("manifest and lock disagree",))
                for path, result in results.items()
            }

    warnings: list[str] = []
    source = MemorySource([{"app/pkgs.txt": "a 1\n"}])
    inv = build_inventory(source, [Complaining()], workers=1, warn=warnings.append)
    assert [p.name for p in inv.packages] == ["a"]
    assert warnings == ["app/pkgs.txt: manifest and lock disagree"]
