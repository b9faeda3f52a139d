"""The documents the Console accepts, validated where they enter.

:class:`ScanDocument` is ``stockade scan -f json`` (``report/scan_json.py``),
:class:`CheckDocument` is ``stockade check -f json`` (``report/compliance.py``). Both are
bounded: every string and list has a maximum size, so a hostile document is refused by
validation before anything is stored. Unknown keys are ignored (the formats may grow
keys without raising their ``schemaVersion``). A scan may carry the inventory's
``packages`` (as ``stockade sbom -f json`` writes them); without it the Console records
the packages its findings name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_ITEMS",
    "CheckDocument",
    "EventBatch",
    "ScanDocument",
    "SeverityWord",
]

MAX_ITEMS = 200_000
"""Most findings, packages or results in one document (a big image has a few thousand)."""

Id = Annotated[str, Field(min_length=1, max_length=128)]
Name = Annotated[str, Field(max_length=512)]
Text = Annotated[str, Field(max_length=16_384)]
Short = Annotated[str, Field(max_length=256)]
SeverityWord = Literal["critical", "high", "medium", "low", "negligible", "unknown"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Layer(_Model):
    diff_id: Short | None = Field(default=None, alias="diffId")
    digest: Short | None = None
    size: int | None = None
    media_type: Short | None = Field(default=None, alias="mediaType")
    created_by: Text | None = Field(default=None, alias="createdBy")


class Artifact(_Model):
    name: Name
    type: Annotated[str, Field(max_length=32)]
    digest: Short | None = None
    repo_tags: Annotated[list[Name], Field(max_length=1024)] = Field(
        default_factory=list, alias="repoTags"
    )
    repo_digests: Annotated[list[Name], Field(max_length=1024)] = Field(
        default_factory=list, alias="repoDigests"
    )
    architecture: Short | None = None
    os: Short | None = None
    layers: Annotated[list[Layer], Field(max_length=4096)] = Field(default_factory=list)


class OperatingSystem(_Model):
    family: Short | None = None
    version: Short | None = None
    name: Short | None = None
    pretty_name: Short | None = Field(default=None, alias="prettyName")
    codename: Short | None = None


class FindingPackage(_Model):
    name: Name
    version: Short
    type: Annotated[str, Field(max_length=32)]
    namespace: Name | None = None
    purl: Text | None = None


class Cvss(_Model):
    score: float | None = None
    vector: Short | None = None


class Suppression(_Model):
    kind: Annotated[str, Field(max_length=32)]
    reason: Text | None = None


class Finding(_Model):
    id: Id
    aliases: Annotated[list[Id], Field(max_length=256)] = Field(default_factory=list)
    cve: Id | None = None
    package: FindingPackage
    installed_version: Short = Field(alias="installedVersion")
    fixed_versions: Annotated[list[Short], Field(max_length=256)] = Field(
        default_factory=list, alias="fixedVersions"
    )
    fix_state: Annotated[str, Field(max_length=32)] = Field(default="unknown", alias="fixState")
    severity: SeverityWord
    cvss: Cvss | None = None
    title: Text | None = None
    url: Text | None = None
    suppressed: bool = False
    suppression: Suppression | None = None


class InventoryPackage(_Model):
    name: Name
    version: Short
    type: Annotated[str, Field(max_length=32)]
    purl: Text | None = None
    licenses: Annotated[list[Short], Field(max_length=64)] = Field(default_factory=list)


class ScanDocument(_Model):
    """A ``stockade scan -f json`` result."""

    schema_version: Literal[1] = Field(alias="schemaVersion")
    artifact: Artifact
    os: OperatingSystem | None = None
    advisories_age: Short | None = Field(default=None, alias="advisoriesAge")
    findings: Annotated[list[Finding], Field(max_length=MAX_ITEMS)]
    packages: Annotated[list[InventoryPackage], Field(max_length=MAX_ITEMS)] | None = None


class Check(_Model):
    id: Id
    title: Text = ""
    severity: SeverityWord
    target: Annotated[str, Field(max_length=32)] | None = None


class CheckResult(_Model):
    check: Check
    status: Literal["passed", "failed", "skipped"]
    resource: Text = ""
    file: Text | None = None
    line: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    message: Text | None = None
    suppression: dict[str, Any] | None = None


class Secret(_Model):
    rule_id: Id = Field(alias="ruleId")
    description: Text = ""
    file: Text | None = None
    line: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    severity: SeverityWord = "high"


class CheckDocument(_Model):
    """A ``stockade check -f json`` result."""

    schema_version: Literal[1] = Field(alias="schemaVersion")
    target: Name
    results: Annotated[list[CheckResult], Field(max_length=MAX_ITEMS)]
    secrets: Annotated[list[Secret], Field(max_length=MAX_ITEMS)] = Field(default_factory=list)


class Event(_Model):
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, alias="occurredAt"
    )
    """RFC 3339; the time the Console received it when absent."""
    seq: Annotated[int, Field(ge=1, le=2**62)] | None = None
    """The Defender's sequence number: a resent event with a stored number is skipped."""
    payload: dict[str, Any] = Field(default_factory=dict)


class EventBatch(_Model):
    """Runtime events one Defender pushes at once."""

    host: Annotated[str, Field(min_length=1, max_length=256)]
    version: Annotated[str, Field(max_length=64)] | None = None
    """The Defender's version, shown in the Defender list."""
    events: Annotated[list[Event], Field(min_length=1, max_length=10_000)]
