"""Which user the built image runs as."""

from __future__ import annotations

from collections.abc import Iterator

from stockade.compliance.dockerfile.check import Violation, dockerfile_check
from stockade.compliance.dockerfile.parser import Dockerfile, Instruction, split_words
from stockade.core.advisory import Severity

_ROOT_NAMES = frozenset({"root", "0"})


def _last_user(dockerfile: Dockerfile) -> Instruction | None:
    users = [i for i in dockerfile.final_instructions() if i.keyword == "USER"]
    return users[-1] if users else None


def is_root_user(value: str) -> bool:
    """``root``, ``0``, ``root:staff``, ``0:0``: the user part names UID 0."""
    words = split_words(value)
    user = words[0] if words else ""
    return user.split(":", 1)[0].strip().lower() in _ROOT_NAMES


@dockerfile_check(
    "STK-DF-003",
    "The image must switch to a non-root user with USER",
    Severity.MEDIUM,
    rationale=(
        "Without USER the container's processes run as root, so any compromise of "
        "the application is root in the container, one kernel bug from the host."
    ),
    remediation=(
        "Create an unprivileged account (useradd/adduser) and add `USER name` to the "
        "final stage, after the steps that need root."
    ),
    references={"checkov": "CKV_DOCKER_3", "cis": "4.1"},
)
def user_exists(dockerfile: Dockerfile) -> Iterator[Violation]:
    if _last_user(dockerfile) is None:
        chain = dockerfile.final_chain()
        line = chain[-1].line if chain else None
        yield Violation(line, "no USER instruction in the final stage: it runs as root")


@dockerfile_check(
    "STK-DF-008",
    "The last USER must not be root",
    Severity.HIGH,
    rationale=(
        "The last USER is the one the container runs as; switching to root for "
        "installation and not back leaves the application running as root."
    ),
    remediation="Add `USER <unprivileged user>` after the last step that needs root.",
    references={"checkov": "CKV_DOCKER_8", "cis": "4.1"},
)
def last_user_not_root(dockerfile: Dockerfile) -> Iterator[Violation]:
    last = _last_user(dockerfile)
    if last is not None and is_root_user(last.value):
        yield Violation(last.line, f"the last USER is {last.value.strip()!r}")
