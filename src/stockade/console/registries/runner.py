"""Running registry scans: claiming a registry, scanning its images, recording the run.

A run belongs to one Console process at a time. The process *claims* the registry by
writing a lease (``lease_owner``, ``lease_until``) in a write transaction that first
locks the candidate rows with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (another
process skips a registry being claimed instead of waiting for it) and, on SQLite, runs
under ``BEGIN IMMEDIATE`` (one writer at a time). While it scans, the holder renews the
lease after each step; a process that dies leaves a lease that expires, and the next
claim marks its run failed ("interrupted") and takes the registry over.

A registry is due when a scan was asked for (a queued run), when its interval came
round (``next_scan_at``), or when the advisory data changed since its last run. Within a
run an image (a manifest digest) is skipped when it was scanned before with the same
advisory data version; everything else is pulled, scanned with Stockade's own pipeline
(:mod:`.scanning`) and stored with :func:`~stockade.console.store.ingest.store_scan`,
exactly as ``POST /api/v1/scans`` stores a published scan (retention applied, publish
listeners told). Each stored image emits ``registry.scan.completed``; a run that fails
as a whole, and each image that cannot be scanned, emit ``registry.scan.failed``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from stockade.artifact.registry import RegistrySource
from stockade.console.context import ConsoleContext
from stockade.console.documents import ScanDocument
from stockade.console.events import ConsoleEvent, ResultPublished
from stockade.console.registries.credentials import CredentialBox
from stockade.console.registries.distribution import (
    Distribution,
    RegistryAddress,
    parse_registry_url,
)
from stockade.console.registries.model import (
    AdvisoryVersion,
    TaggedImage,
    event_severity,
    most_recent,
    select_repositories,
    worst_severity,
)
from stockade.console.registries.scanning import open_advisories, scan_image, version_of
from stockade.console.store import retention, settings
from stockade.console.store.ingest import KIND_VULNERABILITIES, store_scan
from stockade.console.store.models import Registry, RegistryImage, RegistryScanRun
from stockade.core.errors import StockadeError
from stockade.vulndb.store import AdvisoryStore

__all__ = [
    "DEFAULT_LEASE",
    "MAX_TAGS_RESOLVED",
    "Claim",
    "RegistryScanner",
    "RunOutcome",
    "worker_name",
]

_log = logging.getLogger("stockade.console.registries")

DEFAULT_LEASE = dt.timedelta(minutes=15)
MAX_TAGS_RESOLVED = 1000
"""Tags per repository whose image config is read to learn its age (the last ones the
registry lists); a repository with more has its other tags ignored."""
_MAX_ERRORS = 100
_MAX_ERROR_TEXT = 1000
SCHEDULER = "system:scheduler"


def worker_name() -> str:
    """This process's name in leases: host, pid and a random suffix."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLost(StockadeError):
    """Another process holds the registry now (this one's lease ran out)."""


class Interrupted(StockadeError):
    """This Console process is stopping."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A registry this process holds, and the run it is doing."""

    registry_id: int
    run_id: int
    trigger: str
    name: str
    url: str
    credentials: str | None
    repositories: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    tag_limit: int
    interval: dt.timedelta


@dataclass(slots=True)
class RunOutcome:
    run_id: int
    status: str = "running"
    repositories: int = 0
    images_found: int = 0
    images_scanned: int = 0
    images_skipped: int = 0
    images_failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    advisory: AdvisoryVersion | None = None
    scan_ids: list[int] = field(default_factory=list)
    quiet: bool = False
    """Failed for a reason of this process (stopping, lease lost): no event."""

    def note(self, image: str, error: str) -> None:
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append({"image": image[:512], "error": error[:_MAX_ERROR_TEXT]})


@dataclass(slots=True)
class _Chosen:
    """One manifest digest of one repository, with every chosen tag naming it."""

    repository: str
    digest: str
    tags: list[TaggedImage]
    source: RegistrySource
    image_digest: str | None


def _message(exc: StockadeError) -> str:
    return exc.diagnostics().replace("\n", " ")


