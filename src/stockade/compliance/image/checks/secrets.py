"""Secrets left in the image's environment, labels or build history."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

from stockade.compliance.image.check import ImageSubject, Violation, image_check
from stockade.compliance.image.checks.common import history_steps
from stockade.core.advisory import Severity

_SECRET_NAME_RE: Final = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
# Names that point at a secret rather than hold one, or that hold public material.
_NOT_SECRET_RE: Final = re.compile(r"(?:_FILE|_PATH|_DIR|_ID|_NAME|_URL)$", re.IGNORECASE)
_PUBLIC_NAMES: Final = frozenset({"GPG_KEY", "GPG_KEYS", "PUBLIC_KEY", "KEYSERVER"})
_ASSIGNMENT_RE: Final = re.compile(
    r"(?<![\w$])([A-Za-z_][A-Za-z0-9_.-]*)=(\"[^\"]*\"|'[^']*'|[^\s\"']+)"
)


def is_secret_name(name: str) -> bool:
    if name.upper() in _PUBLIC_NAMES or _NOT_SECRET_RE.search(name):
        return False
    return bool(_SECRET_NAME_RE.search(name))


def _is_literal(value: str) -> bool:
    # ``TOKEN=$TOKEN`` in a RUN step passes a build argument through; not a value.
    return bool(value) and not value.startswith("$")


def redact(value: str) -> str:
    """Never the whole value: a short prefix of long values, nothing of short ones."""
    if len(value) >= 12:
        return f"{value[:2]}{'*' * 6}"
    return "*" * 8


@image_check(
    "STK-IMG-003",
    "The image must not carry secrets in its environment, labels or history",
    Severity.HIGH,
    rationale=(
        "The image config and its history travel with every copy of the image: "
        "anyone who can pull it can read a password set with ENV, LABEL or a build "
        "argument, even one a later step unset."
    ),
    remediation=(
        "Pass secrets at run time (an orchestrator secret or a mounted file) and at "
        "build time with `RUN --mount=type=secret`; rotate any secret that was exposed."
    ),
    references={"cis": "4.10"},
)
def secrets_in_config(subject: ImageSubject) -> Iterator[Violation]:
    reported: set[tuple[str, str]] = set()
    env = subject.runtime.get("Env")
    if isinstance(env, list):
        for index, item in enumerate(env):
            if not isinstance(item, str):
                continue
            name, _, value = item.partition("=")
            if is_secret_name(name) and value:
                reported.add((name, value))
                yield Violation(
                    f"config.Env[{index}]", f"ENV {name}={redact(value)} looks like a secret"
                )
    labels = subject.runtime.get("Labels")
    if isinstance(labels, Mapping):
        for name, value in labels.items():
            if isinstance(name, str) and isinstance(value, str) and value and is_secret_name(name):
                reported.add((name, value))
                yield Violation(
                    f"config.Labels.{name}", f"LABEL {name}={redact(value)} looks like a secret"
                )
    for step in history_steps(subject):
        for match in _ASSIGNMENT_RE.finditer(step.created_by):
            name, value = match.group(1), match.group(2).strip("\"'")
            if not is_secret_name(name) or not _is_literal(value):
                continue
            if (name, value) in reported:
                continue
            reported.add((name, value))
            yield Violation(
                f"history[{step.index}].created_by",
                f"build step sets {name}={redact(value)}",
                step.layer,
            )
