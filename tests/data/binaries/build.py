"""Rebuild the small real binaries of this directory (see README.md for what each is).

Run from the repository root: ``.venv/bin/python tests/data/binaries/build.py``.
Needs Debian's Go toolchain (``apt-get install golang-go``), cargo/rustc and binutils'
objcopy; no network: Go modules come from a ``file://`` GOPROXY laid out here, Rust
crates are local path crates. The ground truth is recorded at build time with the
ecosystems' own tools (``go version -m``, ``cargo metadata``), never written by hand.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# --- Go ---------------------------------------------------------------------------------
# A main module with three kinds of dependency, as `go version -m` shows them:
# a plain module from a proxy, a module replaced by another module's version, and a
# module replaced by a local directory.
GO_MAIN_MOD = """\
module example.com/stockade/hello

go 1.19

require (
\texample.com/greet v1.2.3
\texample.com/legacy v1.0.0
\texample.com/localdep v0.0.0
)

replace example.com/legacy v1.0.0 => example.com/legacyfork v1.0.1

replace example.com/localdep => ./localdep
"""

GO_MAIN = """\
package main

import (
\t"os"

\t"example.com/greet"
\t"example.com/legacy"
\t"example.com/localdep"
)

var version = "dev"

func main() {
\tos.Stdout.WriteString(greet.Hello() + " " + legacy.Name() + " " +
\t\tlocaldep.Tag() + " " + version + "\\n")
}
"""

# (module path, version) served by the proxy -> (its go.mod module line, its one Go file)
GO_PROXY_MODULES = {
    ("example.com/greet", "v1.2.3"): (
        "example.com/greet",
        'package greet\n\nfunc Hello() string { return "hello" }\n',
    ),
    ("example.com/legacyfork", "v1.0.1"): (
        # A fork keeps the module line of what it replaces: Go requires it.
        "example.com/legacy",
        'package legacy\n\nfunc Name() string { return "legacy-fork" }\n',
    ),
}

GO_LOCAL_MOD = "module example.com/localdep\n\ngo 1.19\n"
GO_LOCAL_SRC = 'package localdep\n\nfunc Tag() string { return "local" }\n'


def _write_go_proxy(proxy: Path) -> None:
    for (path, version), (module_line, source) in GO_PROXY_MODULES.items():
        package = module_line.rsplit("/", 1)[1]
        base = proxy / path / "@v"
        base.mkdir(parents=True, exist_ok=True)
        go_mod = f"module {module_line}\n\ngo 1.19\n"
        (base / "list").write_text(f"{version}\n")
        (base / f"{version}.info").write_text(
            json.dumps({"Version": version, "Time": "2024-01-02T03:04:05Z"})
        )
        (base / f"{version}.mod").write_text(go_mod)
        prefix = f"{path}@{version}/"
        with zipfile.ZipFile(base / f"{version}.zip", "w") as zf:
            zf.writestr(prefix + "go.mod", go_mod)
            zf.writestr(prefix + f"{package}.go", source)


def build_go(work: Path) -> None:
    proxy = work / "proxy"
    _write_go_proxy(proxy)
    src = work / "hello"
    (src / "localdep").mkdir(parents=True)
    (src / "go.mod").write_text(GO_MAIN_MOD)
    (src / "main.go").write_text(GO_MAIN)
    (src / "localdep" / "go.mod").write_text(GO_LOCAL_MOD)
    (src / "localdep" / "localdep.go").write_text(GO_LOCAL_SRC)
    env = {
        **os.environ,
        "GOPROXY": proxy.as_uri(),
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOPATH": str(work / "gopath"),
        "GOCACHE": str(work / "gocache"),
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }
    subprocess.run(["go", "mod", "tidy"], cwd=src, env=env, check=True)
    out = HERE / "hello-go"
    subprocess.run(
        [
            "go",
            "build",
            # No -trimpath: Go then records -ldflags in the build info, which is how the
            # main module's version is found for `(devel)` builds.
            "-buildvcs=false",
            "-ldflags=-s -w -X main.version=1.4.2",
            "-o",
            str(out),
            ".",
        ],
        cwd=src,
        env=env,
        check=True,
    )
    shutil.copy(src / "go.mod", HERE / "hello-go.go.mod")
    shutil.copy(src / "go.sum", HERE / "hello-go.go.sum")
    shown = subprocess.run(
        ["go", "version", "-m", str(out)], env=env, check=True, capture_output=True, text=True
    ).stdout
    # The first line names the file by its absolute path; keep only what follows it.
    lines = shown.splitlines()
    lines[0] = "hello-go: " + lines[0].split(": ", 1)[1]
    (HERE / "hello-go.version-m.txt").write_text("\n".join(lines) + "\n")


# --- Rust -------------------------------------------------------------------------------
RUST_CRATES = {
    "tiny": (
        '[package]\nname = "tiny"\nversion = "0.3.1"\nedition = "2021"\n\n'
        '[dependencies]\nhelper = { path = "../helper" }\n\n'
        '[build-dependencies]\nbuildhelper = { path = "../buildhelper" }\n',
        {
            "src/main.rs": (
                'fn main() { println!("{} {}", helper::greeting(), env!("TINY_TAG")); }\n'
            ),
            "build.rs": (
                'fn main() { println!("cargo:rustc-env=TINY_TAG={}", buildhelper::tag()); }\n'
            ),
        },
    ),
    "helper": (
        '[package]\nname = "helper"\nversion = "1.0.2"\nedition = "2021"\n',
        {"src/lib.rs": 'pub fn greeting() -> &\'static str { "hi" }\n'},
    ),
    "buildhelper": (
        '[package]\nname = "buildhelper"\nversion = "0.9.0"\nedition = "2021"\n',
        {"src/lib.rs": 'pub fn tag() -> &\'static str { "built" }\n'},
    ),
}

RUST_WORKSPACE = """\
[workspace]
members = ["tiny", "helper", "buildhelper"]
resolver = "2"

