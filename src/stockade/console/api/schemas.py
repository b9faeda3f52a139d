"""Response bodies, as the OpenAPI schema publishes them (camelCase keys)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockade.console.documents import SeverityWord
from stockade.console.roles import Role


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeverityCounts(_Out):
    critical: int
    high: int
    medium: int
    low: int
    negligible: int
    unknown: int


class ImageOut(_Out):
    digest: str
    name: str
    os: str | None
    firstSeen: dt.datetime
    lastScanned: dt.datetime
    latestScanId: int | None
    bySeverity: SeverityCounts
    fixable: int
    risk: int


class ScanOut(_Out):
    id: int
    kind: Literal["vulnerabilities", "compliance"]
    artifactKey: str
    artifactName: str
    artifactType: str
    artifactDigest: str | None
    os: str | None
    scannedAt: dt.datetime
    advisoriesAge: str | None
    publishedBy: str
    summary: dict[str, Any]


class ScanDetail(ScanOut):
    document: dict[str, Any]


class ImageDetail(ImageOut):
    tags: list[str]
    latestScan: ScanOut | None


class HostOut(_Out):
    name: str
    os: str | None
    firstSeen: dt.datetime
    lastScanned: dt.datetime
    latestScanId: int | None
    bySeverity: SeverityCounts
    fixable: int
    risk: int


class FindingOut(_Out):
    id: str
    cve: str | None
    aliases: list[str]
    severity: SeverityWord
    cvssScore: float | None
    package: str
    packageType: str
    purl: str | None
    installedVersion: str
    fixedVersions: list[str]
    fixState: str
    title: str | None
    url: str | None
    suppressed: bool
    suppressionReason: str | None


class PackageOut(_Out):
    name: str
    version: str
    type: str
    purl: str | None
    licenses: list[str]


class VulnerabilityOut(_Out):
    id: str
    cve: str | None
    severity: SeverityWord
    images: int
    fixableFindings: int


class ImageRef(_Out):
    digest: str
    name: str


class ImpactOut(_Out):
    image: ImageRef
    finding: FindingOut


class RisksOut(_Out):
    images: list[ImageOut]
    vulnerabilities: list[VulnerabilityOut]


class CheckSummaryOut(_Out):
    check: str
    title: str | None
    severity: SeverityWord
    failed: int
    passed: int
    failingTargets: int


class ComplianceResultOut(_Out):
    check: str
    title: str
    severity: SeverityWord
    status: Literal["passed", "failed", "skipped"]
    target: str
    scanId: int
    resource: str
    file: str | None
    line: int | None
    message: str | None
    suppressed: bool


class PackageUsage(_Out):
    name: str
    version: str
    images: int


class SearchOut(_Out):
    images: list[ImageOut]
    vulnerabilities: list[VulnerabilityOut]
    packages: list[PackageUsage]


class AuditOut(_Out):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    remote: str | None


class EventOut(_Out):
    id: int
    host: str
    kind: str
    occurredAt: dt.datetime
    receivedAt: dt.datetime
    sender: str
    payload: dict[str, Any]


class PageInfo(_Out):
    total: int
    limit: int
    offset: int


class ImagePage(PageInfo):
    items: list[ImageOut]


class HostPage(PageInfo):
    items: list[HostOut]


class ScanPage(PageInfo):
    items: list[ScanOut]


class FindingPage(PageInfo):
    items: list[FindingOut]


class PackagePage(PageInfo):
    items: list[PackageOut]


class VulnerabilityPage(PageInfo):
    items: list[VulnerabilityOut]


class ImpactPage(PageInfo):
    items: list[ImpactOut]


class CheckSummaryPage(PageInfo):
    items: list[CheckSummaryOut]


class ComplianceResultPage(PageInfo):
    items: list[ComplianceResultOut]


class AuditPage(PageInfo):
    items: list[AuditOut]


class EventPage(PageInfo):
    items: list[EventOut]


class PublishedOut(_Out):
    scanId: int
    kind: Literal["vulnerabilities", "compliance"]
    artifactKey: str
    findings: int
    url: str


class EventsAccepted(_Out):
    accepted: int


class UserOut(_Out):
    id: int
    username: str
    role: Role
    disabled: bool
    createdAt: dt.datetime
    updatedAt: dt.datetime


class UserList(_Out):
    items: list[UserOut]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class TokenOut(_Out):
    id: int
    name: str
    role: Role
    prefix: str
    createdBy: str
    createdAt: dt.datetime
    expiresAt: dt.datetime | None
    revoked: bool


class TokenList(_Out):
    items: list[TokenOut]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: Role
    expiresInDays: int | None = Field(default=None, ge=1, le=3650)


class TokenIssued(TokenOut):
    token: str = Field(description="The token itself; shown this once and never again.")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(_Out):
    username: str
    role: Role
    csrfToken: str = Field(description="Send as X-CSRF-Token with every unsafe request.")


class MeOut(_Out):
    kind: Literal["user", "token"]
    name: str
    role: Role
    permissions: list[str]


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keepScans: int = Field(ge=1, le=100_000)
    maxAgeDays: int | None = Field(ge=1, le=36_500)
    eventMaxAgeDays: int | None = Field(ge=1, le=36_500)


class PruneOut(_Out):
    scans: int
    events: int
    sessions: int


class Health(_Out):
    status: Literal["ok"]


class Readiness(_Out):
    status: Literal["ready", "not-ready"]
    database: bool
    schemaAtHead: bool
