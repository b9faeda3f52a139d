"""The Console's tables, as typed SQLAlchemy ORM models.

The schema is changed by migrations only (``migrations/versions``); these models must
match the head revision, which a test checks with Alembic's comparison.

Severities are stored as :class:`stockade.core.advisory.Severity` ranks (0 unknown …
5 critical) so lists sort and filter on an integer; the API turns them back into words.
Each image and host points at its latest scan and keeps that scan's severity counts, so
the image list is one indexed query however many findings are stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "ComplianceResult",
    "FindingRow",
    "Host",
    "Image",
    "ImageTag",
    "PackageRow",
    "RuntimeEvent",
    "Scan",
    "Session",
    "Setting",
    "User",
]

NAMING = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY is 64-bit and the rowid."""


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps in UTC, aware on the way out whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):  # SQLite's driver parses; never a string
            raise TypeError(f"not a timestamp: {value!r}")
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, to recognise it in a list."""
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Session(Base):
    """A web UI session: the cookie's SHA-256 and the CSRF token's SHA-256."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(160), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    remote: Mapped[str | None] = mapped_column(String(64))


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class _LatestCounts:
    """Severity counts of the active findings of the latest scan (see module docs)."""

    critical: Mapped[int] = mapped_column(Integer, default=0)
    high: Mapped[int] = mapped_column(Integer, default=0)
    medium: Mapped[int] = mapped_column(Integer, default=0)
    low: Mapped[int] = mapped_column(Integer, default=0)
    negligible: Mapped[int] = mapped_column(Integer, default=0)
    unknown: Mapped[int] = mapped_column(Integer, default=0)
    fixable: Mapped[int] = mapped_column(Integer, default=0)
    risk: Mapped[int] = mapped_column(BigInteger, default=0)
    """One number to sort by: critical outweighs any number of highs, and so on."""


class Image(_LatestCounts, Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(512), index=True)
    os: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_scanned: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    latest_scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scans.id", ondelete="SET NULL", use_alter=True), index=True
    )

    __table_args__ = (Index("ix_images_risk_id", "risk", "id"),)


class ImageTag(Base):
    __tablename__ = "image_tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(512), index=True)
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("image_id", "reference"),)


class Host(_LatestCounts, Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    os: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_scanned: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    latest_scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scans.id", ondelete="SET NULL", use_alter=True), index=True
    )


class Scan(Base):
    """One published result: a vulnerability scan or a compliance check of one target."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``vulnerabilities`` (``stockade scan``) or ``compliance`` (``stockade check``)."""
    artifact_key: Mapped[str] = mapped_column(String(600))
    """What retention groups history by: ``image:DIGEST``, ``host:NAME`` or ``artifact:NAME``."""
    artifact_name: Mapped[str] = mapped_column(String(512))
    artifact_type: Mapped[str] = mapped_column(String(32))
    artifact_digest: Mapped[str | None] = mapped_column(String(256))
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), index=True
    )
    os: Mapped[str | None] = mapped_column(String(128))
    scanned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    advisories_age: Mapped[str | None] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(160))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The published document less its findings, packages and results (kept in rows)."""

    __table_args__ = (
        Index("ix_scans_artifact_key_scanned_at", "artifact_key", "scanned_at"),
        Index("ix_scans_scanned_at", "scanned_at"),
    )


class PackageRow(Base):
    __tablename__ = "packages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(512))  # searched in package_summaries (0002)
    version: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32))
    purl: Mapped[str | None] = mapped_column(Text)
    licenses: Mapped[list[str]] = mapped_column(JSON)


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"))
    vuln_id: Mapped[str] = mapped_column(String(128))
    cve: Mapped[str | None] = mapped_column(String(64))
    aliases: Mapped[list[str]] = mapped_column(JSON)
    severity: Mapped[int] = mapped_column(SmallInteger)
    cvss_score: Mapped[float | None]
    package_name: Mapped[str] = mapped_column(String(512))
    package_type: Mapped[str] = mapped_column(String(32))
    purl: Mapped[str | None] = mapped_column(Text)
    installed_version: Mapped[str] = mapped_column(String(256))
    fixed_versions: Mapped[list[str]] = mapped_column(JSON)
    fix_state: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    suppression_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_findings_scan_id_severity", "scan_id", "severity"),
        Index("ix_findings_vuln_id_scan_id", "vuln_id", "scan_id"),
        Index("ix_findings_cve", "cve"),
    )


class ComplianceResult(Base):
    __tablename__ = "compliance_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    check_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_compliance_results_check_id_status", "check_id", "status"),)


class RuntimeEvent(Base):
    """An event a Defender pushed; the runtime work gives these their meaning."""

    __tablename__ = "runtime_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    host: Mapped[str] = mapped_column(String(256), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sender: Mapped[str] = mapped_column(String(160))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


# --- vulnerability summaries (migration 0002) ---


class VulnerabilitySummary(Base):
    """One vulnerability over every image's latest scan, kept up to date at publish.

    The ``images_*`` and ``fixable_*`` columns come in six thresholds, one per severity
    (``images`` and ``fixable`` are "unknown or worse", i.e. all): ``images_high`` counts
    the images whose latest scan has an active finding of this vulnerability at high or
    worse, ``fixable_high`` the active findings at high or worse that have a fix. So a
    list filtered by severity reads one row per vulnerability, never the findings.
    ``severity`` is the worst severity of those findings; ``cve`` a CVE id they name.
    A row goes when no image's latest scan has the vulnerability any more.
    """

    __tablename__ = "vulnerability_summaries"

    vuln_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    cve: Mapped[str | None] = mapped_column(String(64))
    search_key: Mapped[str] = mapped_column(String(200))
    """``vuln_id``, a unit separator and ``cve``, in lower case: what search compares."""
    severity: Mapped[int] = mapped_column(SmallInteger)
    images: Mapped[int] = mapped_column(Integer)
    images_negligible: Mapped[int] = mapped_column(Integer)
    images_low: Mapped[int] = mapped_column(Integer)
    images_medium: Mapped[int] = mapped_column(Integer)
    images_high: Mapped[int] = mapped_column(Integer)
    images_critical: Mapped[int] = mapped_column(Integer)
    fixable: Mapped[int] = mapped_column(Integer)
    fixable_negligible: Mapped[int] = mapped_column(Integer)
    fixable_low: Mapped[int] = mapped_column(Integer)
    fixable_medium: Mapped[int] = mapped_column(Integer)
    fixable_high: Mapped[int] = mapped_column(Integer)
    fixable_critical: Mapped[int] = mapped_column(Integer)


class PackageSummary(Base):
    """A package name and version, and how many images' latest scans list it."""

    __tablename__ = "package_summaries"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    version: Mapped[str] = mapped_column(String(256), primary_key=True)
    name_key: Mapped[str] = mapped_column(String(512))
    """The name in lower case: what search compares."""
    images: Mapped[int] = mapped_column(Integer)


