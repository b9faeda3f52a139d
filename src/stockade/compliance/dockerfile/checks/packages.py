"""How RUN steps use package managers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from stockade.compliance.dockerfile.check import Violation, dockerfile_check
from stockade.compliance.dockerfile.parser import Dockerfile
from stockade.compliance.dockerfile.shell import run_commands
from stockade.core.advisory import Severity

# manager → (subcommands that only refresh the index, subcommands that install/upgrade)
_MANAGERS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "apt-get": (
        frozenset({"update"}),
        frozenset({"install", "upgrade", "dist-upgrade", "build-dep", "source"}),
    ),
    "apt": (frozenset({"update"}), frozenset({"install", "upgrade", "full-upgrade"})),
    "apk": (frozenset({"update"}), frozenset({"add", "upgrade", "fix"})),
    "zypper": (
        frozenset({"refresh", "ref"}),
        frozenset({"install", "in", "update", "up", "dist-upgrade", "dup", "patch"}),
    ),
}


def _subcommand(words: Sequence[str]) -> str | None:
    for word in words[1:]:
        if not word.startswith("-"):
            return word
    return None


def _program(words: Sequence[str]) -> str:
    return words[0].rsplit("/", 1)[-1]


@dockerfile_check(
    "STK-DF-005",
    "A package index update must be followed by an install in the same RUN",
    Severity.LOW,
    rationale=(
        "The layer cache keeps an `apt-get update` layer, so a later RUN that installs "
        "uses a stale index and misses security updates; the index also bloats the image."
    ),
    remediation="Chain them: `RUN apt-get update && apt-get install -y pkg && rm -rf …`.",
    references={"checkov": "CKV_DOCKER_5", "cis": "4.7"},
)
def update_not_alone(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("RUN"):
        pending: str | None = None
        for words in run_commands(instruction):
            manager = _MANAGERS.get(_program(words))
            if manager is None:
                continue
            refresh, install = manager
            sub = _subcommand(words)
            if sub in refresh:
                pending = f"{_program(words)} {sub}"
            elif sub in install:
                pending = None
        if pending is not None:
            yield Violation(instruction.line, f"`{pending}` is not followed by an install")


@dockerfile_check(
    "STK-DF-009",
    "Use apt-get, not apt, in scripts",
    Severity.NEGLIGIBLE,
    rationale=(
        "apt is an interactive front end without a stable command-line interface; "
        "apt-get is the one meant for scripts."
    ),
    remediation="Replace `apt` with `apt-get` (or apt-cache) in RUN steps.",
    references={"checkov": "CKV_DOCKER_9"},
)
def apt_not_used(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("RUN"):
        if any(_program(words) == "apt" for words in run_commands(instruction)):
            yield Violation(instruction.line, "RUN uses apt")
