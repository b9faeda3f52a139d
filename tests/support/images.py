"""Builders of REAL test artifacts (Debian images, Lambda zips), cached by content.

Every artifact is built with the tools a user would use (debootstrap, pip, npm, umoci,
skopeo, zipfile) and the ground truth is recorded AT BUILD TIME with the ecosystem's own
tools (``dpkg-query``, ``pip list``, ``npm ls``), so acceptance tests compare Stockade
with those tools, never with a list written by hand.

Builds are cached under ``$STOCKADE_TEST_CACHE`` (default ``~/.cache/stockade-tests``)
in a directory named after a hash of the recipe: this module's source text plus the
recipe's package lists and versions. Editing a recipe, or this module, starts a new
entry; old entries are left for whoever still uses them (delete the directory to reclaim
the space). A build happens in a temporary directory renamed into place once complete,
under a file lock, so concurrent pytest processes wait for one build instead of racing.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "STOCKADE_TEST_CACHE"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"

# The real image of the acceptance tests: Debian 12 minbase, then a language layer.
BOOKWORM_PIP = (
    "requests==2.19.0",
    "PyYAML==5.3",
    # requests' own dependencies, pinned so the cache key names every version installed.
    "chardet==3.0.4",
    "idna==2.7",
    "urllib3==1.23",
    "certifi==2018.4.16",
)
BOOKWORM_NPM = ("lodash@4.17.15", "minimist@1.2.0")
# Beyond minbase: the packages the scan acceptance test is about (glibc is in minbase).
BOOKWORM_DEBS = ("curl", "openssl")
SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"
APP_DIR = "app"
BOOKWORM_REPO_TAG = "test/bookworm:12"

# Lambda-style function packages: vendored dependencies next to the handler.
LAMBDA_PIP = (
    "requests==2.25.1",
    "urllib3==1.26.5",
    "idna==2.10",
    "certifi==2020.12.5",
    "chardet==4.0.0",
)
# debug@2.6.9 needs ms@2.0.0 while the function wants ms@2.1.3 itself: npm nests the
# older one under debug/node_modules, the layout a cataloger has to walk.
LAMBDA_NPM = ("debug@2.6.9", "ms@2.1.3", "uuid@8.3.2")

# The image of the speed benchmark: about 300 MB of gzip layers of real Debian packages,
# one layer per group (each a debootstrap of everything so far, diffed by umoci), so the
# layers are of uneven sizes like those of a real application image.
BENCH_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base system", ()),
    ("interpreters", ("python3", "perl")),
    ("toolchain", ("gcc", "g++", "make")),
    ("java runtime", ("default-jre-headless",)),
)
BENCH_REPO_TAG = "bench/bookworm-big:12"

_OCI_TAG = "image"


class BuildError(RuntimeError):
    """A test artifact could not be built (a tool failed or is missing)."""


# ---------------------------------------------------------------------------------------
# Tools and the cache


def missing_tools(*names: str) -> list[str]:
    """The named programs that are not on PATH (sbin directories included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [name for name in names if shutil.which(name, path=path) is None]


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # debootstrap and chroot live in sbin, which is not on every PATH.
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    env["LC_ALL"] = "C.UTF-8"
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


def run_tool(
    args: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None, timeout: float = 1800
) -> str:
    """Run a build tool; its stdout, or a BuildError carrying the end of its output."""
    argv = [os.fspath(a) for a in args]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=_tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout[-2000:] + "\n" + done.stderr[-3000:]).strip()
        raise BuildError(f"{' '.join(argv)} exited with {done.returncode}:\n{tail}")
    return done.stdout


def cache_root() -> Path:
    """Where built artifacts are kept between runs."""
    configured = os.environ.get(CACHE_ENV)
    root = Path(configured) if configured else Path.home() / ".cache" / "stockade-tests"
    root.mkdir(parents=True, exist_ok=True)
    return root


