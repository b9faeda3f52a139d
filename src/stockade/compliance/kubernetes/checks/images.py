"""Which image each container runs, and how the kubelet pulls it."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import Container, parse_image, pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity


def _images(resource: Resource) -> Iterator[tuple[Container, str]]:
    for container in pod_spec(resource).containers:
        image = container.image
        if image is not None and image.strip():
            yield container, image


@kubernetes_check(
    "STK-K8S-024",
    "Images should be pinned to a tag other than latest, or a digest",
    Severity.MEDIUM,
    rationale=(
        "An untagged or :latest image changes under the workload: nodes run whatever "
        "was pushed last, rollbacks do not roll back, and no one can say what ran."
    ),
    remediation="Use a versioned tag (nginx:1.27.2) or, better, a digest (@sha256:…).",
    references={"checkov": "CKV_K8S_14", "kube-score": "container-image-tag"},
)
def image_tag(resource: Resource) -> Iterator[Violation]:
    for container, image in _images(resource):
        ref = parse_image(image)
        if ref.digest is not None:
            continue
        if ref.tag is None:
            yield Violation(container.at("image"), f"image {image} has no tag")
        elif ref.tag == "latest":
            yield Violation(container.at("image"), f"image {image} uses the latest tag")


@kubernetes_check(
    "STK-K8S-025",
    "Images should be pulled with imagePullPolicy Always",
    Severity.LOW,
    rationale=(
        "With Always, the kubelet asks the registry every time, so a pod can only use "
        "an image its pull credentials allow; with IfNotPresent any pod on the node "
        "can run a private image another tenant pulled."
    ),
    remediation=(
        "Set imagePullPolicy: Always, or pin the image by digest (the kubelet then "
        "verifies what it runs whatever the policy)."
    ),
    references={"checkov": "CKV_K8S_15", "kube-score": "container-image-pull-policy"},
)
def pull_policy(resource: Resource) -> Iterator[Violation]:
    for container, image in _images(resource):
        ref = parse_image(image)
        if ref.digest is not None:
            continue
        policy = container.body.get("imagePullPolicy")
        if policy == "Always":
            continue
        if policy is None:
            if ref.tag in (None, "latest"):
                continue  # the API server defaults the policy to Always for these
            yield Violation(
                container.at("image"),
                f"container {container.name} sets no imagePullPolicy; for {image} it "
                "defaults to IfNotPresent",
            )
        else:
            yield Violation(
                container.at("imagePullPolicy"),
                f"container {container.name} pulls with imagePullPolicy {policy}",
            )


@kubernetes_check(
    "STK-K8S-026",
    "Images should be pinned by digest",
    Severity.LOW,
    rationale=(
        "A tag can be moved to another image at any time by whoever can push to the "
        "repository; a digest names exactly one image."
    ),
    remediation="Refer to images as name@sha256:<digest> (a tag may stay before the @).",
    references={"checkov": "CKV_K8S_43"},
)
def image_digest(resource: Resource) -> Iterator[Violation]:
    for container, image in _images(resource):
        if parse_image(image).digest is None:
            yield Violation(container.at("image"), f"image {image} is not pinned by digest")
