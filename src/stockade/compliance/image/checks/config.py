"""Checks over the runtime configuration: user, health check, age."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from stockade.compliance.image.check import ImageSubject, NotApplicable, Violation, image_check
from stockade.core.advisory import Severity

_ROOT_NAMES = frozenset({"", "root", "0"})


@image_check(
    "STK-IMG-001",
    "The image must run as a non-root user",
    Severity.MEDIUM,
    rationale=(
        "An image without USER runs its processes as root unless every deployment "
        "overrides it; a compromise of the application is then root in the container."
    ),
    remediation="Rebuild with `USER <unprivileged user>` in the final stage.",
    references={"cis": "4.1", "checkov": "CKV_DOCKER_3"},
)
def non_root_user(subject: ImageSubject) -> Iterator[Violation]:
    user = subject.runtime.get("User", "")
    if not isinstance(user, str):
        yield Violation("config.User", f"User is {type(user).__name__}, not a string")
        return
    name = user.split(":", 1)[0].strip()
    if name.lower() in _ROOT_NAMES:
        shown = repr(user) if user else "not set"
        yield Violation("config.User", f"the image runs as root (User {shown})")


@image_check(
    "STK-IMG-002",
    "The image must define a HEALTHCHECK",
    Severity.LOW,
    rationale="Without a health check the engine cannot tell a hung service from a live one.",
    remediation="Rebuild with a HEALTHCHECK instruction.",
    references={"cis": "4.6", "checkov": "CKV_DOCKER_2"},
)
def healthcheck(subject: ImageSubject) -> Iterator[Violation]:
    check = subject.runtime.get("Healthcheck")
    if not isinstance(check, dict):
        yield Violation("config.Healthcheck", "the image has no health check")
        return
    test = check.get("Test")
    if not isinstance(test, list) or not test or test[0] == "NONE":
        yield Violation("config.Healthcheck.Test", "the health check is disabled or empty")


def _parse_created(value: str) -> datetime | None:
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


@image_check(
    "STK-IMG-008",
    "The image must have been built recently",
    Severity.LOW,
    rationale=(
        "Fixes reach an image only when it is rebuilt; an old image carries every "
        "vulnerability fixed in its base image and packages since."
    ),
    remediation="Rebuild the image regularly from an updated base image.",
    references={"cis": "4.4"},
)
def image_age(subject: ImageSubject) -> Iterator[Violation]:
    created = subject.config.get("created")
    if not isinstance(created, str) or not created:
        raise NotApplicable("the image config records no creation time")
    when = _parse_created(created)
    if when is None:
        raise NotApplicable(f"cannot read the creation time {created!r}")
    if when.timestamp() <= 0:
        raise NotApplicable("the creation time is zeroed (reproducible build)")
    age = subject.now - when
    if age > timedelta(days=subject.max_age_days):
        yield Violation(
            "created",
            f"built {age.days} days ago ({created}); the limit is {subject.max_age_days}",
        )