class RegistryScanner:
    """Claims due registries and scans them; one per Console process (or per test)."""

    def __init__(
        self,
        context: ConsoleContext,
        *,
        advisories: Callable[[], AdvisoryStore] = open_advisories,
        worker: str | None = None,
        lease: dt.timedelta = DEFAULT_LEASE,
        timeout: float = 60.0,
    ) -> None:
        self.context = context
        self.store = context.store
        self.worker = worker or worker_name()
        self.lease = lease
        self.timeout = timeout
        self._open_advisories = advisories
        self.box = CredentialBox(context.config.data_dir)
        self.stopping = threading.Event()

    # -- choosing what to scan -----------------------------------------------------------

    def current_advisories(self) -> AdvisoryVersion | None:
        """The advisory data's version now, or None when it cannot be read."""
        try:
            with self._open_advisories() as advisories:
                return version_of(advisories)
        except StockadeError as exc:
            _log.warning("registry scans: cannot read the advisory data: %s", exc.message)
            return None

    def has_registries(self) -> bool:
        with self.store.read() as session:
            return session.scalar(select(func.count()).select_from(Registry)) != 0

    def run_due(self) -> list[RunOutcome]:
        """Claim and scan due registries, one after another, until none is left."""
        if not self.has_registries():
            return []
        version = self.current_advisories()
        done: list[RunOutcome] = []
        while not self.stopping.is_set():
            claim = self.claim(version)
            if claim is None:
                break
            done.append(self.execute(claim))
        return done

    def claim(self, version: AdvisoryVersion | None) -> Claim | None:
        """Take one due registry that no live lease holds, or None."""
        now = self.context.clock()
        with self.store.write() as session:
            queued = set(
                session.scalars(
                    select(RegistryScanRun.registry_id).where(RegistryScanRun.status == "queued")
                )
            )
            candidates = session.scalars(
                select(Registry)
                .where(or_(Registry.lease_until.is_(None), Registry.lease_until < now))
                .order_by(Registry.next_scan_at, Registry.id)
                .with_for_update(skip_locked=True)
            ).all()
            for registry in candidates:
                trigger = self._trigger(registry, queued, version, now)
                if trigger is None:
                    continue
                self._fail_interrupted(session, registry.id, now)
                run = self._start_run(session, registry, trigger, now)
                registry.lease_owner = self.worker
                registry.lease_until = now + self.lease
                return Claim(
                    registry_id=registry.id,
                    run_id=run.id,
                    trigger=run.trigger,
                    name=registry.name,
                    url=registry.url,
                    credentials=registry.credentials,
                    repositories=tuple(registry.repositories),
                    include=tuple(registry.include),
                    exclude=tuple(registry.exclude),
                    tag_limit=registry.tag_limit,
                    interval=dt.timedelta(minutes=registry.interval_minutes),
                )
        return None

    @staticmethod
    def _trigger(
        registry: Registry, queued: set[int], version: AdvisoryVersion | None, now: dt.datetime
    ) -> str | None:
        if registry.id in queued:
            return "manual"
        if not registry.enabled:
            return None
        if registry.next_scan_at is not None and registry.next_scan_at <= now:
            return "schedule"
        if (
            version is not None
            and registry.advisory_version is not None
            and registry.advisory_version != version.version
        ):
            return "advisories"
        return None

    def _fail_interrupted(self, session: Session, registry_id: int, now: dt.datetime) -> None:
        session.execute(
            update(RegistryScanRun)
            .where(RegistryScanRun.registry_id == registry_id, RegistryScanRun.status == "running")
            .values(
                status="failed",
                finished_at=now,
                error="interrupted: the Console process scanning this registry stopped "
                "before it finished (its lease ran out)",
            )
        )

    def _start_run(
        self, session: Session, registry: Registry, trigger: str, now: dt.datetime
    ) -> RegistryScanRun:
        run = None
        if trigger == "manual":
            run = session.scalars(
                select(RegistryScanRun)
                .where(
                    RegistryScanRun.registry_id == registry.id,
                    RegistryScanRun.status == "queued",
                )
                .order_by(RegistryScanRun.id)
                .limit(1)
            ).first()
        if run is None:
            run = RegistryScanRun(
                registry_id=registry.id,
                trigger=trigger,
                requested_by=SCHEDULER,
                queued_at=now,
                errors=[],
            )
            session.add(run)
        run.status = "running"
        run.started_at = now
        run.worker = self.worker
        session.flush()
        return run

    # -- the lease -----------------------------------------------------------------------

    def heartbeat(self, claim: Claim) -> None:
        """Renew the lease; raises :class:`LeaseLost` if another process has taken it,
        :class:`Interrupted` if this process is stopping."""
        if self.stopping.is_set():
            raise Interrupted("interrupted: this Console process is stopping")
        now = self.context.clock()
        with self.store.write() as session:
            renewed = session.execute(
                update(Registry)
                .where(Registry.id == claim.registry_id, Registry.lease_owner == self.worker)
                .values(lease_until=now + self.lease)
            )
            if not getattr(renewed, "rowcount", 0):
                raise LeaseLost(
                    "the lease on the registry was lost (this scan took longer than the "
                    "lease and another Console took over, or the registry was deleted)"
                )

    # -- one run -------------------------------------------------------------------------

    def execute(self, claim: Claim) -> RunOutcome:
        """Do the claimed run to its end and record it; never raises."""
        outcome = RunOutcome(run_id=claim.run_id)
        try:
            self.heartbeat(claim)  # a claim held too long may be another process's now
            with self._open_advisories() as advisories:
                outcome.advisory = version_of(advisories)
                self._record_version(claim, outcome.advisory)
                self._scan_registry(claim, advisories, outcome)
        except (LeaseLost, Interrupted) as exc:
            outcome.status = "failed"
            outcome.error = _message(exc)[:_MAX_ERROR_TEXT]
            outcome.quiet = True  # not the registry's fault: no alert
        except StockadeError as exc:
            outcome.status = "failed"
            outcome.error = _message(exc)[:_MAX_ERROR_TEXT]
        except Exception:
            _log.exception("registry scan of %s failed", claim.name)
            outcome.status = "failed"
            outcome.error = "internal error while scanning; see the Console's log"
        else:
            nothing_done = not (outcome.images_scanned or outcome.images_skipped)
            if outcome.errors and nothing_done:
                outcome.status = "failed"
                first = outcome.errors[0]
                outcome.error = f"nothing could be scanned: {first['image']}: {first['error']}"
            else:
                outcome.status = "completed"
        self._finish(claim, outcome)
        return outcome

    def _record_version(self, claim: Claim, version: AdvisoryVersion) -> None:
        # Noted at the start, so a failing registry is not re-queued on every poll for an
        # advisory change; each image keeps its own version, which decides rescans.
        with self.store.write() as session:
            session.execute(
                update(Registry)
                .where(Registry.id == claim.registry_id)
                .values(advisory_version=version.version)
            )
            session.execute(
                update(RegistryScanRun)
                .where(RegistryScanRun.id == claim.run_id)
                .values(advisory_version=version.version)
            )

    def _scan_registry(self, claim: Claim, advisories: AdvisoryStore, outcome: RunOutcome) -> None:
        address = parse_registry_url(claim.url)
        credentials = self.box.open(claim.credentials) if claim.credentials else None
        distribution = Distribution(address, credentials, timeout=self.timeout)
        listed = list(claim.repositories) if claim.repositories else distribution.catalog()
        repositories = select_repositories(listed, claim.include, claim.exclude)
        outcome.repositories = len(repositories)
        seen: dict[str, set[str]] = {}
        for repository in repositories:
            self.heartbeat(claim)
            chosen = self._choose(claim, distribution, repository, outcome)
            if chosen is None:
                continue
            seen[repository] = {t.tag for group in chosen for t in group.tags}
            for group in chosen:
                self.heartbeat(claim)
                self._scan_one(claim, address, advisories, group, outcome)
        self._forget_unseen(claim, repositories, seen)

    def _choose(
        self, claim: Claim, distribution: Distribution, repository: str, outcome: RunOutcome
    ) -> list[_Chosen] | None:
        """The repository's most recent tags, grouped by the manifest they name."""
        where = f"{distribution.address.host}/{repository}"
        try:
            tags = distribution.tags(repository)
        except StockadeError as exc:
            outcome.note(where, _message(exc))
            return None
        resolved: list[tuple[TaggedImage, RegistrySource, str | None]] = []
        for tag in tags[-MAX_TAGS_RESOLVED:]:
            source = distribution.source(repository, tag)
            try:
                info = source.info()
            except StockadeError as exc:
                outcome.images_failed += 1
                outcome.note(f"{where}:{tag}", _message(exc))
                continue
            digest = info.repo_digests[0].rpartition("@")[2] if info.repo_digests else ""
            tagged = TaggedImage(repository, tag, digest, _created(info.config))
            resolved.append((tagged, source, info.digest))
        chosen = {t.tag for t in most_recent([r[0] for r in resolved], claim.tag_limit)}
        groups: dict[str, _Chosen] = {}
        for tagged, source, image_digest in resolved:
            if tagged.tag not in chosen:
                continue
            group = groups.setdefault(
                tagged.digest, _Chosen(repository, tagged.digest, [], source, image_digest)
            )
            group.tags.append(tagged)
        outcome.images_found += len(groups)
        for group in groups.values():
            group.tags.sort(key=lambda t: t.tag)
        return list(groups.values())

    def _scan_one(
        self,
        claim: Claim,
        address: RegistryAddress,
        advisories: AdvisoryStore,
        group: _Chosen,
        outcome: RunOutcome,
    ) -> None:
        version = outcome.advisory.version if outcome.advisory else None
        references = [f"{address.host}/{group.repository}:{t.tag}" for t in group.tags]
        now = self.context.clock()
        with self.store.write() as session:
            earlier = session.scalars(
                select(RegistryImage)
                .where(
                    RegistryImage.digest == group.digest,
                    RegistryImage.advisory_version == version,
                    RegistryImage.scan_id.is_not(None),
                )
                .limit(1)
            ).first()
            if earlier is not None:
                self._remember(
                    session,
                    claim,
                    group,
                    scan_id=earlier.scan_id,
                    scanned_at=earlier.scanned_at,
                    version=version,
                    now=now,
                )
                outcome.images_skipped += 1
                return
        try:
            document = scan_image(
                group.source,
                advisories,
                tags=references,
                progress=lambda _done, _total: self.heartbeat(claim),
            )
        except (LeaseLost, Interrupted):
            raise
        except StockadeError as exc:
            outcome.images_failed += 1
            outcome.note(references[0], _message(exc))
            self.context.emit(self._image_failed(claim, group, references, _message(exc)))
            return
        now = self.context.clock()
        publisher = f"registry:{claim.name}"
        with self.store.write() as session:
            scan = store_scan(session, document, publisher=publisher, now=now)
            if self.context.config.prune_on_publish:
                policy = settings.load_retention(session)
                retention.prune(session, policy, now, artifact_key=scan.artifact_key)
            self._remember(
                session, claim, group, scan_id=scan.id, scanned_at=now, version=version, now=now
            )
            events = self.context.published(
                session,
                ResultPublished(
                    scan_id=scan.id,
                    kind=KIND_VULNERABILITIES,
                    artifact_key=scan.artifact_key,
                    artifact_name=scan.artifact_name,
                    published_at=now,
                    publisher=publisher,
                    summary=dict(scan.summary),
                ),
            )
            scan_id = scan.id
        outcome.images_scanned += 1
        outcome.scan_ids.append(scan_id)
        for event in events:
            self.context.emit(event)
        self.context.emit(self._image_scanned(claim, group, references, document, scan_id))

    def _remember(
        self,
        session: Session,
        claim: Claim,
        group: _Chosen,
        *,
        scan_id: int | None,
        scanned_at: dt.datetime | None,
        version: str | None,
        now: dt.datetime,
    ) -> None:
        for tagged in group.tags:
            row = session.scalars(
                select(RegistryImage).where(
                    RegistryImage.registry_id == claim.registry_id,
                    RegistryImage.repository == group.repository,
                    RegistryImage.tag == tagged.tag,
                )
            ).first()
            if row is None:
                row = RegistryImage(
                    registry_id=claim.registry_id, repository=group.repository, tag=tagged.tag
                )
                session.add(row)
            row.digest = group.digest
            row.image_digest = group.image_digest
            row.created = tagged.created
            row.advisory_version = version
            row.scan_id = scan_id
            row.scanned_at = scanned_at
            row.last_seen_at = now

    def _forget_unseen(
        self, claim: Claim, repositories: list[str], seen: dict[str, set[str]]
    ) -> None:
        """Drop tags no longer chosen: of repositories no longer selected, and of those
        listed in this run (a repository that could not be listed keeps its rows)."""
        with self.store.write() as session:
            rows = session.scalars(
                select(RegistryImage).where(RegistryImage.registry_id == claim.registry_id)
            ).all()
            selected = set(repositories)
            doomed = [
                row.id
                for row in rows
                if row.repository not in selected
                or (row.repository in seen and row.tag not in seen[row.repository])
            ]
            if doomed:
                session.execute(delete(RegistryImage).where(RegistryImage.id.in_(doomed)))

    def _finish(self, claim: Claim, outcome: RunOutcome) -> None:
        now = self.context.clock()
        with self.store.write() as session:
            run = session.get(RegistryScanRun, claim.run_id)
            exists = run is not None
            if run is not None:
                run.status = outcome.status
                run.finished_at = now
                run.repositories = outcome.repositories
                run.images_found = outcome.images_found
                run.images_scanned = outcome.images_scanned
                run.images_skipped = outcome.images_skipped
                run.images_failed = outcome.images_failed
                run.errors = list(outcome.errors)
                run.error = outcome.error
            values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
            if not outcome.quiet:  # an interrupted registry stays due for another process
                values["next_scan_at"] = now + claim.interval
            session.execute(
                update(Registry)
                .where(Registry.id == claim.registry_id, Registry.lease_owner == self.worker)
                .values(**values)
            )
        _log.info(
            "registry %s: run %d %s (%d scanned, %d unchanged, %d failed)",
            claim.name,
            claim.run_id,
            outcome.status,
            outcome.images_scanned,
            outcome.images_skipped,
            outcome.images_failed,
        )
        if outcome.status == "failed" and exists and not outcome.quiet:
            self.context.emit(self._run_failed(claim, outcome, now))

    # -- events --------------------------------------------------------------------------

    def _labels(self, claim: Claim, group: _Chosen | None = None) -> dict[str, str]:
        labels = {"registry": claim.name}
        if group is not None:
            labels["repository"] = group.repository
        return labels

    def _image_scanned(
        self,
        claim: Claim,
        group: _Chosen,
        references: list[str],
        document: ScanDocument,
        scan_id: int,
    ) -> ConsoleEvent:
        worst = worst_severity(document)
        active = [f for f in document.findings if not f.suppressed]
        counts = {
            word: sum(1 for f in active if f.severity == word)
            for word in ("critical", "high", "medium", "low", "negligible", "unknown")
        }
        title = (
            f"{references[0]}: {len(active)} vulnerabilities, worst {worst}"
            if worst
            else f"{references[0]}: no vulnerabilities"
        )
        return ConsoleEvent(
            kind="registry.scan.completed",
            severity=event_severity(worst),
            title=title,
            subject=references[0],
            at=self.context.clock(),
            detail={
                "registry": claim.name,
                "runId": claim.run_id,
                "scanId": scan_id,
                "digest": group.digest,
                "imageDigest": group.image_digest,
                "tags": references,
                "findings": len(active),
                "bySeverity": counts,
                "url": f"/api/v1/scans/{scan_id}",
            },
            labels={**self._labels(claim, group), "image": references[0]},
        )

    def _image_failed(
        self, claim: Claim, group: _Chosen, references: list[str], error: str
    ) -> ConsoleEvent:
        return ConsoleEvent(
            kind="registry.scan.failed",
            severity="medium",
            title=f"{references[0]}: the image could not be scanned",
            subject=references[0],
            at=self.context.clock(),
            detail={"registry": claim.name, "runId": claim.run_id, "error": error},
            labels={**self._labels(claim, group), "image": references[0]},
        )

    def _run_failed(self, claim: Claim, outcome: RunOutcome, now: dt.datetime) -> ConsoleEvent:
        return ConsoleEvent(
            kind="registry.scan.failed",
            severity="high",
            title=f"registry {claim.name}: the scan failed",
            subject=claim.name,
            at=now,
            detail={
                "registry": claim.name,
                "url": claim.url,
                "runId": claim.run_id,
                "trigger": claim.trigger,
                "error": outcome.error,
                "errors": outcome.errors[:10],
            },
            labels=self._labels(claim),
        )


def _created(config: Any) -> dt.datetime | None:
    text = config.get("created") if isinstance(config, dict) else None
    if not isinstance(text, str):
        return None
    try:
        # Go writes nanoseconds (…:25.209369731Z); Python reads at most microseconds.
        head, dot, rest = text.partition(".")
        if dot:
            digits = "".join(c for c in rest if c.isdigit())
            zone = rest[len(digits) :]
            text = f"{head}.{digits[:6]}{zone}"
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
