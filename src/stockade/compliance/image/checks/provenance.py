"""Where the image comes from: trusted registries for the image and its base."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.image.check import ImageSubject, NotApplicable, Violation, image_check
from stockade.core.advisory import Severity
from stockade.policy.images import is_trusted

BASE_NAME_LABEL = "org.opencontainers.image.base.name"
"""The OCI annotation (also written as a label by BuildKit and others) naming the base."""


@image_check(
    "STK-IMG-009",
    "The image and its base image must come from trusted registries",
    Severity.HIGH,
    rationale=(
        "An image pulled from an unknown registry, or built on an unknown base, runs "
        "code nobody vetted; supply-chain attacks publish look-alike images."
    ),
    remediation=(
        "Push the image to, and build it from a base in, a registry on the trusted list "
        "(`--trusted-registry`), or add the registry to the list after review."
    ),
    references={"cis": "4.2"},
)
def trusted_registries(subject: ImageSubject) -> Iterator[Violation]:
    if not subject.trusted_registries:
        raise NotApplicable("no trusted registries are configured")
    trusted = subject.trusted_registries
    reference = subject.reference
    labels = subject.runtime.get("Labels")
    base = labels.get(BASE_NAME_LABEL) if isinstance(labels, dict) else None
    if reference is None and not isinstance(base, str):
        raise NotApplicable("neither the image's registry nor its base image is recorded")
    if reference is not None and not is_trusted(reference, trusted):
        yield Violation("name", f"{reference} is not from a trusted registry")
    if isinstance(base, str) and base.strip() and not is_trusted(base, trusted):
        yield Violation(
            f"config.Labels[{BASE_NAME_LABEL!r}]",
            f"the base image {base} is not from a trusted registry",
        )