class LatestCompliance(Base):
    """Each compliance target's latest check result (its highest scan id)."""

    __tablename__ = "latest_compliance"

    artifact_key: Mapped[str] = mapped_column(String(600), primary_key=True)
    scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scans.id", ondelete="CASCADE"), index=True
    )
    """None only inside the transaction that publishes the target's first result."""


Index(
    "ix_compliance_results_check_id_severity_id",
    ComplianceResult.check_id,
    ComplianceResult.severity,
    ComplianceResult.id,
)
"""A check's results in list order (worst, then newest), so a page reads only its rows."""


class CheckSummary(Base):
    """One compliance check over every target's latest result, kept up to date at publish."""

    __tablename__ = "check_summaries"

    check_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(SmallInteger)
    results: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    failing_targets: Mapped[int] = mapped_column(Integer)


# --- policies and collections (migration 0003) ---


class PolicyCollection(Base):
    """A named set of artifacts: image, host and namespace globs, labels (any one)."""

    __tablename__ = "policy_collections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    images: Mapped[list[str]] = mapped_column(JSON)
    hosts: Mapped[list[str]] = mapped_column(JSON)
    namespaces: Mapped[list[str]] = mapped_column(JSON)
    labels: Mapped[list[str]] = mapped_column(JSON)
    """``key=value`` patterns; the value may be a glob."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(160))


class PolicyRule(Base):
    """One ordered rule of the vulnerability or the compliance policy."""

    __tablename__ = "policy_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    """1 for the first rule of its kind; the first rule whose collections match wins."""
    description: Mapped[str] = mapped_column(String(1024), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    collections: Mapped[list[str]] = mapped_column(JSON)
    alert_severity: Mapped[int | None] = mapped_column(SmallInteger)
    block_severity: Mapped[int | None] = mapped_column(SmallInteger)
    only_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    count_suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    checks: Mapped[list[str]] = mapped_column(JSON)
    exceptions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(160))

    __table_args__ = (
        UniqueConstraint("kind", "name"),
        Index("ix_policy_rules_kind_position", "kind", "position"),
    )


class PolicyContext(Base):
    """What a publisher said about an artifact for collections: namespace and labels."""

    __tablename__ = "policy_contexts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    artifact_key: Mapped[str] = mapped_column(String(600), unique=True)
    namespace: Mapped[str | None] = mapped_column(String(253))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(160))


class PolicyFixSeen(Base):
    """When the Console first saw a fix for a vulnerability of a package (grace periods)."""

    __tablename__ = "policy_fix_seen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vuln_id: Mapped[str] = mapped_column(String(128))
    package_type: Mapped[str] = mapped_column(String(32))
    package_name: Mapped[str] = mapped_column(String(512))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("vuln_id", "package_type", "package_name"),)


class PolicyVerdict(Base):
    """The policy's verdict on one published scan or check result."""

    __tablename__ = "policy_verdicts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(8))
    """``pass``, ``alert`` or ``block``."""
    rule_name: Mapped[str | None] = mapped_column(String(64))
    collection: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column(SmallInteger)
    """The worst severity that crossed a threshold (0 when none did)."""
    evaluated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_policy_verdicts_outcome_evaluated_at", "outcome", "evaluated_at"),
        Index("ix_policy_verdicts_evaluated_at", "evaluated_at"),
    )


