"""Checks over how the image was built (its history)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from stockade.compliance.image.check import ImageSubject, Violation, image_check
from stockade.compliance.image.checks.common import history_steps
from stockade.core.advisory import Severity

# Classic builder: ``/bin/sh -c #(nop) ADD URL in /dst``; BuildKit: ``ADD URL /dst # buildkit``.
_ADD_REMOTE_RE: Final = re.compile(
    r"(?:^|#\(nop\)\s*|\s)ADD\s+(?:--\S+\s+)*((?:https?|ftp)://\S+|git@\S+)", re.IGNORECASE
)


@image_check(
    "STK-IMG-005",
    "The image must not ADD remote URLs",
    Severity.MEDIUM,
    rationale=(
        "ADD of a URL fetches content at build time without verifying it: whoever "
        "controls the URL (or the network) controls what lands in the image."
    ),
    remediation=(
        "Download in a RUN step and verify a checksum or signature, or use "
        "`ADD --checksum=sha256:…`; COPY local files."
    ),
    references={"cis": "4.9", "checkov": "CKV_DOCKER_4"},
)
def add_remote_url(subject: ImageSubject) -> Iterator[Violation]:
    for step in history_steps(subject):
        match = _ADD_REMOTE_RE.search(step.created_by)
        if match and "--checksum" not in step.created_by:
            yield Violation(
                f"history[{step.index}].created_by",
                f"ADD downloads {match.group(1)}",
                step.layer,
            )