def recipe_key(*parts: str) -> str:
    """A short hash naming one recipe: this module's source plus the given parts."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_build(name: str, key: str, build: Callable[[Path], None]) -> Path:
    """The cache entry ``name-key``, built by ``build(tmpdir)`` if it is not there yet."""
    root = cache_root()
    final = root / f"{name}-{key}"
    if final.is_dir():
        return final
    with _file_lock(root / f".{name}-{key}.lock"):
        if final.is_dir():
            return final  # another process built it while we waited
        # Remnants of a build that was killed: nobody else can own them, we hold the lock.
        for stale in root.glob(f".{name}-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-{key}-", dir=root))
        try:
            build(work)
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (so builds go where apt already goes)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for stanza in sources.read_text().split("\n\n"):
            fields = _deb822(stanza)
            suites = fields.get("suites", "").split()
            if SUITE in suites:
                for uri in fields.get("uris", "").split():
                    if not uri.rstrip("/").endswith("-security"):
                        return uri.rstrip("/")
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR


def _deb822(stanza: str) -> dict[str, str]:
    parser = configparser.ConfigParser(delimiters=(":",), interpolation=None)
    lines = [line for line in stanza.splitlines() if not line.lstrip().startswith("#")]
    with contextlib.suppress(configparser.Error):
        parser.read_string("[s]\n" + "\n".join(lines))
    return dict(parser["s"]) if parser.has_section("s") else {}


# ---------------------------------------------------------------------------------------
# Ground truth from the ecosystems' own tools


def pep503(name: str) -> str:
    """A Python project name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dpkg_query(root: Path) -> list[dict[str, str]]:
    """Every package of the root's dpkg database, as ``dpkg-query -W`` reports it."""
    out = run_tool(
        [
            "dpkg-query",
            f"--admindir={root / 'var/lib/dpkg'}",
            "-W",
            "-f",
            "${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n",
        ]
    )
    rows = []
    for line in out.splitlines():
        status, package, version, arch = line.split("\t")
        rows.append({"status": status, "package": package, "version": version, "arch": arch})
    return rows


def pip_list(site_packages: Path) -> list[dict[str, str]]:
    """``pip list --path`` of one site-packages directory."""
    out = run_tool(
        [sys.executable, "-m", "pip", "list", "--path", site_packages, "--format", "json"]
    )
    listed: list[dict[str, str]] = json.loads(out)
    return listed


def npm_ls(project: Path) -> dict[str, Any]:
    """``npm ls --all --json`` of one project directory."""
    tree: dict[str, Any] = json.loads(run_tool(["npm", "ls", "--all", "--json"], cwd=project))
    return tree


