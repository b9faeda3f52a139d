"""Request and response bodies of the policy API (camelCase keys, bounded sizes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stockade.console.documents import SeverityWord

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""Collection and rule names: they appear in URLs, events and CLI output."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
Pattern = Annotated[str, Field(min_length=1, max_length=512)]
Description = Annotated[str, Field(max_length=1024)]
Kind = Literal["vulnerabilities", "compliance"]
OutcomeWord = Literal["pass", "alert", "block"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionChange(_In):
    description: Description = ""
    images: Annotated[list[Pattern], Field(max_length=256)] = Field(
        default_factory=list,
        description="globs over image references (repo tags, digests) and artifact names",
    )
    hosts: Annotated[list[Pattern], Field(max_length=256)] = Field(
        default_factory=list, description="globs over host names (case-insensitive)"
    )
    namespaces: Annotated[list[Pattern], Field(max_length=256)] = Field(
        default_factory=list, description="globs over the namespace the publisher gave"
    )
    labels: Annotated[list[Pattern], Field(max_length=256)] = Field(
        default_factory=list, description="KEY=VALUE, the value may be a glob; any one matches"
    )

    @field_validator("labels")
    @classmethod
    def _key_value(cls, labels: list[str]) -> list[str]:
        for label in labels:
            key, equals, _ = label.partition("=")
            if not equals or not key:
                raise ValueError("a label pattern is KEY=VALUE")
        return labels


class CollectionCreate(CollectionChange):
    name: Name


class CollectionOut(_Out):
    name: str
    description: str
    images: list[str]
    hosts: list[str]
    namespaces: list[str]
    labels: list[str]
    builtIn: bool
    usedBy: list[str] = Field(description="the rules that name it, as KIND/NAME")
    createdAt: dt.datetime | None
    updatedAt: dt.datetime | None
    updatedBy: str | None


class CollectionList(_Out):
    items: list[CollectionOut]


class ExceptionIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="vulnerability id, CVE or alias; a check id for compliance; globs allowed"
    )
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    expires: dt.date | None = Field(default=None, description="from this day on it lapses")


class RuleChange(_In):
    description: Description = ""
    disabled: bool = False
    collections: Annotated[list[Name], Field(max_length=64)] = Field(
        default_factory=list, description='the collections it applies to; empty: ["all"]'
    )
    alertThreshold: SeverityWord | None = None
    blockThreshold: SeverityWord | None = None
    onlyFixed: bool = Field(default=False, description="vulnerabilities: only fixable findings")
    graceDays: int = Field(
        default=0,
        ge=0,
        le=3650,
        description="vulnerabilities: block only once a fix has been known this many days",
    )
    countSuppressed: bool = Field(
        default=False, description="count what the publisher suppressed (ignore file, VEX)"
    )
    checks: Annotated[list[Pattern], Field(max_length=1024)] = Field(
        default_factory=list, description="compliance: only these check ids (globs) count"
    )
    exceptions: Annotated[list[ExceptionIn], Field(max_length=1000)] = Field(default_factory=list)
    position: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="1 is first; on create the default is last, on change it stays",
    )


class RuleCreate(RuleChange):
    name: Name


class ExceptionOut(_Out):
    id: str
    reason: str
    expires: dt.date | None


class RuleOut(_Out):
    kind: Kind
    name: str
    position: int
    description: str
    disabled: bool
    collections: list[str]
    alertThreshold: SeverityWord | None
    blockThreshold: SeverityWord | None
    onlyFixed: bool
    graceDays: int
    countSuppressed: bool
    checks: list[str]
    exceptions: list[ExceptionOut]
    createdAt: dt.datetime | None = None
    updatedAt: dt.datetime | None = None
    updatedBy: str | None = None


class RuleList(_Out):
    items: list[RuleOut]


class SubjectOut(_Out):
    references: list[str]
    artifact: str | None
    host: str | None
    namespace: str | None
    labels: dict[str, str]


class AppliedRule(_Out):
    rule: RuleOut | None = Field(description="the first rule whose collections match; null: none")
    collection: str | None


class EffectiveOut(_Out):
    subject: SubjectOut
    vulnerabilities: AppliedRule
    compliance: AppliedRule


class FixKeyIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    type: Annotated[str, Field(max_length=32)]
    package: Annotated[str, Field(max_length=512)]


class FixDatesIn(_In):
    fixes: Annotated[list[FixKeyIn], Field(max_length=200_000)]


class FixDateOut(_Out):
    id: str
    type: str
    package: str
    firstSeen: dt.datetime


class FixDatesOut(_Out):
    fixes: list[FixDateOut] = Field(description="only the fixes the Console has seen")


LabelKey = Annotated[str, Field(min_length=1, max_length=128)]
LabelValue = Annotated[str, Field(max_length=256)]


class ContextIn(_In):
    """Exactly one of image, host, artifact, target: the result this context is for, as
    the Console keys it (an image digest, a host, an artifact without a digest, a check
    target without an image or host)."""

    image: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    host: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    artifact: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    target: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    namespace: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=64)] = Field(
        default_factory=dict
    )


class ContextOut(_Out):
    artifactKey: str
    namespace: str | None
    labels: dict[str, str]
    updatedAt: dt.datetime


class ReasonOut(_Out):
    threshold: Literal["block", "alert"]
    id: str
    severity: SeverityWord
    target: str
    note: str


class VerdictOut(_Out):
    scanId: int
    kind: Kind
    outcome: OutcomeWord
    rule: str | None
    collection: str | None
    severity: SeverityWord | None
    evaluatedAt: dt.datetime
    artifactKey: str
    artifactName: str
    subject: SubjectOut
    counts: dict[str, int]
    reasons: list[ReasonOut]
    truncated: bool
    notes: list[str]


class VerdictSummary(_Out):
    scanId: int
    kind: Kind
    outcome: OutcomeWord
    rule: str | None
    collection: str | None
    severity: SeverityWord | None
    evaluatedAt: dt.datetime
    artifactKey: str
    artifactName: str
    counts: dict[str, int]


class VerdictPage(_Out):
    items: list[VerdictSummary]
    total: int
    limit: int
    offset: int
