"""Go executables: module build info read the way `go version -m` reads it.

The binaries are real (tests/data/binaries/README.md says how each was built); the
expected modules are what `go version -m` printed for them at build time.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.binary import memory_access, read_elf_sections
from stockade.inventory.engine import build_inventory
from stockade.inventory.golang import GoCataloger, packages_from_build_info
from stockade.inventory.golang.buildinfo import (
    build_info_from_file,
    build_info_from_stream,
    main_module_version,
    parse_modinfo,
)
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.rust import RustCataloger

BINARIES = Path(__file__).resolve().parents[1] / "data" / "binaries"
HELLO = BINARIES / "hello-go"
TINY_RUST = BINARIES / "tiny-rust"
ESBUILD_XZ = BINARIES / "esbuild-go1.17-reduced.xz"
IMAGE = CatalogContext(ScanMode.IMAGE)
LIMIT = 1 << 30


class ForwardOnly(io.RawIOBase):
    """A stream that reads but cannot seek, like a member of a compressed tar stream."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def seekable_file(path: str, data: bytes) -> FileContent:
    return FileContent(path, len(data), io.BytesIO(data), LIMIT)


def forward_only_file(path: str, data: bytes) -> FileContent:
    return FileContent(path, len(data), io.BufferedReader(ForwardOnly(data)), LIMIT)


def version_m_modules(path: Path) -> tuple[str, dict[str, str], tuple[str, str]]:
    """(go version, built module path → version, main module) from `go version -m` text."""
    lines = path.read_text().splitlines()
    go_version = lines[0].split(": ", 1)[1]
    modules: dict[str, str] = {}
    last_dep = ""
    main = ("", "")
    for line in lines[1:]:
        fields = line.strip("\t").split("\t")
        if fields[0] == "mod":
            main = (fields[1], fields[2])
        elif fields[0] == "dep":
            last_dep = fields[1]
            modules[last_dep] = fields[2]
        elif fields[0] == "=>":
            del modules[last_dep]
            modules[fields[1]] = fields[2]
    return go_version, modules, main


def pairs(packages: list[Package] | tuple[Package, ...]) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in packages}


def test_hello_go_agrees_with_go_version_m() -> None:
    go_version, modules, main = version_m_modules(BINARIES / "hello-go.version-m.txt")
    assert go_version == "go1.19.8"
    assert main == ("example.com/stockade/hello", "(devel)")
    # go version -m lists the local replacement `./localdep (devel)`: dropped by design.
    built = {p: v for p, v in modules.items() if not p.startswith("./")}
    expected = {("stdlib", "v1.19.8"), *built.items(), ("example.com/stockade/hello", "v1.4.2")}

    result = GoCataloger().parse(seekable_file("usr/bin/hello", HELLO.read_bytes()), IMAGE)

    assert pairs(result.packages) == expected
    assert all(p.type is PackageType.GOLANG and p.cataloger == "go" for p in result.packages)
    assert ("example.com/legacy", "v1.0.0") not in pairs(result.packages)  # replaced


def test_forward_only_stream_gives_the_same_packages() -> None:
    data = HELLO.read_bytes()
    seekable = GoCataloger().parse(seekable_file("hello", data), IMAGE)
    streamed = GoCataloger().parse(forward_only_file("hello", data), IMAGE)
    assert streamed.packages == seekable.packages


def test_elf_without_section_table_is_scanned() -> None:
    # Zero e_shoff/e_shnum: tools that strip section headers leave the build info behind.
    data = bytearray(HELLO.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)
    struct.pack_into("<H", data, 0x3C, 0)
    assert read_elf_sections(memory_access(bytes(data))) == []
    result = GoCataloger().parse(seekable_file("hello", bytes(data)), IMAGE)
    assert ("example.com/greet", "v1.2.3") in pairs(result.packages)


