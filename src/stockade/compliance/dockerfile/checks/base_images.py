"""Which base images stages build on."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.dockerfile.check import NotApplicable, Violation, dockerfile_check
from stockade.compliance.dockerfile.parser import Dockerfile, expand_variables
from stockade.core.advisory import Severity


def image_tag(reference: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; None where the reference has none."""
    name, at, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else None
    return tag or None, digest if at else None


@dockerfile_check(
    "STK-DF-007",
    "Base images must be pinned to a version tag, not latest",
    Severity.MEDIUM,
    rationale=(
        "An untagged or :latest base image changes under the build: the same "
        "Dockerfile yields different, unreviewed images over time."
    ),
    remediation="Pin FROM to a version tag (`alpine:3.20`) or, better, a digest.",
    references={"checkov": "CKV_DOCKER_7"},
)
def base_image_pinned(dockerfile: Dockerfile) -> Iterator[Violation]:
    judged = 0
    unresolved: list[int] = []
    for stage in dockerfile.stages:
        reference = expand_variables(stage.base, dockerfile.global_args)
        if reference is None or not reference:
            unresolved.append(stage.line)
            continue
        earlier = dockerfile.stage_named(reference)
        if reference.lower() == "scratch" or (earlier is not None and earlier.index < stage.index):
            judged += 1
            continue
        judged += 1
        tag, digest = image_tag(reference)
        if digest:
            continue
        if tag is None:
            yield Violation(stage.line, f"FROM {reference} has no tag (implies :latest)")
        elif tag.lower() == "latest":
            yield Violation(stage.line, f"FROM {reference} uses :latest")
    if unresolved and not judged:
        lines = ", ".join(str(n) for n in unresolved)
        raise NotApplicable(f"base image given by a build argument without default (line {lines})")