# --- alert channels, rules and outbox (migration 0004) ---


class AlertChannel(Base):
    """Where alerts go: a webhook, Slack, syslog or SMTP. ``secrets`` holds what the API
    never returns (URLs with tokens, passwords, HMAC secrets, private keys)."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    secrets: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AlertRule(Base):
    """Which events go to which channels, and how long a storm is gathered into one message."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    kinds: Mapped[list[str]] = mapped_column(JSON)
    """Glob patterns over the event kind (``policy.*.block``)."""
    min_severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    """Label name to glob (``!glob`` negates); all must match."""
    aggregate_seconds: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AlertRuleChannel(Base):
    __tablename__ = "alert_rule_channels"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AlertDelivery(Base):
    """The outbox: one message to one channel, gathering a rule's events until ``due_at``,
    then sent by whichever Console process claims it (retried with backoff)."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True
    )
    rule_name: Mapped[str] = mapped_column(String(128))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    """``collecting``, ``pending``, ``sending``, ``delivered`` or ``failed``."""
    event_count: Mapped[int] = mapped_column(Integer)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The first few events, as JSON."""
    kind_counts: Mapped[dict[str, int]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(16))
    """The most severe event's severity."""
    first_event_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_event_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_alert_deliveries_status_due_at", "status", "due_at"),
        Index("ix_alert_deliveries_rule_id_channel_id_status", "rule_id", "channel_id", "status"),
    )


# --- registries (migration 0005) ---


class Registry(Base):
    """A registry the Console scans: what to pick from it, how often, and who holds it."""

    __tablename__ = "registries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(512))
    """``https://host[:port]`` (``http://`` for a local registry only)."""
    repositories: Mapped[list[str]] = mapped_column(JSON)
    """Repositories to scan; empty: every repository the catalog lists."""
    include: Mapped[list[str]] = mapped_column(JSON)
    exclude: Mapped[list[str]] = mapped_column(JSON)
    tag_limit: Mapped[int] = mapped_column(Integer)
    interval_minutes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials: Mapped[str | None] = mapped_column(Text)
    """User name and password as one Fernet token (key in the data dir); never returned."""
    next_scan_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    advisory_version: Mapped[str | None] = mapped_column(String(64))
    """The advisory data version of the last completed run (a change queues a rescan)."""
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """While in the future, ``lease_owner`` (one Console process) is scanning it."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(160))


class RegistryScanRun(Base):
    """One scan of one registry: queued (on demand), running, completed or failed."""

    __tablename__ = "registry_scan_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))
    """``manual``, ``schedule`` or ``advisories``."""
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(160))
    queued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    worker: Mapped[str | None] = mapped_column(String(128))
    advisory_version: Mapped[str | None] = mapped_column(String(64))
    repositories: Mapped[int] = mapped_column(Integer, default=0)
    images_found: Mapped[int] = mapped_column(Integer, default=0)
    images_scanned: Mapped[int] = mapped_column(Integer, default=0)
    images_skipped: Mapped[int] = mapped_column(Integer, default=0)
    images_failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """``{"image": …, "error": …}`` for each image (or repository) that could not be done."""
    error: Mapped[str | None] = mapped_column(Text)
    """Why the run failed as a whole."""

    __table_args__ = (
        Index("ix_registry_scan_runs_registry_id_id", "registry_id", "id"),
        Index("ix_registry_scan_runs_status", "status"),
    )


class RegistryImage(Base):
    """A tag a registry scan picked, the manifest it named, and the scan stored for it."""

    __tablename__ = "registry_images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"))
    repository: Mapped[str] = mapped_column(String(256))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(256), index=True)
    """The manifest (or index) digest the tag named."""
    image_digest: Mapped[str | None] = mapped_column(String(256))
    """The image (config) digest: the Console's image key."""
    created: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    advisory_version: Mapped[str | None] = mapped_column(String(64))
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    scanned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("registry_id", "repository", "tag"),)


# --- defenders and login throttling (migration 0006) ---


class Defender(Base):
    """An enrolled Defender: one host, one token (role ``defender``) bound to it."""

    __tablename__ = "defenders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    """The host it protects; events it pushes must name this host."""
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL"), unique=True
    )
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    """The highest event sequence number stored from it (its resend point)."""
    version: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class DefenderEventSeq(Base):
    """Which sequence numbers of a Defender's events are stored: a resent event is
    recognised and not stored twice, even by another Console replica."""

    __tablename__ = "defender_event_seqs"

    defender_id: Mapped[int] = mapped_column(
        ForeignKey("defenders.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("runtime_events.id", ondelete="SET NULL")
    )


class LoginThrottle(Base):
    """Failed log-ins per user name and per client address, shared by all replicas."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """``user:NAME`` or ``addr:IP``."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
