"""Every Dockerfile check, in id order. Adding a check is adding it here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from stockade.compliance.dockerfile.check import DockerfileCheck
from stockade.compliance.dockerfile.checks import (
    base_images,
    health,
    instructions,
    packages,
    users,
)

__all__ = ["DOCKERFILE_CHECKS", "DOCKERFILE_CHECKS_BY_ID"]

DOCKERFILE_CHECKS: Final[tuple[DockerfileCheck, ...]] = tuple(
    sorted(
        (
            instructions.expose_port_22,
            health.healthcheck_exists,
            users.user_exists,
            instructions.add_instead_of_copy,
            packages.update_not_alone,
            instructions.maintainer_deprecated,
            base_images.base_image_pinned,
            users.last_user_not_root,
            packages.apt_not_used,
            instructions.workdir_absolute,
            instructions.alias_unique,
        ),
        key=lambda check: check.id,
    )
)

DOCKERFILE_CHECKS_BY_ID: Final[Mapping[str, DockerfileCheck]] = {
    check.id: check for check in DOCKERFILE_CHECKS
}
