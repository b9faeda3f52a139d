"""What an image check is, and running a set of them over an artifact Source.

A check sees an :class:`ImageSubject`: the image configuration document (user,
healthcheck, env, labels, history, created) and, for checks that declare
``needs_files``, the :class:`~stockade.compliance.image.facts.FileFacts` of one walk over
the layers. The walk is the only I/O, and happens once, only when a chosen check needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from stockade.artifact.interface import Limits, Source
from stockade.compliance.image.errors import ImageCheckError
from stockade.compliance.image.facts import FileFacts, collect_file_facts
from stockade.compliance.interface import CheckMeta, Result, Status, Target
from stockade.core.advisory import Severity
from stockade.core.models import LayerInfo

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "ImageCheck",
    "ImageSubject",
    "NotApplicable",
    "Violation",
    "check_image",
    "image_check",
    "inspect_image",
]

DEFAULT_MAX_AGE_DAYS: Final = 180
"""Images older than this were not rebuilt for at least two quarters of base-image fixes."""


@dataclass(frozen=True, slots=True)
class ImageSubject:
    """What image checks read: pure data, so checks need no Source to test."""

    name: str
    config: Mapping[str, Any]
    """The image configuration document (``ArtifactInfo.config``)."""
    layers: tuple[LayerInfo, ...] = ()
    files: FileFacts | None = None
    now: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    trusted_registries: tuple[str, ...] = ()
    """Registry prefixes images and base images may come from (empty: not checked)."""
    reference: str | None = None
    """The image's registry reference, when known: its first repo tag, or the reference it
    was pulled by (None for an untagged tarball, a directory)."""

    @property
    def runtime(self) -> Mapping[str, Any]:
        """The ``config`` object inside the document (User, Env, Healthcheck, Labels)."""
        value = self.config.get("config")
        return value if isinstance(value, Mapping) else {}

    def layer_of(self, index: int) -> str | None:
        if 0 <= index < len(self.layers):
            return self.layers[index].diff_id
        return None


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    """JSON path in the config document, or the file path in the image."""
    message: str
    layer: str | None = None


class NotApplicable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Inspector = Callable[[ImageSubject], Iterable[Violation]]


@dataclass(frozen=True, slots=True)
class ImageCheck:
    meta: CheckMeta
    inspect: Inspector
    needs_files: bool = False
    needs_config: bool = True

    @property
    def id(self) -> str:
        return self.meta.id

    def __call__(self, subject: ImageSubject) -> list[Result]:
        if self.needs_config and not subject.config:
            reason = "not an image: the artifact has no image configuration"
            return [self._result(subject, Status.SKIPPED, Violation("", reason))]
        try:
            violations = list(self.inspect(subject))
        except NotApplicable as skipped:
            return [self._result(subject, Status.SKIPPED, Violation("", skipped.reason))]
        if not violations:
            return [self._result(subject, Status.PASSED, Violation("", ""))]
        return [self._result(subject, Status.FAILED, v) for v in violations]

    def _result(self, subject: ImageSubject, status: Status, violation: Violation) -> Result:
        return Result(
            check=self.meta,
            status=status,
            resource=subject.name,
            path=violation.path,
            message=violation.message,
            layer=violation.layer,
        )


def image_check(
    check_id: str,
    title: str,
    severity: Severity,
    *,
    rationale: str,
    remediation: str,
    references: Mapping[str, str],
    needs_files: bool = False,
    needs_config: bool = True,
) -> Callable[[Inspector], ImageCheck]:
    """Decorate an inspector into an :class:`ImageCheck`."""

    def wrap(inspect: Inspector) -> ImageCheck:
        meta = CheckMeta(
            id=check_id,
            title=title,
            severity=severity,
            target=Target.IMAGE,
            rationale=rationale,
            remediation=remediation,
            references=dict(references),
        )
        return ImageCheck(meta, inspect, needs_files=needs_files, needs_config=needs_config)

    return wrap


def inspect_image(
    subject: ImageSubject, checks: Sequence[ImageCheck] | None = None
) -> list[Result]:
    """Run ``checks`` over an already-gathered subject (pure)."""
    if checks is None:
        from stockade.compliance.image.registry import IMAGE_CHECKS

        checks = IMAGE_CHECKS
    results: list[Result] = []
    for check in checks:
        results.extend(check(subject))
    return results


def check_image(
    source: Source,
    *,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    checks: Sequence[ImageCheck] | None = None,
    now: datetime | None = None,
    limits: Limits | None = None,
    trusted_registries: Sequence[str] = (),
) -> list[Result]:
    """Run ``checks`` (all of :data:`IMAGE_CHECKS` by default) over the image ``source``.

    ``max_age_days`` is the age past which STK-IMG-008 fails; ``now`` (aware) fixes the
    clock for it; ``trusted_registries`` lists the registry prefixes STK-IMG-009 accepts
    (see :mod:`stockade.policy.images`). Artifact errors (an unreadable or hostile layer)
    propagate as :class:`~stockade.core.errors.ArtifactError`.
    """
    if max_age_days < 1:
        raise ImageCheckError(
            f"max_age_days must be at least 1, not {max_age_days}",
            hint="give the image age limit in whole days",
        )
    if now is not None and now.tzinfo is None:
        raise ImageCheckError("now must be a timezone-aware datetime")
    if checks is None:
        from stockade.compliance.image.registry import IMAGE_CHECKS

        checks = IMAGE_CHECKS
    info = source.info()
    files = None
    if any(check.needs_files for check in checks):
        files = collect_file_facts(source.layers(), limits)
    name = info.repo_tags[0] if info.repo_tags else info.name
    subject = ImageSubject(
        name=name,
        config=info.config,
        layers=info.layers,
        files=files,
        now=now or datetime.now(UTC),
        max_age_days=max_age_days,
        trusted_registries=tuple(trusted_registries),
        reference=info.repo_tags[0]
        if info.repo_tags
        else (info.name if info.kind == "registry" else None),
    )
    return inspect_image(subject, checks)
