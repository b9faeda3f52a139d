"""Every image check, in id order. Adding a check is adding it here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from stockade.compliance.image.check import ImageCheck
from stockade.compliance.image.checks import config, files, history, provenance, secrets

__all__ = ["IMAGE_CHECKS", "IMAGE_CHECKS_BY_ID"]

IMAGE_CHECKS: Final[tuple[ImageCheck, ...]] = (
    config.non_root_user,
    config.healthcheck,
    secrets.secrets_in_config,
    files.setid_files,
    history.add_remote_url,
    files.package_caches,
    files.ssh_server,
    config.image_age,
    provenance.trusted_registries,
)

IMAGE_CHECKS_BY_ID: Final[Mapping[str, ImageCheck]] = {check.id: check for check in IMAGE_CHECKS}