def test_pre_go118_pointer_format_is_resolved_through_sections() -> None:
    go_version, modules, main = version_m_modules(BINARIES / "esbuild-go1.17-reduced.version-m.txt")
    data = lzma.decompress(ESBUILD_XZ.read_bytes())

    result = GoCataloger().parse(seekable_file("usr/bin/esbuild", data), IMAGE)

    assert go_version == "go1.17.2"
    assert main == ("github.com/evanw/esbuild", "(devel)")
    assert pairs(result.packages) == {
        ("stdlib", "v1.17.2"),
        *modules.items(),
        ("github.com/evanw/esbuild", ""),  # (devel) and no -ldflags version stamp
    }


def test_pre_go118_format_in_a_forward_only_stream_is_a_catalog_error() -> None:
    data = lzma.decompress(ESBUILD_XZ.read_bytes())
    with pytest.raises(CatalogError, match=r"pre-Go 1\.18"):
        GoCataloger().parse(forward_only_file("usr/bin/esbuild", data), IMAGE)


@pytest.mark.parametrize("path", [TINY_RUST, Path("/bin/true")])
def test_non_go_elf_gives_nothing(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    data = path.read_bytes()
    assert GoCataloger().parse(seekable_file("bin/x", data), IMAGE).packages == ()
    assert GoCataloger().parse(forward_only_file("bin/x", data), IMAGE).packages == ()


def test_script_with_exec_bit_is_dropped_after_its_header() -> None:
    script = b"#!/bin/sh\n" + b"\xff Go buildinf:" * 1000
    assert GoCataloger().parse(seekable_file("bin/s", script), IMAGE).packages == ()
    assert build_info_from_stream(io.BytesIO(script)) is None


def test_wants_executables_in_every_mode_and_go_mod_and_go_sum_only_in_filesystem_scans() -> None:
    go = GoCataloger()
    fs = CatalogContext(ScanMode.FILESYSTEM)
    assert go.wants("usr/local/bin/app", 5_000_000, 0o755, IMAGE)
    assert not go.wants("usr/local/bin/app", 5_000_000, 0o644, IMAGE)
    assert not go.wants("usr/local/bin/tiny", 100, 0o755, IMAGE)
    assert go.wants("src/app/go.mod", 300, 0o644, fs)
    assert go.wants("go.mod", 300, 0o644, fs)
    assert not go.wants("src/app/go.mod", 300, 0o644, IMAGE)
    assert not go.wants("root/go/pkg/mod/github.com/x/y@v1.2.3/go.mod", 300, 0o644, fs)
    assert go.wants("src/app/go.sum", 300, 0o644, fs)
    assert not go.wants("src/app/go.sum", 300, 0o644, IMAGE)
    assert not go.wants("root/go/pkg/mod/github.com/x/y@v1.2.3/go.sum", 300, 0o644, fs)
    assert not go.wants("src/app/go.work.sum", 300, 0o644, fs)


def test_engine_finds_go_binary_in_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "usr" / "local" / "bin" / "hello"
    target.parent.mkdir(parents=True)
    shutil.copy(HELLO, target)
    os.chmod(target, 0o700)
    # Both binary catalogers want the file: the engine hands each its own copy.
    inventory = build_inventory(
        DirectorySource(tmp_path), [GoCataloger(), RustCataloger()], ctx=IMAGE, workers=1
    )
    purls = {p.purl for p in inventory.packages}
    assert "pkg:golang/example.com/greet@v1.2.3" in purls
    assert "pkg:golang/example.com/legacyfork@v1.0.1" in purls
    assert "pkg:golang/stdlib@v1.19.8" in purls
    assert all(p.locations[0].path == "usr/local/bin/hello" for p in inventory.packages)


# --- module information text -----------------------------------------------------------


def test_modinfo_replacement_and_ldflags() -> None:
    text = (
        "path\texample.com/app/cmd/app\n"
        "mod\texample.com/app\t(devel)\t\n"
        "dep\tgolang.org/x/text\tv0.3.0\th1:abc=\n"
        "=>\tgolang.org/x/text\tv0.3.8\th1:def=\n"
        "dep\texample.com/local\tv0.0.0\n"
        "=>\t../local\t(devel)\t\n"
        'build\t-ldflags="-X example.com/app/cmd/app/version.Version=2.1.0 -X main.ver=9.9.9"\n'
    )
    info = parse_modinfo("go1.22.3 X:boringcrypto", text)
    assert pairs(packages_from_build_info(info)) == {
        ("stdlib", "v1.22.3"),
        ("golang.org/x/text", "v0.3.8"),
        # <main>/cmd/… beats the conventional `main` package.
        ("example.com/app", "v2.1.0"),
    }


@pytest.mark.parametrize(
    ("version", "ldflags", "expected"),
    [
        ("v1.5.0", "-X main.version=2.0.0", "v1.5.0"),  # go install: the real version
        ("(devel)", "", ""),
        ("(devel)", "-X main.version=1.0.0 -X common.version=2.0.0", ""),  # ambiguous
        ("(devel)", "-X=main.Version=v3.1.4", "v3.1.4"),
        ("(devel)", "-X 'main.version=1.2.3'", "v1.2.3"),
        ("(devel)", "-X main.version=not-a-version", ""),
        ("v0.0.0-20240101000000-abcdef123456", "-X main.version=1.2.3", "v1.2.3"),
        ("(devel)", '-X "unbalanced', ""),
    ],
)
def test_main_module_version(version: str, ldflags: str, expected: str) -> None:
    quoted = '"' + ldflags.replace('"', '\\"') + '"'
    info = parse_modinfo(
        "go1.22.0",
        f"path\texample.com/app\nmod\texample.com/app\t{version}\t\nbuild\t-ldflags={quoted}\n",
    )
    assert main_module_version(info) == expected


def test_development_toolchain_has_no_stdlib_version() -> None:
    info = parse_modinfo("devel go1.23-abcdef Tue Jan 1 2024", "path\tx\n")
    assert "stdlib" not in {p.name for p in packages_from_build_info(info)}


@pytest.mark.parametrize(
    "text", ["dep\tonly-a-path\n", "=>\tx\tv1\n", "mod\t\tv1\n", "dep\ta\tb\tc\td\n"]
)
def test_malformed_modinfo_is_a_catalog_error(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_modinfo("go1.22.0", text)


# --- fuzzing: hostile executables may only cause CatalogError ---------------------------

_HELLO_BYTES = HELLO.read_bytes()
_HELLO_SECTIONS = read_elf_sections(memory_access(_HELLO_BYTES))
_BUILDINFO = next(s for s in _HELLO_SECTIONS if s.name == ".go.buildinfo")
_SHOFF = struct.unpack_from("<Q", _HELLO_BYTES, 0x28)[0]
_REGIONS = [
    (0, 64),
    (_SHOFF, len(_HELLO_BYTES)),
    (_BUILDINFO.offset, _BUILDINFO.offset + _BUILDINFO.size),
]


@st.composite
def mutated_hello(draw: st.DrawFn) -> bytes:
    data = bytearray(_HELLO_BYTES)
    for _ in range(draw(st.integers(1, 8))):
        start, end = draw(st.sampled_from(_REGIONS))
        position = draw(st.integers(start, end - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_hello(), st.booleans())
def test_fuzz_mutated_go_binary(data: bytes, seekable: bool) -> None:
    file = seekable_file("b", data) if seekable else forward_only_file("b", data)
    with contextlib.suppress(CatalogError):
        GoCataloger().parse(file, IMAGE)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=400),
)
def test_fuzz_build_info_headers(prefix: bytes, pointer_size: int, flags: int, tail: bytes) -> None:
    # An ELF-less executable-looking file with a build info header at an aligned offset.
    pad = b"\x00" * (-(len(prefix) + 2) % 16)
    data = b"MZ" + prefix + pad + b"\xff Go buildinf:" + bytes([pointer_size, flags]) + tail
    for reader_result in (
        lambda: build_info_from_file(memory_access(data)),
        lambda: build_info_from_stream(io.BytesIO(data)),
    ):
        with contextlib.suppress(CatalogError):
            reader_result()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_modinfo_text(text: str) -> None:
    try:
        info = parse_modinfo("go1.21.0", text)
        packages_from_build_info(info)
    except CatalogError:
        pass