def flatten_npm_tree(tree: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """Every (name, version) anywhere in an ``npm ls --json`` tree, each once."""
    found: set[tuple[str, str]] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        for name, child in (node.get("dependencies") or {}).items():
            found.add((name, child["version"]))
            stack.append(child)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The packages an artifact holds, as its own package managers report them."""

    deb: frozenset[tuple[str, str, str]]
    """(name, version, architecture) of every *installed* dpkg package."""
    pypi: frozenset[tuple[str, str]]
    """(PEP 503 name, version) from ``pip list``."""
    npm: frozenset[tuple[str, str]]
    """(name, version) of every package in ``npm ls --all``."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GroundTruth:
        return cls(
            deb=frozenset(
                (row["package"], row["version"], row["arch"])
                for row in record.get("dpkg_query", [])
                if row["status"] == "installed"
            ),
            pypi=frozenset(
                (pep503(row["name"]), row["version"])
                for listing in record.get("pip_list", {}).values()
                for row in listing
            ),
            npm=frozenset().union(
                *(flatten_npm_tree(tree) for tree in record.get("npm_ls", {}).values())
            ),
        )


def _write_record(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------
# Image building blocks


def debootstrap(root: Path, *, include: Sequence[str] = ()) -> list[str]:
    """A Debian bookworm minbase root filesystem in ``root``; returns the command run."""
    debs = cache_root() / "debootstrap-debs"
    debs.mkdir(exist_ok=True)
    command = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}"]
    if include:
        command.append("--include=" + ",".join(include))
    command += [SUITE, str(root), debian_mirror()]
    run_tool(command, timeout=3600)
    return command


def install_pip_packages(site_packages: Path, requirements: Sequence[str]) -> list[str]:
    """``pip install --target`` of pinned requirements; returns the command run."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        # The conflict check looks at the interpreter running pip, not at the target.
        "--no-warn-conflicts",
        "--target",
        str(site_packages),
        *requirements,
    ]
    run_tool(command, timeout=900)
    return command


def install_npm_packages(project: Path, packages: Sequence[str]) -> list[str]:
    """``npm install`` of exact versions into ``project``; returns the command run."""
    project.mkdir(parents=True, exist_ok=True)
    command = ["npm", "install", "--save-exact", "--no-audit", "--no-fund", *packages]
    run_tool(command, cwd=project, timeout=900)
    return command


@dataclass(frozen=True, slots=True)
class LayerStep:
    """One image layer: a change made to the bundle's root filesystem, then repacked."""

    created_by: str
    apply: Callable[[Path], None]


def build_oci_layout(oci_dir: Path, steps: Sequence[LayerStep], work: Path) -> None:
    """An OCI image layout at ``oci_dir`` (tag ``image``), one gzip layer per step."""
    image = f"{oci_dir}:{_OCI_TAG}"
    bundle = work / "bundle"
    run_tool(["umoci", "init", "--layout", oci_dir])
    run_tool(["umoci", "new", "--image", image])
    run_tool(["umoci", "unpack", "--image", image, bundle])
    for step in steps:
        step.apply(bundle / "rootfs")
        run_tool(
            [
                "umoci",
                "repack",
                # Later steps must be diffed against this one, not against the empty image.
                "--refresh-bundle",
                "--history.created_by",
                step.created_by,
                "--image",
                image,
                bundle,
            ],
            timeout=3600,
        )
    run_tool(
        [
            "umoci",
            "config",
            "--image",
            image,
            "--config.cmd",
            "/bin/bash",
            "--os",
            "linux",
            "--architecture",
            "amd64",
        ]
    )
    run_tool(["umoci", "gc", "--layout", oci_dir])
    shutil.rmtree(bundle)


def oci_image_parts(oci_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (manifest, config) of the single image in an OCI layout."""
    index = json.loads((oci_dir / "index.json").read_text())
    manifest = json.loads(_blob(oci_dir, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(oci_dir, manifest["config"]["digest"]).read_text())
    return manifest, config


def _blob(oci_dir: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":", 1)
    return oci_dir / "blobs" / algorithm / hex_digest


def layer_blobs(oci_dir: Path) -> list[Path]:
    """The (gzip) layer blobs of an OCI layout, in application order."""
    manifest, _ = oci_image_parts(oci_dir)
    return [_blob(oci_dir, layer["digest"]) for layer in manifest["layers"]]


def oci_to_docker_archive(oci_dir: Path, out: Path, repo_tag: str) -> None:
    """A docker-archive written by skopeo (which stores the layers uncompressed)."""
    run_tool(
        [
            "skopeo",
            "--insecure-policy",  # a local copy between two files: no signature to check
            "copy",
            "--quiet",
            f"oci:{oci_dir}:{_OCI_TAG}",
            f"docker-archive:{out}:{repo_tag}",
        ],
        timeout=1800,
    )


def oci_to_compressed_docker_archive(oci_dir: Path, out: Path, repo_tag: str) -> None:
    """A docker-archive that keeps the gzip layer blobs as they are in the OCI layout.

    ``docker load`` accepts compressed layers; skopeo always decompresses them, so a
    gzip docker-archive (what the speed target is stated for) is written here by hand:
    ``manifest.json``, the config, and each blob under its digest.
    """
    manifest, _ = oci_image_parts(oci_dir)
    config_name = "blobs/sha256/" + manifest["config"]["digest"].split(":", 1)[1]
    layer_names = [
        "blobs/sha256/" + layer["digest"].split(":", 1)[1] for layer in manifest["layers"]
    ]
    docker_manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
        tar.add(oci_dir / config_name, arcname=config_name, recursive=False)
        for name in layer_names:
            tar.add(oci_dir / name, arcname=name, recursive=False)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o644
    tar.addfile(member, io.BytesIO(data))


def oci_layout_to_tar(oci_dir: Path, out: Path) -> None:
    """The OCI layout as one tar (``oci-archive``), layout files first."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(oci_dir / "oci-layout", arcname="oci-layout")
        tar.add(oci_dir / "index.json", arcname="index.json")
        for blob in sorted((oci_dir / "blobs").rglob("*")):
            tar.add(blob, arcname=str(blob.relative_to(oci_dir)), recursive=False)


def copy_tree_into(source: Path) -> Callable[[Path], None]:
    """A layer step that copies ``source``'s contents over the root filesystem."""

    def apply(rootfs: Path) -> None:
        run_tool(["cp", "-a", f"{source}/.", f"{rootfs}/"])

    return apply


def replace_tree_with(source: Path) -> Callable[[Path], None]:
    """A layer step that makes the root filesystem an exact copy of ``source``."""

    def apply(rootfs: Path) -> None:
        shutil.rmtree(rootfs)
        run_tool(["cp", "-a", str(source), str(rootfs)])

    return apply


# ---------------------------------------------------------------------------------------
# The real Debian bookworm image of the acceptance tests


@dataclass(frozen=True, slots=True)
class BookwormImage:
    """Debian 12 minbase (layer 1) plus pip and npm packages (layer 2), in every format."""

    directory: Path
    docker_archive: Path
    """Written by skopeo: uncompressed layers."""
    oci_layout: Path
    """Written by umoci: gzip layers."""
    oci_archive: Path
    """The OCI layout as one tar."""
    rootfs: Path
    """The debootstrap root: layer 1 as a directory."""
    language_layer: Path
    """What layer 2 adds, as a directory (site-packages and the npm project)."""
    diff_ids: tuple[str, ...]
    truth: GroundTruth
    record: dict[str, Any]


def bookworm_image() -> BookwormImage:
    """The cached real bookworm image, built now (about a minute) if it is not cached."""
    key = recipe_key("bookworm", *BOOKWORM_DEBS, *BOOKWORM_PIP, *BOOKWORM_NPM, BOOKWORM_REPO_TAG)
    directory = cached_build("bookworm", key, _build_bookworm)
    record = json.loads((directory / "truth.json").read_text())
    return BookwormImage(
        directory=directory,
        docker_archive=directory / "docker-archive.tar",
        oci_layout=directory / "oci",
        oci_archive=directory / "oci-archive.tar",
        rootfs=directory / "rootfs",
        language_layer=directory / "layer2",
        diff_ids=tuple(record["diff_ids"]),
        truth=GroundTruth.from_record(record),
        record=record,
    )


def _build_bookworm(work: Path) -> None:
    rootfs = work / "rootfs"
    layer2 = work / "layer2"
    commands: dict[str, list[str]] = {}
    commands["debootstrap"] = debootstrap(rootfs, include=BOOKWORM_DEBS)
    commands["pip"] = install_pip_packages(layer2 / SITE_PACKAGES, BOOKWORM_PIP)
    commands["npm"] = install_npm_packages(layer2 / APP_DIR, BOOKWORM_NPM)
    record: dict[str, Any] = {
        "commands": commands,
        "dpkg_query": dpkg_query(rootfs),
        "pip_list": {SITE_PACKAGES: pip_list(layer2 / SITE_PACKAGES)},
        "npm_ls": {APP_DIR: npm_ls(layer2 / APP_DIR)},
    }
    build_oci_layout(
        work / "oci",
        [
            LayerStep(" ".join(commands["debootstrap"]), replace_tree_with(rootfs)),
            LayerStep("pip install --target; npm install", copy_tree_into(layer2)),
        ],
        work,
    )
    oci_to_docker_archive(work / "oci", work / "docker-archive.tar", BOOKWORM_REPO_TAG)
    oci_layout_to_tar(work / "oci", work / "oci-archive.tar")
    _, config = oci_image_parts(work / "oci")
    record["diff_ids"] = config["rootfs"]["diff_ids"]
    _write_record(work / "truth.json", record)


# ---------------------------------------------------------------------------------------
# Lambda-style function zips


_PYTHON_HANDLER = '''"""Fetches a URL; the function an AWS Lambda zip would carry."""
import requests


def handler(event, context):
    response = requests.get(event["url"], timeout=5)
    return {"statusCode": response.status_code}
'''

_NODE_HANDLER = """// The function a Node.js AWS Lambda zip would carry.
const debug = require("debug")("fn");
const { v4: uuidv4 } = require("uuid");
const ms = require("ms");

exports.handler = async (event) => {
  debug("event %o", event);
  return { statusCode: 200, body: JSON.stringify({ id: uuidv4(), ttl: ms("2h") }) };
};
"""


@dataclass(frozen=True, slots=True)
class LambdaZips:
    python_zip: Path
    node_zip: Path
    python_truth: GroundTruth
    node_truth: GroundTruth
    record: dict[str, Any]


def lambda_zips() -> LambdaZips:
    """Cached Python and Node.js function zips with vendored dependencies."""
    key = recipe_key("lambda", *LAMBDA_PIP, *LAMBDA_NPM)
    directory = cached_build("lambda", key, _build_lambda)
    record = json.loads((directory / "truth.json").read_text())
    return LambdaZips(
        python_zip=directory / "python-function.zip",
        node_zip=directory / "node-function.zip",
        python_truth=GroundTruth.from_record(record["python"]),
        node_truth=GroundTruth.from_record(record["node"]),
        record=record,
    )


def _build_lambda(work: Path) -> None:
    python_stage = work / "python"
    node_stage = work / "node"
    python_stage.mkdir()
    (python_stage / "handler.py").write_text(_PYTHON_HANDLER)
    pip_command = install_pip_packages(python_stage, LAMBDA_PIP)
    npm_command = install_npm_packages(node_stage, LAMBDA_NPM)
    (node_stage / "index.js").write_text(_NODE_HANDLER)
    record = {
        "python": {"commands": {"pip": pip_command}, "pip_list": {".": pip_list(python_stage)}},
        "node": {"commands": {"npm": npm_command}, "npm_ls": {".": npm_ls(node_stage)}},
    }
    zip_directory(python_stage, work / "python-function.zip")
    zip_directory(node_stage, work / "node-function.zip")
    shutil.rmtree(python_stage)
    shutil.rmtree(node_stage)
    _write_record(work / "truth.json", record)


def zip_directory(stage: Path, out: Path) -> None:
    """Zip a staging directory as ``zip -r`` would: directories too, links followed."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for current, dirs, files in os.walk(stage):
            dirs.sort()
            here = Path(current)
            if here != stage:
                archive.write(here, arcname=str(here.relative_to(stage)) + "/")
            for name in sorted(files):
                archive.write(here / name, arcname=str((here / name).relative_to(stage)))


# ---------------------------------------------------------------------------------------
# The speed benchmark's image


@dataclass(frozen=True, slots=True)
class BenchImage:
    """A large real image with gzip layers, as an OCI layout and a docker-archive."""

    directory: Path
    docker_archive: Path
    """Keeps the gzip blobs (written by :func:`oci_to_compressed_docker_archive`)."""
    oci_layout: Path
    layer_blobs: tuple[Path, ...]
    """The gzip layer blobs, in order: what ``gzip -dc`` is timed on."""
    truth: GroundTruth
    record: dict[str, Any]


def bench_image() -> BenchImage:
    """The cached benchmark image, built now (several minutes) if it is not cached."""
    key = recipe_key("bench", repr(BENCH_LAYERS), BENCH_REPO_TAG)
    directory = cached_build("bench", key, _build_bench)
    record = json.loads((directory / "truth.json").read_text())
    return BenchImage(
        directory=directory,
        docker_archive=directory / "docker-archive-gzip.tar",
        oci_layout=directory / "oci",
        layer_blobs=tuple(layer_blobs(directory / "oci")),
        truth=GroundTruth.from_record(record),
        record=record,
    )


def _build_bench(work: Path) -> None:
    record: dict[str, Any] = {"commands": [], "dpkg_query": []}
    steps = []
    included: list[str] = []
    for title, packages in BENCH_LAYERS:
        included = [*included, *packages]
        steps.append(LayerStep(title, _debootstrap_step(work / "root", tuple(included), record)))
    build_oci_layout(work / "oci", steps, work)
    oci_to_compressed_docker_archive(work / "oci", work / "docker-archive-gzip.tar", BENCH_REPO_TAG)
    manifest, config = oci_image_parts(work / "oci")
    record["diff_ids"] = config["rootfs"]["diff_ids"]
    record["layers"] = [
        {
            "created_by": title,
            "compressed_bytes": layer["size"],
            "uncompressed_bytes": _gunzipped_size(blob),
        }
        for (title, _), layer, blob in zip(
            BENCH_LAYERS, manifest["layers"], layer_blobs(work / "oci"), strict=True
        )
    ]
    _write_record(work / "truth.json", record)


def _debootstrap_step(
    scratch: Path, include: tuple[str, ...], record: dict[str, Any]
) -> Callable[[Path], None]:
    """A layer step: a fresh debootstrap with ``include`` becomes the whole rootfs."""

    def apply(rootfs: Path) -> None:
        record["commands"].append(debootstrap(scratch, include=include))
        shutil.rmtree(rootfs)
        scratch.rename(rootfs)  # same filesystem: no gigabyte copy
        # Each step's root holds all packages so far; the last one's list is the truth.
        record["dpkg_query"] = dpkg_query(rootfs)

    return apply


def _gunzipped_size(blob: Path) -> int:
    import zlib

    inflater = zlib.decompressobj(wbits=31)
    total = 0
    with blob.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += len(inflater.decompress(chunk))
    return total + len(inflater.flush())