[profile.release]
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"""


def _auditable_json(metadata: dict[str, object]) -> dict[str, object]:
    """The dependency tree in cargo-auditable's documented format (format 1).

    Packages are ordered by name and version; dependencies refer to array indices;
    ``kind`` is ``build`` for what only build scripts use; the binary's crate is ``root``.
    """
    packages = metadata["packages"]
    resolve = metadata["resolve"]
    assert isinstance(packages, list)
    assert isinstance(resolve, dict)
    by_id = {p["id"]: p for p in packages}
    root_id = next(p["id"] for p in packages if p["name"] == "tiny")
    nodes = {n["id"]: n for n in resolve["nodes"]}
    build_only: set[str] = set()
    runtime: set[str] = {root_id}
    for dep in nodes[root_id]["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        (build_only if kinds == {"build"} else runtime).add(dep["pkg"])
    ordered = sorted(runtime | build_only, key=lambda i: (by_id[i]["name"], by_id[i]["version"]))
    index = {pkg_id: n for n, pkg_id in enumerate(ordered)}
    out = []
    for pkg_id in ordered:
        pkg = by_id[pkg_id]
        entry: dict[str, object] = {
            "name": pkg["name"],
            "version": pkg["version"],
            "source": "local" if pkg["source"] is None else "crates.io",
        }
        if pkg_id in build_only:
            entry["kind"] = "build"
        deps = sorted(index[d["pkg"]] for d in nodes[pkg_id]["deps"])
        if deps:
            entry["dependencies"] = deps
        if pkg_id == root_id:
            entry["root"] = True
        out.append(entry)
    return {"format": 1, "packages": out}


def build_rust(work: Path) -> None:
    ws = work / "rust"
    ws.mkdir()
    (ws / "Cargo.toml").write_text(RUST_WORKSPACE)
    for crate, (manifest, files) in RUST_CRATES.items():
        for rel, text in files.items():
            target = ws / crate / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        (ws / crate / "Cargo.toml").write_text(manifest)
    env = {**os.environ, "CARGO_TARGET_DIR": str(work / "target")}
    subprocess.run(
        ["cargo", "build", "--release", "--offline", "-p", "tiny"], cwd=ws, env=env, check=True
    )
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--offline"],
            cwd=ws,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    audit = _auditable_json(metadata)
    (HERE / "tiny-rust.dep-v0.json").write_text(json.dumps(audit, indent=1) + "\n")
    section = work / "dep-v0.bin"
    section.write_bytes(zlib.compress(json.dumps(audit, separators=(",", ":")).encode(), 9))
    plain = work / "tiny-rust-plain"
    shutil.copy(work / "target" / "release" / "tiny", plain)
    subprocess.run(
        [
            "objcopy",
            f"--add-section=.dep-v0={section}",
            "--set-section-flags=.dep-v0=noload,readonly",
            str(plain),
            str(HERE / "tiny-rust"),
        ],
        check=True,
    )
    shutil.copy(ws / "Cargo.lock", HERE / "tiny-rust.Cargo.lock")


# --- A Go binary with pre-1.18 build info -----------------------------------------------
# Go stopped writing the pointer-based build info in 1.18 and no older toolchain is in
# Debian 12, so this one comes from a published binary built with go1.17.2: esbuild's
# npm package (MIT). Only the bytes a build-info reader needs are kept: the first page
# (ELF and program headers), the section headers and names, .go.buildinfo and the
# strings it points to, as recorded while our reader resolves them. The rest is zeroed,
# so the file compresses to a few KB.
# `go version -m` must print the same for the reduced file as for the original.
ESBUILD_TGZ_MEMBER = "package/bin/esbuild"


def build_old_format_go(esbuild_tgz: Path, work: Path) -> None:
    sys.path.insert(0, str(HERE.parents[2] / "src"))
    from stockade.inventory.binary import RandomAccess, read_elf_sections
    from stockade.inventory.golang.buildinfo import build_info_from_file

    with tarfile.open(esbuild_tgz) as tgz:
        member = tgz.extractfile(ESBUILD_TGZ_MEMBER)
        assert member is not None
        original = member.read()
    source = work / "esbuild"
    source.write_bytes(original)
    source.chmod(0o755)  # go version skips files that are not executable

    # The first page holds the ELF and program headers, which Go's own reader maps with.
    kept: list[tuple[int, int]] = [(0, 4096)]

    class Recording(RandomAccess):
        def read_at(self, offset: int, length: int) -> bytes:
            data = super().read_at(offset, length)
            kept.append((offset, len(data)))
            return data

    with source.open("rb") as fh:
        reader = Recording(fh, len(original))
        read_elf_sections(reader)
        build_info_from_file(reader)
    reduced = bytearray(len(original))
    for offset, length in kept:
        reduced[offset : offset + length] = original[offset : offset + length]
    target = work / "esbuild-go1.17-reduced"
    target.write_bytes(bytes(reduced))
    target.chmod(0o755)

    def shown(path: Path) -> str:
        out = subprocess.run(
            ["go", "version", "-m", str(path)], check=True, capture_output=True, text=True
        ).stdout
        return out.split(": ", 1)[1]

    if shown(source) != shown(target):
        raise SystemExit("the reduced esbuild binary no longer reads the same in go version -m")
    (HERE / "esbuild-go1.17-reduced.xz").write_bytes(lzma.compress(bytes(reduced)))
    (HERE / "esbuild-go1.17-reduced.version-m.txt").write_text(
        "esbuild-go1.17-reduced: " + shown(target)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--esbuild-tgz",
        type=Path,
        help="esbuild-linux-64-0.13.15.tgz (from `npm pack esbuild-linux-64@0.13.15`): "
        "also rebuild the pre-Go 1.18 build info sample",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stockade-binaries-") as tmp:
        work = Path(tmp)
        build_go(work)
        build_rust(work)
        if args.esbuild_tgz:
            build_old_format_go(args.esbuild_tgz, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
