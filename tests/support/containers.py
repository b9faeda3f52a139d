"""Real containers for the Defender's tests: a busybox root filesystem (Debian's
busybox-static, cached by recipe) in an OCI bundle, run with runc.

Tests that use these need root and runc; they skip with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.images import cached_build, missing_tools, recipe_key, run_tool

from stockade.runtime.sensors.procinfo import bounding_capabilities

BUSYBOX_APPLETS = [
    "sh",
    "cat",
    "sleep",
    "nc",
    "true",
    "ls",
    "cp",
    "chmod",
    "echo",
    "wget",
    "id",
    "ps",
    "head",
    "tail",
    "grep",
    "env",
    "mkdir",
    "rm",
    "touch",
]


def container_skip_reason() -> str | None:
    """Why real containers cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to run containers"
    missing = missing_tools("runc", "apt-get", "dpkg-deb")
    if missing:
        return f"needs {', '.join(missing)}"
    return None


def _build_busybox(work: Path) -> None:
    run_tool(["apt-get", "download", "busybox-static"], cwd=work)
    deb = next(work.glob("busybox-static_*.deb"))
    run_tool(["dpkg-deb", "-x", deb, work / "x"])
    rootfs = work / "rootfs"
    for directory in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "usr/bin"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "x" / "bin" / "busybox", rootfs / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (rootfs / "etc" / "hostname").write_text("busybox\n")
    shutil.rmtree(work / "x")
    deb.unlink()


def busybox_rootfs() -> Path:
    """A cached busybox root filesystem (about 2 MB); never written: containers get an
    overlay over it."""
    return (
        cached_build(
            "busybox-rootfs",
            recipe_key("busybox-static", Path(__file__).read_text()),
            _build_busybox,
        )
        / "rootfs"
    )


@dataclass
class RuncContainer:
    id: str
    bundle: Path
    pid: int

    def exec(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runc", "exec", self.id, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextmanager
def runc_container(
    work: Path,
    args: Sequence[str],
    *,
    image: str = "test/busybox:1",
    network_host: bool = True,
    rootfs: Path | None = None,
    privileged: bool = False,
) -> Iterator[RuncContainer]:
    """A detached runc container running ``args`` on an overlay of ``rootfs`` (default
    the busybox rootfs); killed, deleted and unmounted on exit. ``network_host`` keeps
    the host's network namespace (so tests can talk to it on 127.0.0.1)."""
    bundle = work / f"bundle-{uuid.uuid4().hex[:8]}"
    for name in ("rootfs", "upper", "work"):
        (bundle / name).mkdir(parents=True)
    # an overlay over the cached image, as container engines do: what the container
    # writes lands in the upper layer, the image stays untouched
    lower = rootfs or busybox_rootfs()
    options = f"lowerdir={lower},upperdir={bundle / 'upper'},workdir={bundle / 'work'}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(bundle / "rootfs")],
        check=True,
        capture_output=True,
    )
    try:
        yield from _run_bundle(
            bundle, args, image=image, network_host=network_host, privileged=privileged
        )
    finally:
        subprocess.run(["umount", "-l", str(bundle / "rootfs")], capture_output=True, check=False)
        shutil.rmtree(bundle, ignore_errors=True)


def _run_bundle(
    bundle: Path, args: Sequence[str], *, image: str, network_host: bool, privileged: bool
) -> Iterator[RuncContainer]:
    run_tool(["runc", "spec", "--bundle", bundle])
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = list(args)
    config["process"]["env"] = ["PATH=/bin:/usr/bin", "HOME=/root"]
    config["root"]["readonly"] = False
    config["annotations"] = {"org.opencontainers.image.ref.name": image}
    if privileged:  # as docker run --privileged writes it: every capability, no filter
        every = sorted(bounding_capabilities())
        config["process"]["capabilities"] = {
            name: every for name in ("bounding", "effective", "permitted")
        }
        config["linux"].pop("seccomp", None)
        config["linux"]["maskedPaths"] = []
        config["linux"]["readonlyPaths"] = []
    if network_host:
        config["linux"]["namespaces"] = [
            n for n in config["linux"]["namespaces"] if n["type"] != "network"
        ]
    (bundle / "config.json").write_text(json.dumps(config))
    cid = f"stk-{uuid.uuid4().hex[:12]}"
    with open(bundle / "stdout", "wb") as out:
        subprocess.run(
            ["runc", "run", "-d", "-b", str(bundle), cid],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=30,
        )
    state = json.loads(run_tool(["runc", "state", cid]))
    try:
        yield RuncContainer(cid, bundle, int(state["pid"]))
    finally:
        subprocess.run(["runc", "kill", cid, "KILL"], capture_output=True, check=False)
        subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)
