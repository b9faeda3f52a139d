"""Instructions that are unsafe or deprecated on their own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from stockade.compliance.dockerfile.check import Violation, dockerfile_check
from stockade.compliance.dockerfile.parser import Dockerfile, split_words
from stockade.core.advisory import Severity

_REMOTE_RE: Final = re.compile(r"^(?:https?|ftp)://|^git@|\.git(?:#.*)?$", re.IGNORECASE)
_WINDOWS_ABSOLUTE_RE: Final = re.compile(r"^(?:[A-Za-z]:)?[\\/]")


def _port_range(word: str) -> tuple[int, int] | None:
    port = word.split("/", 1)[0]
    low, _, high = port.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return None
    return int(low), int(high or low)


@dockerfile_check(
    "STK-DF-001",
    "Port 22 (SSH) must not be exposed",
    Severity.LOW,
    rationale=(
        "An SSH server in a container is a second way in that bypasses the engine's "
        "access controls and logging; `docker exec` serves the same purpose."
    ),
    remediation="Remove 22 from EXPOSE and the SSH server from the image.",
    references={"checkov": "CKV_DOCKER_1", "cis": "5.7"},
)
def expose_port_22(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("EXPOSE"):
        for word in split_words(instruction.value, dockerfile.escape):
            ports = _port_range(word)
            if ports is not None and ports[0] <= 22 <= ports[1]:
                yield Violation(instruction.line, f"EXPOSE {word} exposes SSH")


@dockerfile_check(
    "STK-DF-004",
    "Use COPY instead of ADD",
    Severity.LOW,
    rationale=(
        "ADD also downloads URLs and unpacks archives, so a line that looks like a "
        "copy can fetch unverified content or explode a tarball over the image."
    ),
    remediation=(
        "Use COPY for local files; download with curl/wget and verify a checksum in a "
        "RUN step (or use `ADD --checksum=`) where a download is needed."
    ),
    references={"checkov": "CKV_DOCKER_4", "cis": "4.9"},
)
def add_instead_of_copy(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("ADD"):
        words = split_words(instruction.value, dockerfile.escape)
        remote = [w for w in words[:-1] if _REMOTE_RE.search(w)]
        message = f"ADD downloads {remote[0]}" if remote else "ADD used where COPY would do"
        yield Violation(instruction.line, message)


@dockerfile_check(
    "STK-DF-006",
    "Use LABEL maintainer instead of the deprecated MAINTAINER",
    Severity.NEGLIGIBLE,
    rationale="MAINTAINER is deprecated; the builder may drop it.",
    remediation='Replace `MAINTAINER name` with `LABEL maintainer="name"`.',
    references={"checkov": "CKV_DOCKER_6"},
)
def maintainer_deprecated(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("MAINTAINER"):
        yield Violation(instruction.line, "MAINTAINER is deprecated")


def _is_absolute(path: str) -> bool:
    # A path that starts with a variable cannot be judged statically; the builder
    # resolves it and Checkov does not flag it either.
    return path.startswith("$") or bool(_WINDOWS_ABSOLUTE_RE.match(path))


@dockerfile_check(
    "STK-DF-010",
    "WORKDIR must be an absolute path",
    Severity.LOW,
    rationale=(
        "A relative WORKDIR resolves against the previous one, so the directory "
        "commands run in depends on the base image and the order of instructions."
    ),
    remediation="Give WORKDIR an absolute path (`WORKDIR /app`).",
    references={"checkov": "CKV_DOCKER_10"},
)
def workdir_absolute(dockerfile: Dockerfile) -> Iterator[Violation]:
    for instruction in dockerfile.instructions_of("WORKDIR"):
        words = split_words(instruction.value, dockerfile.escape)
        path = " ".join(words)
        if not _is_absolute(path):
            yield Violation(instruction.line, f"WORKDIR {path!r} is relative")


@dockerfile_check(
    "STK-DF-011",
    "Build stage names must be unique",
    Severity.LOW,
    rationale=(
        "With two stages of one name, `COPY --from=name` and `--target name` pick one "
        "silently; the image may not contain what the author thinks."
    ),
    remediation="Give each `FROM … AS name` a distinct name.",
    references={"checkov": "CKV_DOCKER_11"},
)
def alias_unique(dockerfile: Dockerfile) -> Iterator[Violation]:
    seen: dict[str, int] = {}
    for stage in dockerfile.stages:
        if stage.name is None:
            continue
        if stage.name in seen:
            yield Violation(
                stage.line,
                f"stage name {stage.name!r} already used on line {seen[stage.name]}",
            )
        else:
            seen[stage.name] = stage.line
