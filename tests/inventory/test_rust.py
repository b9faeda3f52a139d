"""Rust: Cargo.lock against Trivy's fixtures, dev-only crates against cargo's own view of a
real workspace, cargo-auditable data in a real executable.

Cargo.lock expectations are Trivy's, from aquasecurity/trivy at dc3c56eed58a:
pkg/dependency/parser/rust/cargo/parse_test.go (cargoNormalPkgs, cargoMixedPkgs,
cargoV3Pkgs, and an error for cargo_invalid.lock).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.artifact.interface import Source
from stockade.artifact.memory import MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Inventory, Package, PackageType
from stockade.inventory.binary import memory_access, read_elf_sections
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.rust import (
    RustCataloger,
    parse_audit_data,
    parse_cargo_lock,
    parse_cargo_toml,
)

TESTS = Path(__file__).resolve().parents[1]
CARGO = TESTS / "data" / "trivy" / "lockfiles" / "cargo"
E2E = TESTS / "data" / "trivy" / "e2e"
BINARIES = TESTS / "data" / "binaries"
RUST_DATA = TESTS / "data" / "rust"
TINY = BINARIES / "tiny-rust"
FS = CatalogContext(ScanMode.FILESYSTEM)
IMAGE = CatalogContext(ScanMode.IMAGE)

CARGO_NORMAL = {
    ("normal", "0.1.0"),
    ("libc", "0.2.54"),
    ("typemap", "0.3.3"),
    ("url", "1.7.2"),
    ("unsafe-any", "0.4.2"),
    ("matches", "0.1.8"),
    ("idna", "0.1.5"),
    ("percent-encoding", "1.0.1"),
}
CARGO_CASES = {
    "cargo_normal.lock": CARGO_NORMAL,
    "cargo_mixed.lock": CARGO_NORMAL,  # same crates, reordered, with comments and """…"""
    "cargo_v3.lock": {
        ("aho-corasick", "0.7.20"),
        ("app", "0.1.0"),
        ("libc", "0.2.140"),
        ("memchr", "1.0.2"),
        ("memchr", "2.5.0"),
        ("regex", "1.7.3"),
        ("regex-syntax", "0.5.6"),
        ("regex-syntax", "0.6.29"),
        ("ucd-util", "0.1.10"),
    },
}


class ForwardOnly(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


def lock_file(path: Path) -> FileContent:
    data = path.read_bytes()
    return FileContent("app/Cargo.lock", len(data), io.BytesIO(data), 1 << 30)


def pairs(packages: list[Package] | tuple[Package, ...]) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in packages}


@pytest.mark.parametrize("fixture", sorted(CARGO_CASES))
def test_cargo_lock_matches_trivy(fixture: str) -> None:
    result = RustCataloger().parse(lock_file(CARGO / fixture), FS)
    assert pairs(result.packages) == CARGO_CASES[fixture]
    assert all(p.type is PackageType.CARGO and p.cataloger == "rust" for p in result.packages)


def test_invalid_cargo_lock_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        RustCataloger().parse(lock_file(CARGO / "cargo_invalid.lock"), FS)


def test_cargo_lock_v4_written_by_cargo() -> None:
    # tests/data/binaries/tiny-rust.Cargo.lock: `version = 4`, written by cargo 1.95.
    text = (BINARIES / "tiny-rust.Cargo.lock").read_text()
    assert "version = 4" in text
    assert pairs(parse_cargo_lock(text, cataloger="rust")) == {
        ("buildhelper", "0.9.0"),
        ("helper", "1.0.2"),
        ("tiny", "0.3.1"),
    }


# integration/testdata/cargo.lock.json.golden lists Results[].Packages.
GOLDEN_CARGO = {
    ("app", "0.1.0"),
    ("memchr", "1.0.2"),
    ("regex", "1.7.3"),
    ("aho-corasick", "0.7.20"),
    ("libc", "0.2.171"),
    ("memchr", "2.7.4"),
    ("regex-syntax", "0.6.29"),
}
# winapi is a [dev-dependencies] entry of Cargo.toml; Trivy leaves it out, and what only
# it pulls in. Cargo.lock alone does not say so.
CARGO_DEV_ONLY = {
    ("winapi", "0.3.9"),
    ("winapi-i686-pc-windows-gnu", "0.4.0"),
    ("winapi-x86_64-pc-windows-gnu", "0.4.0"),
}


def scan(source: Source, ctx: CatalogContext = FS) -> Inventory:
    return build_inventory(source, [RustCataloger()], ctx=ctx, workers=1)


def production(packages: tuple[Package, ...]) -> set[tuple[str, str]]:
    return pairs([p for p in packages if not p.dev])


def development(packages: tuple[Package, ...]) -> set[tuple[str, str]]:
    return pairs([p for p in packages if p.dev])


def test_e2e_cargo_matches_the_golden_report() -> None:
    # Trivy's fs scan leaves development-only crates out; Stockade keeps them, marked.
    with DirectorySource(E2E / "repo" / "cargo") as source:
        inventory = scan(source)
    assert production(inventory.packages) == GOLDEN_CARGO
    assert development(inventory.packages) == CARGO_DEV_ONLY
    assert {loc.path for p in inventory.packages for loc in p.locations} == {"Cargo.lock"}


def test_cargo_lock_alone_marks_nothing_dev() -> None:
    result = RustCataloger().parse(lock_file(E2E / "repo" / "cargo" / "Cargo.lock"), FS)
    assert pairs(result.packages) == GOLDEN_CARGO | CARGO_DEV_ONLY
    assert not any(p.dev for p in result.packages)


def e2e_cargo_layer() -> dict[str, bytes | str | None]:
    return {
        f"src/{name}": (E2E / "repo" / "cargo" / name).read_bytes()
        for name in ("Cargo.lock", "Cargo.toml")
    }


def test_manifest_deleted_by_a_later_layer_is_not_used() -> None:
    kept = scan(MemorySource([e2e_cargo_layer()]))
    assert development(kept.packages) == CARGO_DEV_ONLY
    deleted = scan(MemorySource([e2e_cargo_layer(), {"src/Cargo.toml": None}]))
    assert development(deleted.packages) == set()
    assert production(deleted.packages) == GOLDEN_CARGO | CARGO_DEV_ONLY


def test_manifest_of_another_directory_is_not_used() -> None:
    layer = e2e_cargo_layer()
    layer["elsewhere/Cargo.toml"] = layer.pop("src/Cargo.toml")
    assert development(scan(MemorySource([layer])).packages) == set()


def test_manifests_are_read_in_filesystem_scans_only() -> None:
    inventory = scan(MemorySource([e2e_cargo_layer()]), IMAGE)
    assert inventory.packages == ()


def test_broken_manifest_is_a_warning_and_marks_nothing() -> None:
    layer = e2e_cargo_layer()
    layer["src/Cargo.toml"] = b"[dev-dependencies\nwinapi = 1\n"
    warnings: list[str] = []
    inventory = build_inventory(
        MemorySource([layer]), [RustCataloger()], ctx=FS, workers=1, warn=warnings.append
    )
    assert development(inventory.packages) == set()
    assert len(warnings) == 1
    assert warnings[0].startswith("src/Cargo.toml: Cargo.toml is not valid TOML")


# tests/data/rust/workspace: a workspace cargo resolved offline (see its README); the
# ground truth is what `cargo tree` listed with and without dev-dependency edges.
WORKSPACE = RUST_DATA / "workspace"


def cargo_tree_listing(name: str) -> set[tuple[str, str]]:
    lines = (RUST_DATA / name).read_text().splitlines()
    return {(n, v) for n, v in (line.split() for line in lines if line)}


def test_workspace_dev_only_crates_are_those_cargo_tree_needs_only_for_dev() -> None:
    with DirectorySource(WORKSPACE) as source:
        inventory = scan(source)
    everything = cargo_tree_listing("workspace.cargo-tree-all.txt")
    needed = cargo_tree_listing("workspace.cargo-tree-no-dev.txt")
    assert pairs(inventory.packages) == everything
    assert production(inventory.packages) == needed
    assert development(inventory.packages) == {
        ("testkit", "0.5.0"),
        ("mockdata", "0.1.0"),
        ("shared", "2.0.0"),  # only testkit's mockdata needs this one; shared 1.0.0 stays
        ("unixonly", "0.3.0"),  # [target.'cfg(unix)'.dev-dependencies]
        ("unix-helper", "1.0.1"),
        ("sample-data", "0.2.3"),  # renamed: fixtures = { package = "sample-data" }
        ("oldstyle", "0.1.0"),  # tool's [dev_dependencies]
    }


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_workspace_ground_truth_is_what_cargo_says_today(tmp_path: Path) -> None:
    copy = tmp_path / "workspace"
    shutil.copytree(WORKSPACE, copy)

    def tree(edges: str) -> set[tuple[str, str]]:
        command = ["cargo", "tree", "--offline", "--locked", "--workspace", "-e", edges]
        command += ["--target", "all", "--prefix", "none", "--format", "{p}"]
        listing = subprocess.run(
            command,
            cwd=copy,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")},
        ).stdout
        found = set()
        for line in listing.splitlines():
            if line.strip():
                name, version = line.split()[:2]
                found.add((name, version.removeprefix("v")))
        return found

    assert tree("normal,build") == cargo_tree_listing("workspace.cargo-tree-no-dev.txt")
    assert tree("normal,build,dev") == cargo_tree_listing("workspace.cargo-tree-all.txt")


def test_manifest_facts() -> None:
    app = parse_cargo_toml((WORKSPACE / "app" / "Cargo.toml").read_text())
    assert (app.name, app.version) == ("app", "0.1.0")
    assert app.dev_only == {"testkit", "both", "sample-data", "unixonly"}
    tool = parse_cargo_toml((WORKSPACE / "tool" / "Cargo.toml").read_text())
    assert (tool.name, tool.version, tool.dev_only) == ("tool", None, {"oldstyle"})
    root = parse_cargo_toml((WORKSPACE / "Cargo.toml").read_text())
    assert (root.name, root.dev_only) == (None, frozenset())


# --- cargo-auditable executables ---------------------------------------------------------


def auditable_expectation() -> set[tuple[str, str]]:
    record = json.loads((BINARIES / "tiny-rust.dep-v0.json").read_text())
    return {
        (p["name"], p["version"]) for p in record["packages"] if p.get("kind", "runtime") != "build"
    }


def test_auditable_binary_reports_runtime_crates_and_the_root() -> None:
    data = TINY.read_bytes()
    result = RustCataloger().parse(
        FileContent("usr/bin/tiny", len(data), io.BytesIO(data), 1 << 30), IMAGE
    )
    assert (
        pairs(result.packages)
        == auditable_expectation()
        == {
            ("tiny", "0.3.1"),
            ("helper", "1.0.2"),
        }
    )  # buildhelper is kind=build: not in the executable


def test_auditable_binary_from_a_forward_only_stream() -> None:
    data = TINY.read_bytes()
    stream = io.BufferedReader(ForwardOnly(data))
    result = RustCataloger().parse(FileContent("usr/bin/tiny", len(data), stream, 1 << 30), IMAGE)
    assert pairs(result.packages) == auditable_expectation()


@pytest.mark.parametrize("path", [BINARIES / "hello-go", Path("/bin/true")])
def test_executables_without_audit_data_give_nothing(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    data = path.read_bytes()
    for stream in (io.BytesIO(data), io.BufferedReader(ForwardOnly(data))):
        file = FileContent("bin/x", len(data), stream, 1 << 30)
        assert RustCataloger().parse(file, IMAGE).packages == ()


def test_shell_script_is_not_read_past_its_first_bytes() -> None:
    data = b"#!/bin/sh\nexec true\n" + b"x" * 10_000
    raw = ForwardOnly(data)
    file = FileContent("bin/s", len(data), raw, 1 << 30)  # type: ignore[arg-type]
    assert RustCataloger().parse(file, IMAGE).packages == ()
    assert raw.consumed == 4


def test_wants() -> None:
    rust = RustCataloger()
    assert rust.wants("usr/bin/tiny", 300_000, 0o755, IMAGE)
    assert not rust.wants("usr/share/doc/x.txt", 300_000, 0o644, IMAGE)
    assert rust.wants("src/Cargo.lock", 2000, 0o644, FS)
    assert not rust.wants("src/Cargo.lock", 2000, 0o644, IMAGE)
    assert rust.wants("src/Cargo.toml", 2000, 0o644, FS)
    assert not rust.wants("src/Cargo.toml", 2000, 0o644, IMAGE)
    assert not rust.wants("src/Cargo.toml.orig", 2000, 0o644, FS)


def test_engine_finds_the_auditable_binary(tmp_path: Path) -> None:
    target = tmp_path / "usr" / "bin" / "tiny"
    target.parent.mkdir(parents=True)
    shutil.copy(TINY, target)
    os.chmod(target, 0o700)
    inventory = build_inventory(DirectorySource(tmp_path), [RustCataloger()], ctx=IMAGE, workers=1)
    assert {p.purl for p in inventory.packages} == {
        "pkg:cargo/tiny@0.3.1",
        "pkg:cargo/helper@1.0.2",
    }


def zlib_bomb() -> bytes:
    """A small zlib stream that inflates past the 64 MiB limit."""
    deflater = zlib.compressobj(9)
    block = b" " * (1 << 20)
    return b"".join(deflater.compress(block) for _ in range(65)) + deflater.flush()


@pytest.mark.parametrize(
    "make_payload",
    [
        lambda: b"not zlib at all",
        lambda: zlib.compress(b"not json"),
        lambda: zlib.compress(b"[1, 2]"),
        lambda: zlib.compress(b'{"packages": [{"name": 1, "version": "1"}]}'),
        lambda: zlib.compress(b'{"packages": ["x"]}'),
        lambda: zlib.compress(b'{"packages": [{"name": "a", "version": "1"}]}')[:-4],
        zlib_bomb,
    ],
    ids=["not-zlib", "not-json", "not-object", "bad-name", "bad-entry", "truncated", "bomb"],
)
def test_bad_audit_data_is_a_catalog_error(make_payload: Callable[[], bytes]) -> None:
    data = replace_dep_section(make_payload())
    with pytest.raises(CatalogError):
        RustCataloger().parse(FileContent("b", len(data), io.BytesIO(data), 1 << 30), IMAGE)


def replace_dep_section(payload: bytes) -> bytes:
    """tiny-rust with its .dep-v0 content replaced (appended; the header points to it)."""
    data = bytearray(TINY.read_bytes())
    sections = read_elf_sections(memory_access(bytes(data)))
    index = next(i for i, s in enumerate(sections) if s.name == ".dep-v0")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    entry = shoff + index * 64
    new_offset = len(data)
    data += payload
    struct.pack_into("<QQ", data, entry + 24, new_offset, len(payload))
    return bytes(data)


# --- fuzzing -----------------------------------------------------------------------------

_LOCK_TEXTS = [p.read_text() for p in sorted(CARGO.glob("*.lock"))]


@st.composite
def mutated_lock(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_LOCK_TEXTS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at + draw(st.integers(0, 6)) :]
    return text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), mutated_lock(), st.just("a = " + "[" * 5000)))
def test_fuzz_cargo_lock(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_cargo_lock(text, cataloger="rust")


_MANIFEST_TEXTS = [
    p.read_text()
    for p in sorted([*WORKSPACE.rglob("Cargo.toml"), E2E / "repo" / "cargo" / "Cargo.toml"])
]


@st.composite
def mutated_manifest(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_MANIFEST_TEXTS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at + draw(st.integers(0, 6)) :]
    return text


_TOML_SCALARS = st.one_of(st.text(max_size=6), st.integers(-(2**63), 2**63 - 1), st.booleans())


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a JSON string or integer is a valid TOML one


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        mutated_manifest(),
        st.just("a = " + "{x = " * 3000),
        # Well-formed TOML with every section in an unexpected shape.
        st.fixed_dictionaries(
            {},
            optional={
                key: st.one_of(
                    _TOML_SCALARS,
                    st.dictionaries(st.text(min_size=1, max_size=6), _TOML_SCALARS, max_size=3),
                )
                for key in ("package", "dev-dependencies", "dependencies", "target")
            },
        ).map(lambda d: "\n".join(f"{k} = {toml_value(v)}" for k, v in d.items())),
    )
)
def test_fuzz_cargo_toml(text: str) -> None:
    with contextlib.suppress(CatalogError):
        manifest = parse_cargo_toml(text)
        assert all(isinstance(name, str) for name in manifest.dev_only)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        _JSON_VALUES.map(lambda v: json.dumps({"packages": v}).encode()),
        st.lists(
            st.fixed_dictionaries(
                {"name": _JSON_VALUES, "version": _JSON_VALUES},
                optional={"kind": _JSON_VALUES, "root": _JSON_VALUES},
            ),
            max_size=4,
        ).map(lambda v: json.dumps({"packages": v}).encode()),
    )
)
def test_fuzz_audit_json(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        parse_audit_data(data, cataloger="rust")


_TINY_BYTES = TINY.read_bytes()
_TINY_SECTIONS = read_elf_sections(memory_access(_TINY_BYTES))
_DEP = next(s for s in _TINY_SECTIONS if s.name == ".dep-v0")
_TINY_SHOFF = struct.unpack_from("<Q", _TINY_BYTES, 0x28)[0]
_TINY_REGIONS = [(0, 64), (_TINY_SHOFF, len(_TINY_BYTES)), (_DEP.offset, _DEP.offset + _DEP.size)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_auditable_binary(data: st.DataObject) -> None:
    binary = bytearray(_TINY_BYTES)
    for _ in range(data.draw(st.integers(1, 8))):
        start, end = data.draw(st.sampled_from(_TINY_REGIONS))
        binary[data.draw(st.integers(start, end - 1))] = data.draw(st.integers(0, 255))
    file = FileContent("b", len(binary), io.BytesIO(bytes(binary)), 1 << 30)
    with contextlib.suppress(CatalogError):
        RustCataloger().parse(file, IMAGE)
