"""Secrets written into manifests as literal environment values."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

from stockade.compliance.kubernetes.check import Violation
from stockade.compliance.kubernetes.checks.common import kubernetes_check
from stockade.compliance.kubernetes.podspec import pod_spec
from stockade.compliance.kubernetes.resources import Resource
from stockade.core.advisory import Severity

_SECRET_NAME: Final = re.compile(
    r"(PASS(WORD|WD|PHRASE)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?"
    r"|AUTH|PWD|CLIENT_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY)",
    re.IGNORECASE,
)
"""Names that say their value is a secret."""

_NOT_A_SECRET_NAME: Final = re.compile(
    r"(_FILE|_PATH|_DIR|_NAME|_USER(NAME)?|_ID|_TTL|_TIMEOUT|_LENGTH|_ENABLED|_URL|_HOST"
    r"|_PORT|_TYPE|_MODE|_HEADER|_EXPIRY|_EXPIRATION|_ALGORITHM|_REF)$",
    re.IGNORECASE,
)
"""…unless the name ends saying it holds something about the secret, not the secret."""

_SECRET_VALUES: Final = (
    ("an AWS access key ID", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36}")),
    ("a GitLab token", re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20}")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10}")),
    ("a Stripe secret key", re.compile(r"(?<![A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{24}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}")),
    (
        "a JSON web token",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}+\.eyJ[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10}"
        ),
    ),
    (
        "a password in a URL",
        re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^/\s:@]++:[^/\s@]++@", re.IGNORECASE),
    ),
)
"""Values that are secrets whatever the variable is called. Each pattern starts only
where a run of its characters starts and uses possessive repeats, so scanning a value
takes time linear in its length however it is made."""

MAX_SCANNED: Final = 64 * 1024
"""Characters of a value scanned for secrets: a PEM private key is under 4 KiB."""

_PLACEHOLDER: Final = re.compile(
    r"^(\$\(.*\)|\$\{.*\}|<.*>|\{\{.*\}\}|changeme|change-me|xxx+|\*+|true|false|yes|no|none|null)$",
    re.IGNORECASE,
)
"""Values that stand for a secret without being one: references, templates, booleans."""


def redact(value: str) -> str:
    """Enough of a value to recognise it, never the secret: ``ab…(24 chars)``."""
    return f"{value[:2]}…({len(value)} chars)" if len(value) > 4 else f"…({len(value)} chars)"


def secret_in_value(name: str, value: str) -> str | None:
    """What kind of secret ``value`` looks like, or None."""
    scanned = value[:MAX_SCANNED]
    for kind, pattern in _SECRET_VALUES:
        if pattern.search(scanned):
            return kind
    stripped = value.strip()
    if (
        _SECRET_NAME.search(name)
        and not _NOT_A_SECRET_NAME.search(name)
        and stripped
        and not _PLACEHOLDER.match(stripped)
    ):
        return "a secret (by its name)"
    return None


@kubernetes_check(
    "STK-K8S-031",
    "Secrets must not be written into manifests as environment values",
    Severity.HIGH,
    rationale=(
        "A literal value in env is stored in the manifest, in Git, in the object "
        "anyone with read access to the workload can see, and in every copy of it. "
        "Values taken from a Secret (valueFrom.secretKeyRef) are fine."
    ),
    remediation=(
        "Move the value into a Secret (or an external secret store) and refer to it "
        "with env[].valueFrom.secretKeyRef or envFrom.secretRef; rotate the exposed one."
    ),
    references={},
)
def literal_secrets(resource: Resource) -> Iterator[Violation]:
    for container in pod_spec(resource).containers:
        env = container.body.get("env")
        if not isinstance(env, list):
            continue
        for index, variable in enumerate(env):
            if not isinstance(variable, Mapping):
                continue
            name, value = variable.get("name"), variable.get("value")
            if not isinstance(name, str) or not isinstance(value, str):
                continue
            kind = secret_in_value(name, value)
            if kind is not None:
                yield Violation(
                    container.at("env", index, "value"),
                    f"container {container.name} sets {name} to {kind} in the manifest: "
                    f"{redact(value)}",
                )
